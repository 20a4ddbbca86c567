#!/usr/bin/env bash
# The full test suite: lint, then pytest on SQLite, then again on PostgreSQL.
# PostgreSQL: OCTET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test);
# skipped with a notice when none answers, except under CI=true where it must.
set -euo pipefail
cd "$(dirname "$0")"
EXTRAS="test" source scripts/venv.sh
export OCTET_DATA_DIR="${OCTET_DATA_DIR:-$(mktemp -d -t octet-test-XXXXXX)}"
PG_URL="${OCTET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

echo "== ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench

echo "== pytest on SQLite"
env -u DATABASE_URL .venv/bin/pytest -p no:cacheprovider "$@"

if .venv/bin/python - "$PG_URL" <<'PY' 2>/dev/null
import sys, psycopg
psycopg.connect(sys.argv[1].replace("postgres://", "postgresql://"), connect_timeout=3).close()
PY
then
  echo "== pytest on PostgreSQL"
  DATABASE_URL="$PG_URL" .venv/bin/pytest -p no:cacheprovider "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL at $PG_URL does not answer; CI requires it." >&2
  exit 1
else
  echo "== PostgreSQL at $PG_URL does not answer: PostgreSQL run skipped"
fi
