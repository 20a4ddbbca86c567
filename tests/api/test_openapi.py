"""The OpenAPI document: served, checked in, and the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from octet.api.schema import document, dumps

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "scripts/openapi.sh (python -m octet.api.schema > docs/openapi.json)"


def test_the_served_schema_is_the_checked_in_one(anonymous_api, db):
    response = anonymous_api.get("/openapi.json")  # public: no token needed to read it
    assert response.status_code == 200
    served = response.json()
    assert served == json.loads(CHECKED_IN.read_text()), f"run {REGENERATE}"
    assert dumps(document()) == CHECKED_IN.read_text(), f"run {REGENERATE}"


def test_the_regeneration_command_prints_it(tmp_path):
    env = os.environ | {"OCTET_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "octet.api.schema"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout
    assert out == CHECKED_IN.read_text(), f"run {REGENERATE}"


def test_every_operation_is_documented():
    schema = json.loads(CHECKED_IN.read_text())
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation.get("security") == [{"TokenAuth": []}], where
            assert {"401", "403", "429"} <= set(operation["responses"]), where
            if method == "post" and "tokens" not in path and "password" not in path:
                names = [p["name"] for p in operation.get("parameters", [])]
                if not path.endswith("/void"):
                    assert "Idempotency-Key" in names, where
