#!/usr/bin/env bash
# Regenerate docs/openapi.json from the code (tests/api/test_openapi.py checks it is current).
set -euo pipefail
cd "$(dirname "$0")/.."
OCTET_DATA_DIR="${OCTET_DATA_DIR:-$(mktemp -d -t octet-openapi-XXXXXX)}" \
  .venv/bin/python -m octet.api.schema > docs/openapi.json.new
mv docs/openapi.json.new docs/openapi.json
echo "docs/openapi.json regenerated"
