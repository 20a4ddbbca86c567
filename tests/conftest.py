"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
DATABASE_URL points at one (test.sh runs both)."""

from __future__ import annotations

import os

import pytest


def _sqlite_test_database_in_a_file() -> None:
    """On SQLite, put the test database in a file (under OCTET_DATA_DIR) instead of memory.

    Django's default SQLite test database is a shared-cache in-memory one. Several
    connections (the server's threads and the test's own) on it take table locks that
    fail at once with "database table is locked" instead of waiting: busy_timeout and WAL,
    which production relies on, do not apply there. A file behaves like production.
    Runs when this conftest is collected, before any test database exists; an explicit
    OCTET_TEST_DATABASE_NAME wins.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    test = database.setdefault("TEST", {})
    if not test.get("NAME"):
        test["NAME"] = str(settings.DATA_DIR / f"test-{os.getpid()}.sqlite3")


_sqlite_test_database_in_a_file()


CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(available: bool, reason: str) -> None:
    """Skip locally when a real tool is missing; under CI a missing tool is a failure."""
    if available:
        return
    if CI:
        pytest.fail(f"required tool missing under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def operator(db):
    from octet.core.models import Operator

    op = Operator.current()
    op.name = "Kaveri Fibernet"
    op.time_zone = "Asia/Kolkata"
    op.currency = "INR"
    op.state_code = "29"
    op.gstin = "29AAACK1234A1Z6"
    op.invoice_series = "KF/{fy}/"
    op.credit_note_series = "KFC/{fy}/"
    op.save()
    return op


@pytest.fixture
def gst18(db):
    from octet.catalog.services import tax_category_for

    return tax_category_for("998422", "18")


@pytest.fixture
def fiber100(operator, gst18):
    from octet.catalog import services
    from octet.catalog.models import GB

    return services.create_plan(
        code="FIBER100",
        name="Fiber 100",
        terms={
            "price": "999.00",
            "interval": "month",
            "alignment": "calendar",
            "fee_timing": "advance",
            "proration": "daily",
            "allowance_bytes": 500 * GB,
            "overage_price_per_gb": "10.00",
            "overage_rounding": "up",
            "down_kbps": 100_000,
            "up_kbps": 100_000,
            "tax_category": gst18,
        },
        actor="test",
    )


@pytest.fixture
def fiber300(operator, gst18):
    from octet.catalog import services
    from octet.catalog.models import GB

    return services.create_plan(
        code="FIBER300",
        name="Fiber 300",
        terms={
            "price": "1499.00",
            "interval": "month",
            "alignment": "calendar",
            "allowance_bytes": 1000 * GB,
            "overage_price_per_gb": "10.00",
            "down_kbps": 300_000,
            "up_kbps": 300_000,
            "tax_category": gst18,
        },
        actor="test",
    )


@pytest.fixture
def asha(operator):
    from octet.customers.services import create_customer

    return create_customer(
        {
            "name": "Asha Rao",
            "email": "asha@example.in",
            "phone": "98450 12345",
            "state_code": "29",
            "billing_address": "12 MG Road",
            "billing_city": "Bengaluru",
        },
        actor="test",
    )
