"""Every kind renders, by e-mail and by SMS, from the context its real producer writes.

One customer's story drives the producers themselves (billing, metering, payments,
dunning, plan changes, prepaid notices) through the scheduled jobs on a moving clock; after
each step, delivery runs at that moment as the worker would (on the real clock: nothing is
sent on a simulated one), and each e-mail sent and each SMS is checked.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from octet import jobs
from octet.billing import services as billing
from octet.billing.models import Invoice
from octet.catalog import services as catalog
from octet.catalog.models import GB, PlanKind
from octet.core import clock
from octet.customers.services import create_customer
from octet.metering.accounting import AccountingRecord, Status
from octet.metering.counters import Counters
from octet.metering.services import record_accounting
from octet.network import services as network
from octet.notifications import rendering
from octet.notifications.delivery import deliver_due
from octet.notifications.models import Kind, Notification, NotificationDelivery
from octet.payments import services as payments
from octet.subscriptions import services as subscriptions

from .conftest import at


def advance(moment) -> None:
    """The producers' jobs up to ``moment``, each at its time; then delivery at ``moment``."""
    jobs.run_due(moment, on_each=clock.set_time)
    clock.set_time(None)
    deliver_due(moment)
    clock.set_time(moment)


@pytest.fixture
def story(operator, gst18, fiber100, fiber300, asha, monkeypatch):
    # Delivery runs in advance() on the real clock, not as a job on the simulated one.
    monkeypatch.setattr(jobs, "JOBS", [j for j in jobs.JOBS if j.name != "notifications"])
    operator.upi_id = "kaveri@okaxis"
    operator.email = "help@kaveri.example"
    operator.phone = "+918041234567"
    operator.save()
    prepaid = catalog.create_plan(
        code="PRE30",
        name="Prepaid 30",
        kind=PlanKind.PREPAID,
        terms={
            "price": "499.00",
            "interval": "month",
            "alignment": "anniversary",
            "prepaid_validity_days": 30,
            "down_kbps": 40_000,
            "up_kbps": 20_000,
            "tax_category": gst18,
        },
        actor="test",
    )
    ravi = create_customer(
        {"name": "Ravi Kumar", "email": "ravi@example.in", "phone": "98400 12345"}
        | {"state_code": "33"},
        actor="test",
    )
    nas = network.create_nas(
        name="core-1", address="10.0.0.1", secret="testing123", vendor="mikrotik", actor="test"
    )

    clock.set_time(at(2026, 1, 15, 9))  # invoice_issued
    sub = subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="test"
    )
    advance(at(2026, 1, 15, 10))
    subscriptions.subscribe(ravi, prepaid, username="ravi", password="s3cret-Pass", actor="test")

    usage_at = at(2026, 1, 20, 20)  # usage_80 and usage_100 (a prorated ~274 GB allowance)
    advance(usage_at)
    for status, minutes, down in ((Status.START, 0, 0), (Status.INTERIM, 5, 300 * GB)):
        record_accounting(
            [
                AccountingRecord(
                    nas_id=nas.pk,
                    status=status,
                    at=usage_at + timedelta(minutes=minutes),
                    session_id="s-1",
                    username="asha",
                    counters=Counters(download=down, upload=0),
                )
            ]
        )

    advance(at(2026, 1, 21, 11))  # credit_note_issued
    first = Invoice.objects.get(customer=asha)
    billing.issue_credit_note(first, "100.00", reason="Outage on 18 Jan", actor="clerk")

    advance(at(2026, 2, 6, 12))  # payment_reminder 26 Jan, invoice 1 Feb, service_suspended

    advance(at(2026, 2, 6, 15))  # payment_received and service_restored
    due, _ = payments.balances(asha)
    payments.record_payment(asha, str(due.amount), "upi", reference="UTR 4455", actor="clerk")

    advance(at(2026, 2, 7, 10))  # plan_changed
    subscriptions.change_plan(sub, fiber300, when="now", actor="clerk")

    advance(at(2026, 2, 15, 12))  # prepaid_expiring 11 Feb, prepaid_expired 14 Feb
    return asha, ravi


def rendered(kind: str, customer) -> tuple[rendering.Rendered, rendering.Rendered]:
    """The e-mail as the job sent it at the time (Django's test outbox), and the SMS as it
    renders now (no SMS gateway in this story)."""
    n = Notification.objects.filter(kind=kind, customer=customer).order_by("at", "id").first()
    assert n is not None, f"no {kind} notification was written"
    (sent,) = [
        m for m in mail.outbox if m.extra_headers["X-Octet-Notification"] == f"{kind} {n.pk}"
    ]
    ((html, _),) = sent.alternatives
    email = rendering.Rendered(sent.subject, sent.body, html, source="sent")
    return email, rendering.render(n, "sms")


EXPECTED = {
    # kind: (customer, subject, [in the text], [in the SMS])
    Kind.INVOICE_ISSUED: (
        "asha",
        "Invoice KF/25-26/000001 from Kaveri Fibernet - ₹646.46",
        ["invoice KF/25-26/000001 dated 15 Jan 2026 for ₹646.46", "pay it by 29 Jan 2026"],
        ["invoice KF/25-26/000001 for INR 646.46 is due on 29 Jan 2026"],
    ),
    Kind.CREDIT_NOTE_ISSUED: (
        "asha",
        "Credit note KFC/25-26/000001 from Kaveri Fibernet - ₹100.00",
        ["credit note KFC/25-26/000001 for ₹100.00 against invoice KF/25-26/000001"]
        + ["Reason: Outage on 18 Jan"],
        ["credit note KFC/25-26/000001 for INR 100.00"],
    ),
    Kind.USAGE_80: (
        "asha",
        "You have used 80% of your data on Fiber 100",
        ["used 80% of your", "GB data allowance on Fiber 100"]
        + ["period that began on 1 Jan 2026", "billed at ₹10.00 per GB"],
        ["used 80% of your"],
    ),
    Kind.USAGE_100: (
        "asha",
        "You have used all of your data on Fiber 100",
        ["You stay connected at full speed", "billed at ₹10.00 per GB"],
        ["Further data is billed at INR 10.00/GB"],
    ),
    Kind.PAYMENT_REMINDER: (
        "asha",
        "Reminder: ₹546.46 due on 29 Jan 2026",
        ["friendly reminder that ₹546.46 on your account AC000001 is due on 29 Jan 2026"]
        + ["Invoice: KF/25-26/000001", "pay by UPI to kaveri@okaxis"],
        ["reminder - INR 546.46 is due on 29 Jan 2026"],
    ),
    Kind.SERVICE_SUSPENDED: (
        "asha",
        "Your Kaveri Fibernet internet service is suspended",
        ["(Fiber 100, asha) has been suspended because a payment is overdue"]
        + ["pay the amount overdue of ₹546.46 (invoice KF/25-26/000001)"],
        ["is suspended. Pay INR 546.46 to restore it."],
    ),
    Kind.PAYMENT_RECEIVED: (
        "asha",
        "Payment received - ₹",
        ["received your payment of ₹", "on 6 Feb 2026 by UPI", "Reference: UTR 4455"],
        ["payment of INR", "received, thank you. Receipt"],
    ),
    Kind.SERVICE_RESTORED: (
        "asha",
        "Your Kaveri Fibernet internet service is back",
        ["(Fiber 100, asha) has been restored now that your payment is recorded"],
        ["your internet service (asha) is restored"],
    ),
    Kind.PLAN_CHANGED: (
        "asha",
        "Your plan is changing to Fiber 300",
        ["from Fiber 100 to Fiber 300 on 7 Feb 2026", "costs ₹1,499.00 per month"],
        ["your plan changes to Fiber 300 on 7 Feb 2026"],
    ),
    Kind.PREPAID_EXPIRING: (
        "ravi",
        "Your prepaid plan expires on 14 Feb 2026",
        ["Prepaid 30 (ravi) expires on 14 Feb 2026, 10:00", "UPI: kaveri@okaxis"],
        ["Prepaid 30 expires on 14 Feb 2026, 10:00"],
    ),
    Kind.PREPAID_EXPIRED: (
        "ravi",
        "Your prepaid plan has expired",
        ["Prepaid 30 (ravi) has expired on 14 Feb 2026, 10:00"],
        ["Prepaid 30 has expired"],
    ),
}


def test_every_kind_is_covered():
    assert set(EXPECTED) == set(Kind.values)


def check(kind: str, customers: dict) -> None:
    who, subject, in_text, in_sms = EXPECTED[kind]
    customer = customers[who]
    email, sms = rendered(kind, customer)
    assert email.subject.startswith(subject), email.subject
    assert email.text.startswith(f"Dear {customer.name},")
    for part in in_text:
        assert part in email.text, email.text
    for part in in_sms:
        assert part in sms.text, sms.text
    assert sms.text.startswith("Kaveri Fibernet: ")
    for out in (email.subject, email.text, email.html, sms.text):
        assert "None" not in out and "{{" not in out and "{%" not in out, out
    assert "₹" not in sms.text  # one GSM-7 SMS holds 160 characters, with a ₹ only 70
    assert email.html.startswith("<!DOCTYPE html>") and customer.name in email.html
    assert "Kaveri Fibernet" in email.html


def test_every_kind_renders_from_its_producers_context(story):
    # One story for all kinds (it bills, meters and renders PDFs: too slow to repeat).
    customers = dict(zip(("asha", "ravi"), story, strict=True))
    problems = {}
    for kind in EXPECTED:
        try:
            check(kind, customers)
        except AssertionError as exc:
            problems[kind] = str(exc)
    assert problems == {}


def test_the_story_was_delivered_without_a_failure(story):
    failed = NotificationDelivery.objects.filter(status="failed")
    assert list(failed.values_list("notification__kind", "last_error")) == []
    # Delivered as it went (e-mail in the test outbox; no SMS gateway here).
    assert set(NotificationDelivery.objects.values_list("status", flat=True)) <= {
        "sent",
        "skipped",
    }
