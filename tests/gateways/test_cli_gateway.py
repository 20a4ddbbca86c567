"""``octet gateway``, run for real as a subprocess on its own SQLite file (the test
database is never touched). Secrets come from environment variables, never argv."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

SECRET = "sk_test_CliSecret0001"
WEBHOOK_SECRET = "whsec_CliWebhook0001"


def octet(tmp_path, *args, extra_env=None):
    env = dict(os.environ)
    for name in ("OCTET_SECRET_KEY", "OCTET_TEST_DATABASE_NAME", "OCTET_PUBLIC_URL"):
        env.pop(name, None)
    env.update(
        {
            "OCTET_DATA_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "octet.settings",
            "OCTET_PUBLIC_URL": "https://billing.example.net",
        }
    )
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "octet.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


def rows(tmp_path, sql):
    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        return conn.execute(sql).fetchall()


def test_add_list_disable(tmp_path):
    secrets = {"STRIPE_SECRET": SECRET, "STRIPE_WHSEC": WEBHOOK_SECRET}
    add = octet(
        tmp_path,
        "gateway",
        "add",
        "--provider",
        "stripe",
        "--name",
        "stripe",
        "--secret-env",
        "STRIPE_SECRET",
        "--webhook-secret-env",
        "STRIPE_WHSEC",
        extra_env=secrets,
    )
    assert add.returncode == 0, add.stderr
    assert "added gateway account stripe (Stripe)" in add.stdout
    assert "https://billing.example.net/gateways/stripe/webhook" in add.stdout
    listed = octet(tmp_path, "gateway", "list")
    assert listed.stdout.split("\t")[:4] == ["stripe", "stripe", "INR", "enabled"]
    disabled = octet(tmp_path, "gateway", "disable", "--name", "stripe")
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    assert "\tdisabled\t" in octet(tmp_path, "gateway", "list").stdout
    for result in (add, listed, disabled):
        assert SECRET not in result.stdout + result.stderr
        assert WEBHOOK_SECRET not in result.stdout + result.stderr
    dump = repr(rows(tmp_path, "SELECT * FROM gateways_gatewayaccount"))
    dump += repr(rows(tmp_path, "SELECT * FROM core_auditentry"))
    assert SECRET not in dump and WEBHOOK_SECRET not in dump
    assert rows(tmp_path, "SELECT actor, action FROM core_auditentry ORDER BY id") == [
        ("cli", "gateway.account_added"),
        ("cli", "gateway.account_disabled"),
    ]


def test_secrets_are_required_and_never_taken_from_argv(tmp_path):
    missing = octet(
        tmp_path, "gateway", "add", "--provider", "stripe", "--name", "s", "--secret-env", "NOPE"
    )
    assert missing.returncode == 2
    assert "--secret-env" in missing.stderr and "Traceback" not in missing.stderr
    argv = octet(tmp_path, "gateway", "add", "--provider", "stripe", "--name", "s", SECRET)
    assert argv.returncode == 2  # no positional place for a secret
    razorpay = octet(
        tmp_path,
        "gateway",
        "add",
        "--provider",
        "razorpay",
        "--name",
        "razorpay-main",
        "--secret-env",
        "S",
        "--webhook-secret-env",
        "W",
        extra_env={"S": "x", "W": "y"},
    )
    assert razorpay.returncode == 2 and "key id" in razorpay.stderr
    unknown = octet(tmp_path, "gateway", "disable", "--name", "nosuch")
    assert unknown.returncode == 2 and "no gateway account" in unknown.stderr
