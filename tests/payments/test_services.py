"""Payments against a real database: allocation, credit, refusals, replays, concurrency."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from octet.billing import services as billing
from octet.billing.models import Invoice
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.notifications.models import Notification
from octet.payments import services as payments
from octet.payments.models import Allocation, Payment
from octet.subscriptions import services as subscriptions

IST = ZoneInfo("Asia/Kolkata")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.set_time(None)


@pytest.fixture
def billed(fiber100, asha):
    """Asha billed on 15 Jan (646.46) and 1 Feb (1178.82)."""
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    billing.run_billing(at(2026, 2, 1))
    return list(Invoice.objects.order_by("sequence_number"))


def allocations(payment: Payment) -> list[tuple[str, Decimal]]:
    return [(a.invoice.number, a.amount) for a in payment.allocations.order_by("id")]


def test_payment_settles_the_oldest_invoice_first(billed, asha):
    clock.set_time(at(2026, 2, 5, 10))
    payment = payments.record_payment(asha, "1000.00", "upi", reference="UPI-1", actor="clerk")
    assert allocations(payment) == [
        ("KF/25-26/000001", Decimal("646.460")),
        ("KF/25-26/000002", Decimal("353.540")),
    ]
    assert payments.balances(asha) == (
        billing.Money(Decimal("825.28"), "INR"),
        billing.Money(Decimal("0"), "INR"),
    )
    assert Notification.objects.filter(kind="payment_received").count() == 1


def test_payment_for_a_chosen_invoice_and_overpayment_kept_as_credit(billed, asha, fiber100):
    first, second = billed
    payment = payments.record_payment(asha, "1500.00", "cash", actor="clerk", to_invoice=second)
    assert allocations(payment) == [
        ("KF/25-26/000002", Decimal("1178.820")),
        ("KF/25-26/000001", Decimal("321.180")),
    ]
    extra = payments.record_payment(asha, "1000.00", "cheque", reference="CHQ 77", actor="clerk")
    due, credit = payments.balances(asha)
    assert (due.amount, credit.amount) == (Decimal("0.00"), Decimal("674.72"))
    # The next invoice (1 Mar, 1178.82) is settled from the credit when it is issued.
    billing.run_billing(at(2026, 3, 1))
    march = Invoice.objects.latest("sequence_number")
    assert [(a.payment_id, a.amount) for a in march.allocations.all()] == [
        (extra.pk, Decimal("674.720"))
    ]
    due, credit = payments.balances(asha)
    assert (due.amount, credit.amount) == (Decimal("504.10"), Decimal("0.00"))


def test_bad_payments_are_refused_and_change_nothing(billed, asha):
    first, _ = billed
    for amount, method, error in [
        ("-5", "cash", InvalidInput),
        ("0", "cash", InvalidInput),
        ("12.345", "cash", InvalidInput),
        ("ten", "cash", InvalidInput),
        ("10", "barter", InvalidInput),
    ]:
        with pytest.raises(error):
            payments.record_payment(asha, amount, method, actor="clerk")
    payments.record_payment(asha, "646.46", "upi", actor="clerk", to_invoice=first)
    with pytest.raises(Conflict, match="nothing left"):
        payments.record_payment(asha, "10", "upi", actor="clerk", to_invoice=first)
    assert Payment.objects.count() == 1


def test_a_replayed_gateway_payment_counts_once(billed, asha):
    one = payments.record_payment(
        asha, "646.46", "card", actor="razorpay", gateway="razorpay", gateway_payment_id="pay_1"
    )
    two = payments.record_payment(
        asha, "646.46", "card", actor="razorpay", gateway="razorpay", gateway_payment_id="pay_1"
    )
    assert one.pk == two.pk
    assert Payment.objects.count() == 1 and Allocation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_payments_at_once_never_settle_more_than_is_open(operator, gst18, fiber100, asha):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises whole transactions)")
    clock.set_time(at(2026, 1, 1, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    invoice = Invoice.objects.get()  # 1178.82
    errors = []

    def pay(n: int) -> None:
        try:
            payments.record_payment(asha, "1000.00", "upi", reference=f"U{n}", actor=f"c{n}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    settled = sum(a.amount for a in Allocation.objects.filter(invoice=invoice))
    assert settled == invoice.total
    due, credit = payments.balances(asha)
    assert (due.amount, credit.amount) == (Decimal("0.00"), Decimal("2821.18"))


def test_a_bounced_cheque_reopens_the_invoices_it_paid(billed, asha):
    first, second = billed
    cheque = payments.record_payment(asha, "1825.28", "cheque", reference="CHQ 1", actor="c")
    assert payments.balances(asha)[0].amount == Decimal("0.00")
    payments.reverse_payment(cheque, reason="cheque bounced", actor="clerk")
    cheque.refresh_from_db()
    assert cheque.status == "reversed"
    assert payments.balances(asha)[0].amount == Decimal("1825.28")
    with pytest.raises(Conflict):
        payments.reverse_payment(cheque, reason="again", actor="clerk")
    with pytest.raises(InvalidInput):
        payments.reverse_payment(cheque, reason=" ", actor="clerk")
    # Paid again in cash: settles both reopened invoices, oldest first.
    cash = payments.record_payment(asha, "1825.28", "cash", actor="c")
    assert allocations(cash) == [
        ("KF/25-26/000001", Decimal("646.460")),
        ("KF/25-26/000002", Decimal("1178.820")),
    ]
