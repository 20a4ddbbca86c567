"""Regressions found in review: each scenario once let money or service go wrong."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from octet.billing import services as billing
from octet.billing.models import Invoice
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.dunning import services as dunning
from octet.payments import services as payments
from octet.payments.models import Payment
from octet.subscriptions import services as subscriptions
from octet.subscriptions.models import Subscription

IST = ZoneInfo("Asia/Kolkata")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.set_time(None)


@pytest.fixture
def billed(fiber100, asha):
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    billing.run_billing(at(2026, 2, 1))
    return list(Invoice.objects.order_by("sequence_number"))


def test_a_cheque_whose_money_was_refunded_cannot_bounce(asha, operator):
    clock.set_time(at(2026, 1, 10, 9))
    cheque = payments.record_payment(asha, "1000.00", "cheque", actor="clerk")
    payments.record_refund(asha, "1000.00", method="cash", actor="clerk", reason="asked back")
    with pytest.raises(Conflict, match="was refunded"):
        payments.reverse_payment(cheque, reason="cheque bounced", actor="clerk")
    assert Payment.objects.get().status == "received"
    payments.check_ledger([asha])


def test_a_bounced_cheque_brings_dunning_back(fiber100, asha, operator):
    clock.set_time(at(2026, 1, 1, 8))
    cheque = payments.record_payment(asha, "1178.82", "cheque", actor="clerk")
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    assert payments.balances(asha)[0].is_zero()  # settled at issue by the cheque
    clock.set_time(at(2026, 1, 20, 10))
    payments.reverse_payment(cheque, reason="cheque bounced", actor="clerk")
    # Due 15 Jan, suspension 22 Jan (default policy): it runs at its time.
    clock.set_time(at(2026, 1, 22, 1))
    dunning.run_dunning(at(2026, 1, 22, 1))
    assert Subscription.objects.get().state == "suspended"


def test_a_written_off_invoice_cannot_be_credited_again(billed, asha):
    first, second = billed
    payments.write_off(first, actor="clerk", reason="bad debt")
    with pytest.raises(Conflict, match="left to credit"):
        billing.issue_credit_note(first, "646.46", reason="goodwill", actor="clerk")
    due, _ = payments.balances(asha)
    assert due.amount == second.total
    payments.check_ledger([asha])


def test_amounts_too_large_for_the_books_are_refused(asha, operator):
    with pytest.raises(InvalidInput, match="too large"):
        payments.record_payment(asha, "10000000000000000", "cash", actor="clerk")
    assert not Payment.objects.exists()


def test_suspension_on_the_due_date_itself_is_refused(operator):
    with pytest.raises(InvalidInput, match="from 1 to 365"):
        dunning.set_policy("x", {"suspend_days_after_due": 0}, actor="admin")


@pytest.mark.django_db(transaction=True)
def test_an_invoice_and_a_payment_at_once_settle_each_other(operator, gst18, fiber100, asha):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises whole transactions)")
    clock.set_time(at(2026, 1, 1, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    payments.record_payment(asha, "1178.82", "cash", actor="clerk")  # the first invoice
    clock.set_time(at(2026, 2, 1, 0, 1))
    errors = []

    def bill() -> None:
        try:
            billing.run_billing(at(2026, 2, 1, 0, 1), workers=1)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def pay() -> None:
        try:
            payments.record_payment(asha, "1178.82", "upi", actor="clerk")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=bill), threading.Thread(target=pay)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    due, credit = payments.balances(asha)
    assert due.is_zero() and credit.is_zero(), (due, credit)
    payments.check_ledger([asha])
