"""Dunning against a real database, driven by the scheduled jobs on a moving clock."""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from octet import jobs
from octet.billing.models import Invoice, OneOffCharge
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.dunning import services as dunning
from octet.dunning.models import DunningStep, PromiseToPay
from octet.notifications.models import Notification
from octet.payments import services as payments
from octet.subscriptions import services as subscriptions
from octet.subscriptions.models import StateChange, Subscription

IST = ZoneInfo("Asia/Kolkata")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.set_time(None)


def advance(moment: datetime) -> None:
    """What the worker (and the simulation) does: every job due, each at its time."""
    jobs.run_due(moment, on_each=clock.set_time)
    clock.set_time(moment)


def kinds(customer) -> list[tuple[str, str]]:
    return [
        (n.kind, n.at.astimezone(IST).strftime("%d %b %H:%M"))
        for n in Notification.objects.filter(customer=customer).order_by("at", "id")
        if n.kind in {"payment_reminder", "service_suspended", "service_restored"}
    ]


def service(customer) -> list[tuple[str, str, str]]:
    return [
        (c.to_state, c.reason, c.at.astimezone(IST).strftime("%d %b %H:%M"))
        for c in StateChange.objects.filter(subscription__customer=customer).order_by("at", "id")
        if c.to_state != "pending"
    ]


@pytest.fixture
def subscribed(fiber100, asha):
    """Asha from 15 Jan: invoice 646.46 due 29 Jan; default policy remind -3, suspend +7."""
    clock.set_time(at(2026, 1, 15, 9))
    return subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="t"
    )


def test_unpaid_invoice_is_reminded_then_suspended_then_reconnected_when_paid(subscribed, asha):
    advance(at(2026, 1, 31, 12))
    assert kinds(asha) == [("payment_reminder", "26 Jan 09:00")]
    reminder = Notification.objects.get(kind="payment_reminder")
    assert reminder.context["amount_due"] == "646.46"
    assert reminder.context["invoices"] == ["KF/25-26/000001"]
    advance(at(2026, 2, 6, 12))
    # 1 Feb's invoice is due 15 Feb: its reminder comes on 12 Feb, not yet.
    assert kinds(asha)[1:] == [("service_suspended", "05 Feb 00:00")]
    assert Subscription.objects.get().state == "suspended"
    clock.set_time(at(2026, 2, 6, 15))
    payments.record_payment(asha, "646.46", "upi", actor="clerk")  # the overdue invoice only
    assert Subscription.objects.get().state == "active"
    assert kinds(asha)[-1] == ("service_restored", "06 Feb 15:00")
    assert service(asha) == [
        ("active", "subscribed", "15 Jan 09:00"),
        ("suspended", "non_payment", "05 Feb 00:00"),
        ("active", "paid", "06 Feb 15:00"),
    ]
    advance(at(2026, 2, 13, 0))
    assert kinds(asha)[-1] == ("payment_reminder", "12 Feb 09:00")
    assert kinds(asha).count(("service_suspended", "05 Feb 00:00")) == 1


def test_a_paid_invoice_is_neither_reminded_nor_suspended(subscribed, asha):
    clock.set_time(at(2026, 1, 20, 10))
    payments.record_payment(asha, "646.46", "cash", actor="clerk")
    advance(at(2026, 1, 31, 23))
    assert kinds(asha) == []
    assert list(DunningStep.objects.values_list("kind", "status", "outcome")) == [
        ("remind", "skipped", "paid"),
        ("suspend", "planned", ""),  # on 5 Feb: skipped then, unless the invoice reopens
    ]


def test_a_partial_payment_does_not_reconnect(subscribed, asha):
    advance(at(2026, 2, 6))
    assert Subscription.objects.get().state == "suspended"
    payments.record_payment(asha, "600.00", "cash", actor="clerk")
    assert Subscription.objects.get().state == "suspended"


def test_staff_suspension_is_not_lifted_by_a_payment(subscribed, asha):
    subscriptions.suspend(subscribed, reason="abuse", actor="noc")
    payments.record_payment(asha, "646.46", "cash", actor="clerk")
    assert Subscription.objects.get().state == "suspended"


def test_a_promise_to_pay_holds_suspension_and_reconnects(subscribed, asha):
    advance(at(2026, 2, 6))
    assert Subscription.objects.get().state == "suspended"
    with pytest.raises(InvalidInput, match="past"):
        dunning.promise_to_pay(asha, date(2026, 2, 1), actor="agent", reason="salary")
    with pytest.raises(InvalidInput, match="reason"):
        dunning.promise_to_pay(asha, date(2026, 2, 10), actor="agent", reason=" ")
    dunning.promise_to_pay(asha, date(2026, 2, 10), actor="agent", reason="salary on the 10th")
    assert Subscription.objects.get().state == "active"
    assert service(asha)[-1] == ("active", "promise_to_pay", "06 Feb 00:00")
    # 1 Feb's invoice (due 15 Feb) and the old one stay open: the promise is broken, and
    # the day after it the customer is suspended again.
    advance(at(2026, 2, 10, 23))
    assert Subscription.objects.get().state == "active"
    advance(at(2026, 2, 11, 1))
    assert Subscription.objects.get().state == "suspended"
    assert service(asha)[-1] == ("suspended", "non_payment", "11 Feb 00:00")


def test_a_promise_made_before_suspension_postpones_it(subscribed, asha):
    advance(at(2026, 2, 1, 12))
    dunning.promise_to_pay(asha, date(2026, 2, 8), actor="agent", reason="travelling")
    advance(at(2026, 2, 8, 23))
    assert Subscription.objects.get().state == "active"
    step = DunningStep.objects.get(kind="suspend", due_date=date(2026, 1, 29))
    assert step.at == at(2026, 2, 9) and "promise" in step.outcome
    advance(at(2026, 2, 9, 1))
    assert Subscription.objects.get().state == "suspended"
    assert PromiseToPay.objects.count() == 1


def test_late_fee_and_termination_from_a_group_policy(fiber100, asha):
    with pytest.raises(InvalidInput, match="after suspension"):
        dunning.set_policy(
            "soho", {"suspend_days_after_due": 5, "terminate_days_after_due": 5}, actor="admin"
        )
    dunning.set_policy(
        "soho",
        {
            "remind_days_after_due": [1],
            "late_fee_days_after_due": 2,
            "late_fee_amount": "50",
            "suspend_days_after_due": 5,
            "terminate_days_after_due": 30,
        },
        actor="admin",
    )
    asha.group = "soho"
    asha.save()
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    advance(at(2026, 1, 31, 12))
    assert kinds(asha) == [("payment_reminder", "30 Jan 09:00")]
    charge = OneOffCharge.objects.get()
    assert charge.unit_price == Decimal("50.000") and "KF/25-26/000001" in charge.description
    advance(at(2026, 2, 1, 1))
    # 1 Feb's invoice bills the late fee with the month's fee.
    feb = Invoice.objects.filter(kind="invoice").order_by("sequence_number").last()
    assert any("Late payment fee" in line.description for line in feb.lines.all())
    advance(at(2026, 2, 28, 1))
    assert Subscription.objects.get().state == "terminated"
    assert service(asha)[-1] == ("terminated", "non_payment", "28 Feb 00:00")


def test_bad_step_of_one_customer_does_not_stop_the_others(subscribed, asha, monkeypatch):
    calls = []
    real = dunning._suspend

    def broken(step, customer, *args, **kwargs):
        calls.append(customer.pk)
        raise RuntimeError("NAS unreachable")

    monkeypatch.setattr(dunning, "_suspend", broken)
    result = dunning.run_dunning(at(2026, 2, 6))
    assert result.get("failed") == 1 and calls
    assert DunningStep.objects.get(kind="suspend").status == "planned"  # tried again later
    monkeypatch.setattr(dunning, "_suspend", real)
    clock.set_time(at(2026, 2, 6, 1))
    assert dunning.run_dunning(at(2026, 2, 6, 1)).get("done") == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_carry_out_each_step_once(operator, gst18, fiber100):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises whole transactions)")
    from octet.customers.services import create_customer

    clock.set_time(at(2026, 1, 15, 9))
    for n in range(12):
        customer = create_customer(
            {"name": f"C {n}", "email": f"c{n}@example.in", "state_code": "29"}, actor="t"
        )
        subscriptions.subscribe(
            customer, fiber100, username=f"c{n}", password="s3cret-Pass", actor="t"
        )
    clock.set_time(at(2026, 2, 6))
    errors = []

    def work() -> None:
        try:
            dunning.run_dunning(at(2026, 2, 6))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Notification.objects.filter(kind="payment_reminder").count() == 12
    assert Notification.objects.filter(kind="service_suspended").count() == 12
    assert StateChange.objects.filter(to_state="suspended").count() == 12
    assert not DunningStep.objects.filter(status="planned", at__lte=at(2026, 2, 6)).exists()


def test_promise_needs_something_to_pay(subscribed, asha):
    payments.record_payment(asha, "646.46", "cash", actor="clerk")
    with pytest.raises(Conflict, match="nothing to pay"):
        dunning.promise_to_pay(asha, date(2026, 1, 20), actor="agent", reason="x")
