"""``octet vouchers`` run for real as a subprocess, on the demo ISP in its own SQLite file."""

from __future__ import annotations

import csv
import os
import sqlite3
import stat
import subprocess
import sys

import pytest


def octet(tmp_path, *args, extra_env=None, stdin_text=None):
    env = dict(os.environ)
    for name in ("OCTET_SECRET_KEY", "OCTET_TEST_DATABASE_NAME"):
        env.pop(name, None)
    env.update(
        OCTET_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        DJANGO_SETTINGS_MODULE="octet.settings",
        **(extra_env or {}),
    )
    return subprocess.run(
        [sys.executable, "-m", "octet.cli", *args],
        env=env,
        input=stdin_text,
        stdin=None if stdin_text is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


def query(tmp_path, sql: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def demo(tmp_path):
    result = octet(tmp_path, "demo", "--customers", "12")
    assert result.returncode == 0, result.stderr
    return tmp_path


def air30_accounts(tmp_path) -> list[str]:
    return [
        row[0]
        for row in query(
            tmp_path,
            "SELECT c.account_number FROM subscriptions_subscription s "
            "JOIN customers_customer c ON c.id = s.customer_id "
            "JOIN catalog_planversion v ON v.id = s.plan_version_id "
            "JOIN catalog_plan p ON p.id = v.plan_id "
            "WHERE p.code = 'AIR30' AND s.state != 'terminated' ORDER BY c.id",
        )
    ]


def test_generate_sell_redeem_on_the_demo(demo):
    generate = [
        "vouchers", "generate", "--count", "4", "--value", "529.82", "--plan", "AIR30",
        "--valid-until", "2099-12-31", "--csv", "b1.csv", "--pdf", "b1.pdf",
    ]  # fmt: skip
    result = octet(demo, *generate)
    assert result.returncode == 0, result.stderr
    assert "batch B0001: 4 AIR30 recharge vouchers of 529.82 INR" in result.stdout
    for name in ("b1.csv", "b1.pdf"):
        assert stat.S_IMODE((demo / name).stat().st_mode) == 0o600
    rows = list(csv.DictReader((demo / "b1.csv").open()))
    assert [r["serial"] for r in rows] == [f"B0001-00000{n}" for n in range(1, 5)]
    codes = [r["code"] for r in rows]
    assert (demo / "b1.pdf").read_bytes().startswith(b"%PDF")
    # Never over an existing file, and then no batch is created.
    again = octet(demo, *generate)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert query(demo, "SELECT count(*) FROM vouchers_voucherbatch") == [(1,)]

    account = air30_accounts(demo)[0]
    unsold = octet(demo, "vouchers", "redeem", account, "--code-env", "VC",
                   extra_env={"VC": codes[0]})  # fmt: skip
    assert unsold.returncode == 2 and "not activated yet" in unsold.stderr

    sold = octet(demo, "vouchers", "sell", "B0001", "--method", "cash", "--to", "Ganesh Mobiles")
    assert sold.returncode == 0, sold.stderr
    assert "batch B0001 sold to Ganesh Mobiles by cash" in sold.stdout

    by_env = octet(demo, "vouchers", "redeem", account, "--code-env", "VC",
                   extra_env={"VC": codes[0]})  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    assert "voucher B0001-000001 redeemed" in by_env.stdout
    assert "recharged" in by_env.stdout and "paying invoice" in by_env.stdout
    by_stdin = octet(demo, "vouchers", "redeem", account, stdin_text=codes[1].lower() + "\n")
    assert by_stdin.returncode == 0, by_stdin.stderr
    used = octet(demo, "vouchers", "redeem", account, stdin_text=codes[0] + "\n")
    assert used.returncode == 2 and "already used" in used.stderr
    empty = octet(demo, "vouchers", "redeem", account, "--code-env", "NOTSET")
    assert empty.returncode == 2 and "never on the command line" in empty.stderr

    void = octet(demo, "vouchers", "void", "B0001-000004", "--reason", "torn")
    assert void.returncode == 0 and "voucher B0001-000004 voided" in void.stdout
    listing = octet(demo, "vouchers", "list")
    assert "4 vouchers: 1 unused, 2 redeemed, 1 void" in listing.stdout

    payments = query(demo, "SELECT method, amount, reference FROM payments_payment ORDER BY id")
    assert payments == [("voucher", 529.82, "B0001-000001"), ("voucher", 529.82, "B0001-000002")]
    # The codes never appear in any output, log line or audit entry.
    everything = "".join(
        r.stdout + r.stderr for r in [result, again, unsold, sold, by_env, by_stdin, used, listing]
    )
    everything += repr(query(demo, "SELECT * FROM core_auditentry"))
    for code in codes:
        assert code not in everything and code.replace("-", "") not in everything


def test_bad_generate_arguments_are_refused(demo):
    for args, message in [
        (["--count", "2", "--value", "100", "--plan", "FIBER100"], "no plan"),
        (["--count", "0", "--value", "100"], "1 to 100000"),
        (["--count", "2", "--value", "-1"], "positive"),
    ]:
        result = octet(demo, "vouchers", "generate", *args, "--valid-until", "2099-01-01",
                       "--csv", "x.csv")  # fmt: skip
        assert result.returncode == 2, result.stdout
        assert message in result.stderr and "Traceback" not in result.stderr
        assert not (demo / "x.csv").exists()
    same = octet(demo, "vouchers", "generate", "--count", "1", "--value", "1",
                 "--valid-until", "2099-01-01", "--csv", "x", "--pdf", "x")  # fmt: skip
    assert same.returncode == 2 and "different files" in same.stderr
    assert query(demo, "SELECT count(*) FROM vouchers_voucherbatch") == [(0,)]
