"""The ``octet`` console command, run for real as a subprocess.

Each run gets its own data folder and SQLite file under tmp_path, so the test database
(SQLite or PostgreSQL) is never touched.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SCENARIOS = Path(__file__).parent / "scenarios"


def octet(tmp_path, *args, extra_env=None, stdin=subprocess.DEVNULL, timeout=300):
    env = dict(os.environ)
    for name in ("OCTET_SECRET_KEY", "OCTET_TEST_DATABASE_NAME", "ADMIN_PASSWORD"):
        env.pop(name, None)
    env.update(
        {
            "OCTET_DATA_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "octet.settings",
        }
    )
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "octet.cli", *args],
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )


# -- help ------------------------------------------------------------------------------------


def test_help_simulate(tmp_path):
    result = octet(tmp_path, "help", "simulate")
    assert result.returncode == 0, result.stderr
    assert "scenario" in result.stdout
    assert "usage: octet simulate" in result.stdout


def test_help_with_an_unknown_topic_is_refused(tmp_path):
    result = octet(tmp_path, "help", "frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# -- simulate --------------------------------------------------------------------------------


def test_simulate_lifecycle_scenario(tmp_path):
    result = octet(tmp_path, "simulate", str(SCENARIOS / "02-lifecycle.yaml"))
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    expected = json.loads((SCENARIOS / "02-lifecycle.expected.json").read_text())
    assert output == expected
    # The run used its own temporary database, not the one named in DATABASE_URL.
    assert not (tmp_path / "x.sqlite3").exists()


def _lifecycle():
    return yaml.safe_load((SCENARIOS / "02-lifecycle.yaml").read_text())


def _broken_negative_price(s):
    s["plans"][0]["price"] = "-999.00"


def _broken_float_amount(s):
    s["plans"][1]["price"] = 599.0


def _broken_float_payment(s):
    s["events"].insert(
        1,
        {
            "at": "2026-01-15T10:00:00+05:30",
            "payment": {"customer": "asha", "amount": 646.46, "method": "upi"},
        },
    )


def _broken_unknown_customer(s):
    s["events"][2]["suspend"]["customer"] = "nobody"


def _broken_unknown_top_level(s):
    s["invoices"] = []


def _broken_gstin(s):
    s["operator"]["tax"]["gstin"] = "29AAACK1234A1Z7"


def _broken_order(s):
    s["events"][0], s["events"][1] = s["events"][1], s["events"][0]


def _broken_naive_time(s):
    s["events"][0]["at"] = "2026-01-15T09:00:00"


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(_broken_negative_price, ["plans[0]", "price cannot be negative"], id="price"),
        pytest.param(_broken_float_amount, ["plans[1].price", "float"], id="float-price"),
        pytest.param(_broken_float_payment, ["events[1].payment.amount", "float"], id="float-pay"),
        pytest.param(
            _broken_unknown_customer,
            ["events[2].suspend.customer", "unknown customer 'nobody'"],
            id="unknown-customer",
        ),
        pytest.param(_broken_unknown_top_level, ["invoices", "unknown field"], id="top-level"),
        pytest.param(_broken_gstin, ["operator.tax", "GSTIN", "check digit"], id="gstin"),
        pytest.param(_broken_order, ["events[1].at", "time order"], id="order"),
        pytest.param(_broken_naive_time, ["events[0]", "UTC offset"], id="naive-time"),
    ],
)
def test_malformed_scenario_is_refused(tmp_path, breakage, expected):
    scenario = _lifecycle()
    breakage(scenario)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    result = octet(tmp_path, "simulate", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("octet: ")
    assert str(path) in result.stderr
    for text in expected:
        assert text in result.stderr
    assert "Traceback" not in result.stderr


def test_not_yaml_at_all(tmp_path):
    path = tmp_path / "garbage.yaml"
    path.write_text("operator: {name: [unclosed\n\t- ]: :\n")
    result = octet(tmp_path, "simulate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "is not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n")
    result = octet(tmp_path, "simulate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "a scenario is a mapping" in result.stderr


def test_missing_scenario_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    result = octet(tmp_path, "simulate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"cannot read {path}" in result.stderr
    assert "Traceback" not in result.stderr


# -- createadmin -----------------------------------------------------------------------------


def _users(tmp_path):
    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        return conn.execute(
            "SELECT username, is_staff, is_superuser, password FROM auth_user"
        ).fetchall()


@pytest.fixture
def migrated(tmp_path):
    result = octet(tmp_path, "migrate", "--quiet")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_createadmin_without_a_terminal_or_password_env(migrated):
    result = octet(migrated, "createadmin", "meera")
    assert result.returncode == 2
    assert "--password-env" in result.stderr
    assert "no terminal" in result.stderr
    assert _users(migrated) == []


def test_createadmin_with_an_empty_password_env_is_refused(migrated):
    result = octet(migrated, "createadmin", "meera", "--password-env", "ADMIN_PASSWORD")
    assert result.returncode == 2
    assert "--password-env" in result.stderr
    assert _users(migrated) == []


def test_createadmin_with_password_env(tmp_path):
    # On a fresh data folder: createadmin creates the schema first, like demo and serve.
    password = "Kaveri-Fibre-2026!"
    result = octet(
        tmp_path,
        "createadmin",
        "meera",
        "--email",
        "meera@example.in",
        "--password-env",
        "ADMIN_PASSWORD",
        extra_env={"ADMIN_PASSWORD": password},
    )
    assert result.returncode == 0, result.stderr
    assert "created staff superuser meera" in result.stdout
    assert password not in result.stdout + result.stderr
    [(username, is_staff, is_superuser, stored)] = _users(tmp_path)
    assert (username, is_staff, is_superuser) == ("meera", 1, 1)
    assert stored.startswith("argon2$")
    assert password not in stored
    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        actions = conn.execute("SELECT actor, action FROM core_auditentry").fetchall()
    assert actions == [("cli", "staff.created")]

    again = octet(
        tmp_path,
        "createadmin",
        "meera",
        "--password-env",
        "ADMIN_PASSWORD",
        extra_env={"ADMIN_PASSWORD": password},
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr


@pytest.mark.parametrize("weak", ["password", "12345678", "short1"])
def test_createadmin_with_a_weak_password(migrated, weak):
    result = octet(
        migrated,
        "createadmin",
        "meera",
        "--password-env",
        "ADMIN_PASSWORD",
        extra_env={"ADMIN_PASSWORD": weak},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("octet: password: ")
    assert "Traceback" not in result.stderr
    assert _users(migrated) == []


# -- demo ------------------------------------------------------------------------------------


def test_demo_loads_the_requested_number_of_customers(tmp_path):
    result = octet(tmp_path, "demo", "--customers", "30")
    assert result.returncode == 0, result.stderr
    assert "Loaded demo ISP" in result.stdout
    assert "30 customers" in result.stdout
    password = (tmp_path / "demo-admin-password").read_text().strip()
    assert password in result.stdout

    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        customers = conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
        subscriptions = conn.execute("SELECT count(*) FROM subscriptions_subscription").fetchone()
        accounts = [row[0] for row in conn.execute("SELECT account_number FROM customers_customer")]
        plans = conn.execute("SELECT count(*) FROM catalog_plan").fetchone()[0]
        admins = conn.execute("SELECT username FROM auth_user WHERE is_superuser").fetchall()
    assert customers == 30
    assert subscriptions[0] == 30
    assert sorted(accounts) == [f"DAF{n:06d}" for n in range(1, 31)]
    assert plans == 5
    assert admins == [("admin",)]

    # A second run only reports what is there.
    again = octet(tmp_path, "demo", "--customers", "30")
    assert again.returncode == 0, again.stderr
    assert "Already loaded" in again.stdout
    assert "30 customers" in again.stdout


def test_bill_and_pay_on_the_demo(tmp_path):
    assert octet(tmp_path, "demo", "--customers", "12").returncode == 0
    result = octet(tmp_path, "bill", "--all")
    assert result.returncode == 0, result.stderr
    assert "0 invoices" in result.stdout  # the demo is billed up to today already
    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        account, number = conn.execute(
            "SELECT c.account_number, i.number FROM billing_invoice i "
            "JOIN customers_customer c ON c.id = i.customer_id ORDER BY i.id LIMIT 1"
        ).fetchone()
    paid = octet(tmp_path, "pay", account, "1.00", "--method", "upi", "--reference", "UTR9")
    assert paid.returncode == 0, paid.stderr
    assert f"settled: {number} 1.00" in paid.stdout
    for bad in (["-5"], ["1.001"], ["ten"]):
        refused = octet(tmp_path, "pay", account, *bad, "--method", "cash")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
    unknown = octet(tmp_path, "pay", "NOBODY", "5", "--method", "cash")
    assert unknown.returncode == 2 and "no customer" in unknown.stderr
    assert octet(tmp_path, "bill", "--as-of", "yesterday").returncode == 2


def test_refund_write_off_ledger_and_settlement_commands(tmp_path):
    assert octet(tmp_path, "demo", "--customers", "12").returncode == 0
    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        account, number, total = conn.execute(
            "SELECT c.account_number, i.number, i.total FROM billing_invoice i "
            "JOIN customers_customer c ON c.id = i.customer_id "
            "WHERE i.kind = 'invoice' ORDER BY i.id LIMIT 1"
        ).fetchone()
    paid = octet(tmp_path, "pay", account, "100000.00", "--method", "cash")
    assert paid.returncode == 0, paid.stderr
    assert "receipt RCPT/" in paid.stdout
    too_much = octet(tmp_path, "refund", account, "999999", "--method", "cash", "--reason", "x")
    assert too_much.returncode == 2 and "cannot be refunded" in too_much.stderr
    refund = octet(tmp_path, "refund", account, "10.00", "--method", "cash", "--reason", "asked")
    assert refund.returncode == 0, refund.stderr
    assert "refund" in refund.stdout and "10.00" in refund.stdout
    paid_already = octet(tmp_path, "write-off", number, "--reason", "gone")
    assert paid_already.returncode == 2 and "nothing left" in paid_already.stderr
    assert octet(tmp_path, "write-off", "NOPE", "--reason", "x").returncode == 2
    check = octet(tmp_path, "ledger", "check")
    assert check.returncode == 0, check.stderr
    trial = octet(tmp_path, "ledger", "trial-balance")
    assert trial.returncode == 0 and "receivable" in trial.stdout and "total" in trial.stdout
    assert octet(tmp_path, "ledger", "trial-balance", "--until", "2026-01-01").returncode == 2
    missing = octet(tmp_path, "settlement", "import", str(tmp_path / "no.csv"), "--gateway", "x")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    report = tmp_path / "s.csv"
    report.write_text("settlement_id,settled_on,type,id,amount,fee\ns1,2026-02-01,payment,p,5,0\n")
    unmatched = octet(tmp_path, "settlement", "import", str(report), "--gateway", "razorpay")
    assert unmatched.returncode == 2 and "not recorded in Octet" in unmatched.stderr
    assert "Traceback" not in unmatched.stderr + missing.stderr


def test_promise_and_dunning_policy_commands(tmp_path):
    assert octet(tmp_path, "demo", "--customers", "12").returncode == 0
    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        (account,) = conn.execute(
            "SELECT account_number FROM customers_customer ORDER BY id LIMIT 1"
        ).fetchone()
    bad_date = octet(tmp_path, "promise", account, "--until", "soon", "--reason", "salary")
    assert bad_date.returncode == 2 and "not a date" in bad_date.stderr
    past = octet(tmp_path, "promise", account, "--until", "2001-01-01", "--reason", "x")
    assert past.returncode == 2 and "past" in past.stderr
    ok = octet(tmp_path, "dunning-policy", "soho", '{"suspend_days_after_due": 10}')
    assert ok.returncode == 0, ok.stderr
    wrong = octet(tmp_path, "dunning-policy", "soho", '{"suspend_days_after_due": -1}')
    assert wrong.returncode == 2 and "from 1 to 365" in wrong.stderr
    not_json = octet(tmp_path, "dunning-policy", "soho", "{suspend")
    assert not_json.returncode == 2 and "not JSON" in not_json.stderr
    assert "Traceback" not in bad_date.stderr + wrong.stderr + not_json.stderr
