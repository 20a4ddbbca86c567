"""Fixtures for the voucher tests: a prepaid plan, a clock, batches generated and sold."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from octet.core import clock

IST = ZoneInfo("Asia/Kolkata")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture(autouse=True)
def _clock():
    clock.set_time(at(2026, 1, 10, 10))
    yield
    clock.set_time(None)


@pytest.fixture
def air30(operator, gst18):
    """A prepaid plan: 499.00 + 18% GST = 588.82 for 30 days."""
    from octet.catalog import services
    from octet.catalog.models import GB, PlanKind

    return services.create_plan(
        code="AIR30",
        name="AirFiber Prepaid 30 days",
        kind=PlanKind.PREPAID,
        terms={
            "price": "499.00",
            "interval": "month",
            "alignment": "anniversary",
            "prepaid_validity_days": 30,
            "proration": "none",
            "allowance_bytes": 200 * GB,
            "down_kbps": 30_000,
            "up_kbps": 10_000,
            "tax_category": gst18,
        },
        actor="test",
    )


@pytest.fixture
def ravi(operator):
    from octet.customers.services import create_customer

    return create_customer(
        {"name": "Ravi Kumar", "phone": "98450 54321", "state_code": "29"}, actor="test"
    )


@pytest.fixture
def topups(operator):
    """Ten sold top-up vouchers of 500.00: (generated batch, plain codes)."""
    from octet.vouchers import services

    generated = services.generate_batch(
        value="500.00", count=10, valid_until=date(2026, 6, 30), actor="stock"
    )
    services.sell_batch(generated.batch, method="cash", sold_to="Sri Ganesh Mobiles", actor="desk")
    return generated


@pytest.fixture
def recharges(air30):
    """Five sold AIR30 recharge vouchers of 588.82."""
    from octet.vouchers import services

    generated = services.generate_batch(
        value="588.82", count=5, valid_until=date(2026, 6, 30), plan="AIR30", actor="stock"
    )
    services.sell_batch(generated.batch, method="bank_transfer", actor="desk")
    return generated
