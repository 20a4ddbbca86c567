#!/usr/bin/env bash
# One command: install Octet, load the demo ISP on the embedded SQLite database, and serve it.
set -euo pipefail
cd "$(dirname "$0")"
EXTRAS="" source scripts/venv.sh
.venv/bin/octet demo
exec .venv/bin/octet serve "$@"
