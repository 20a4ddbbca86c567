"""Gateway fixtures: local fake provider APIs, accounts pointing at them, billed invoices.

Nothing here reaches the network: every account's api_base is a fake on 127.0.0.1.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fakes.razorpay_api import FakeRazorpay
from fakes.stripe_api import FakeStripe
from octet.core import clock

IST = ZoneInfo("Asia/Kolkata")
RAZORPAY_WEBHOOK_SECRET = "whsec_razorpay_octet_test"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def inr(amount: str) -> Decimal:
    return Decimal(amount)


@pytest.fixture(autouse=True)
def _real_clock_after():
    yield
    clock.set_time(None)


@pytest.fixture
def stripe_fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture
def razorpay_fake():
    with FakeRazorpay() as server:
        yield server


@pytest.fixture
def stripe_account(operator, stripe_fake):
    from octet.gateways import services

    return services.add_account(
        provider="stripe",
        name="stripe",
        secret_key=stripe_fake.secret_key,
        webhook_secret=stripe_fake.webhook_secret,
        api_base=stripe_fake.url,
        actor="test",
    )


@pytest.fixture
def razorpay_account(operator, razorpay_fake):
    from octet.gateways import services

    return services.add_account(
        provider="razorpay",
        name="razorpay-main",
        key_id=razorpay_fake.key_id,
        secret_key=razorpay_fake.key_secret,
        webhook_secret=RAZORPAY_WEBHOOK_SECRET,
        api_base=razorpay_fake.url,
        actor="test",
    )


@pytest.fixture
def invoice(fiber100, asha):
    """Asha subscribed on 15 Jan 2026: her first invoice, 646.46 INR, issued at once."""
    from octet.billing.models import Invoice
    from octet.subscriptions import services as subscriptions

    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    return Invoice.objects.get(kind="invoice")
