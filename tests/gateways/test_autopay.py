"""Auto-pay: off-session charges of saved methods, the retry schedule, unanswered calls,
and several workers at once (PostgreSQL), through Stripe's SDK against the local fake."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from octet import jobs
from octet.billing.models import Invoice
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import AuditEntry
from octet.gateways import services
from octet.gateways.base import GatewayError
from octet.gateways.models import AutoPayAttempt, SavedMethod
from octet.gateways.stripe_gateway import StripeGateway
from octet.payments import services as payments
from octet.payments.models import Payment

from .conftest import at

DAY = timedelta(days=1)


def save_card(account, customer, method="pm_card_visa", **kwargs):
    return services.add_saved_method(
        customer,
        account,
        provider_customer_id="cus_test_asha",
        provider_method_id=method,
        label="Visa •••• 4242",
        actor="asha",
        **kwargs,
    )


def run_at(moment):
    clock.set_time(moment)
    return services.run_auto_pay(moment)


def charges(stripe_fake):
    return stripe_fake.requests_to("POST", "/v1/payment_intents")


def test_auto_pay_charges_an_open_invoice_once(stripe_account, stripe_fake, invoice, asha):
    t0 = clock.now()
    save_card(stripe_account, asha)
    assert services.next_auto_pay_due(t0) == t0
    run = services.run_auto_pay(t0)
    assert (run.attempted, run.succeeded, run.failed) == (1, 1, 0)
    [request] = charges(stripe_fake)
    assert request.idempotency_key == f"autopay:{invoice.pk}:1"
    assert request.params["amount"] == "64646"
    assert (request.params["off_session"], request.params["confirm"]) == ("true", "true")
    assert (request.params["customer"], request.params["payment_method"]) == (
        "cus_test_asha",
        "pm_card_visa",
    )
    assert request.params["metadata"] == {
        "purpose": "auto_pay",
        "invoice_id": str(invoice.pk),
        "customer_id": str(asha.pk),
        "attempt": "1",
    }
    attempt = AutoPayAttempt.objects.get()
    payment = Payment.objects.get()
    assert (attempt.status, attempt.payment, attempt.next_retry_at) == ("succeeded", payment, None)
    assert attempt.provider_payment_id == payment.gateway_payment_id
    assert (payment.gateway, payment.method, payment.amount) == (
        "stripe",
        "card",
        Decimal("646.460"),
    )
    assert [a.invoice_id for a in payment.allocations.all()] == [invoice.pk]
    assert payments.balances(asha)[0].amount == Decimal("0.00")
    assert AuditEntry.objects.filter(action="autopay.succeeded").count() == 1
    # Nothing more to do, and Stripe's webhook of the same charge changes nothing.
    assert services.next_auto_pay_due(t0) is None
    assert services.run_auto_pay(t0 + DAY).attempted == 0
    intent = stripe_fake.payment_intents[attempt.provider_payment_id]
    body, headers = stripe_fake.event("payment_intent.succeeded", intent)
    assert "already recorded" in services.handle_webhook(stripe_account, body, headers)
    assert Payment.objects.count() == 1 and len(charges(stripe_fake)) == 1


def test_declines_follow_the_retry_schedule_then_stop(
    stripe_account, stripe_fake, invoice, asha, caplog
):
    t0 = clock.now()
    save_card(stripe_account, asha, method=stripe_fake.DECLINED)
    assert services.RETRY_SCHEDULE == (DAY, 3 * DAY, 7 * DAY)
    expected_next = [t0 + DAY, t0 + 3 * DAY, t0 + 7 * DAY, None]
    moment = t0
    for number, next_at in enumerate(expected_next, start=1):
        run = run_at(moment)
        assert (run.attempted, run.failed) == (1, 1)
        attempt = AutoPayAttempt.objects.get(attempt=number)
        assert attempt.status == "failed"
        assert attempt.failure_reason == "Your card was declined. (generic_decline)"
        assert attempt.provider_payment_id.startswith("pi_test_")
        assert attempt.next_retry_at == next_at
        assert services.next_auto_pay_due(moment) == next_at
        if next_at is not None:
            # Not before it is due.
            assert services.run_auto_pay(next_at - timedelta(minutes=1)).attempted == 0
            moment = next_at
    assert services.run_auto_pay(t0 + 30 * DAY).attempted == 0
    keys = [r.idempotency_key for r in charges(stripe_fake)]
    assert keys == [f"autopay:{invoice.pk}:{n}" for n in (1, 2, 3, 4)]
    assert Payment.objects.count() == 0
    assert payments.balances(asha)[0].amount == Decimal("646.46")
    assert AuditEntry.objects.filter(action="autopay.failed").count() == 4
    assert "no more attempts" in caplog.text


def test_a_retry_that_succeeds(stripe_account, stripe_fake, invoice, asha):
    t0 = clock.now()
    save_card(stripe_account, asha, method=stripe_fake.DECLINED)
    assert run_at(t0).failed == 1
    stripe_fake.declined_methods.clear()  # the customer sorted it out with the bank
    assert run_at(t0 + DAY).succeeded == 1
    assert [a.status for a in AutoPayAttempt.objects.order_by("attempt")] == [
        "failed",
        "succeeded",
    ]
    assert services.next_auto_pay_due(t0 + DAY) is None
    assert payments.balances(asha)[0].amount == Decimal("0.00")


def test_no_retry_once_the_invoice_is_paid_otherwise(stripe_account, stripe_fake, invoice, asha):
    t0 = clock.now()
    save_card(stripe_account, asha, method=stripe_fake.DECLINED)
    run_at(t0)
    payments.record_payment(asha, "646.46", "upi", actor="clerk", to_invoice=invoice)
    assert services.next_auto_pay_due(t0) is None
    assert run_at(t0 + 2 * DAY).attempted == 0
    assert len(charges(stripe_fake)) == 1


def test_no_auto_pay_without_an_active_method(stripe_account, stripe_fake, invoice, asha):
    method = save_card(stripe_account, asha)
    services.revoke_saved_method(method, actor="asha", reason="card lost")
    assert services.next_auto_pay_due(clock.now()) is None
    assert services.run_auto_pay(clock.now()).attempted == 0
    save_card(stripe_account, asha, method="pm_other", auto_pay=False)
    assert services.run_auto_pay(clock.now()).attempted == 0
    assert charges(stripe_fake) == []
    with pytest.raises(Conflict):
        save_card(stripe_account, asha, method="pm_other")
    with pytest.raises(InvalidInput):
        services.add_saved_method(
            asha,
            stripe_account,
            provider_customer_id="c",
            provider_method_id="pm_y",
            method="cash",
            actor="t",
        )


def test_disabled_account_charges_nothing(stripe_account, stripe_fake, invoice, asha):
    save_card(stripe_account, asha)
    services.set_account_enabled(stripe_account, False, actor="t")
    assert services.next_auto_pay_due(clock.now()) is None
    assert services.run_auto_pay(clock.now()).attempted == 0


def test_first_attempt_waits_for_the_customers_agreement(
    stripe_account, stripe_fake, invoice, asha
):
    later = clock.now() + 2 * DAY
    clock.set_time(later)
    save_card(stripe_account, asha)
    assert services.next_auto_pay_due(later) == later  # not at the invoice's issue time


def test_pending_charge_is_settled_by_the_webhook(stripe_account, stripe_fake, invoice, asha):
    t0 = clock.now()
    save_card(stripe_account, asha, method=stripe_fake.PROCESSING)
    run = run_at(t0)
    assert (run.attempted, run.pending) == (1, 1)
    attempt = AutoPayAttempt.objects.get()
    assert (attempt.status, attempt.next_retry_at) == ("pending", None)
    assert services.next_auto_pay_due(t0) is None  # the provider tells the outcome
    intent = dict(
        stripe_fake.payment_intents[attempt.provider_payment_id],
        status="succeeded",
        amount_received=64646,
    )
    body, headers = stripe_fake.event("payment_intent.succeeded", intent)
    assert services.handle_webhook(stripe_account, body, headers).startswith("recorded payment")
    attempt.refresh_from_db()
    assert attempt.status == "succeeded" and attempt.payment is not None
    assert payments.balances(asha)[0].amount == Decimal("0.00")


def test_pending_charge_that_fails_later_is_retried(stripe_account, stripe_fake, invoice, asha):
    t0 = clock.now()
    save_card(stripe_account, asha, method=stripe_fake.PROCESSING)
    run_at(t0)
    attempt = AutoPayAttempt.objects.get()
    failed = dict(
        stripe_fake.payment_intents[attempt.provider_payment_id],
        status="requires_payment_method",
        last_payment_error={"code": "card_declined", "message": "Your card was declined."},
    )
    clock.set_time(t0 + timedelta(hours=2))
    body, headers = stripe_fake.event("payment_intent.payment_failed", failed)
    assert services.handle_webhook(stripe_account, body, headers) == "auto-pay attempt 1 failed"
    attempt.refresh_from_db()
    assert attempt.status == "failed" and attempt.next_retry_at == t0 + DAY
    assert attempt.failure_reason == "Your card was declined. (card_declined)"
    # Delivered again, or as another event: nothing changes.
    assert services.handle_webhook(stripe_account, body, headers).startswith("duplicate")
    again = stripe_fake.event("payment_intent.payment_failed", failed)
    assert "already failed" in services.handle_webhook(stripe_account, *again)
    assert AutoPayAttempt.objects.count() == 1


def test_an_unanswered_charge_is_asked_again_with_the_same_key(
    stripe_account, stripe_fake, invoice, asha, monkeypatch
):
    """The charge went through but its answer was lost: asking again with the same key
    finds it, and it is recorded once."""
    t0 = clock.now()
    save_card(stripe_account, asha)
    real = StripeGateway.charge_saved_method

    def answer_lost(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise GatewayError("Stripe could not be reached for the off-session charge")

    monkeypatch.setattr(StripeGateway, "charge_saved_method", answer_lost)
    run = run_at(t0)
    assert (run.attempted, run.unanswered) == (1, 1)
    attempt = AutoPayAttempt.objects.get()
    assert attempt.status == "pending"
    assert attempt.next_retry_at == t0 + services.UNANSWERED_RETRY
    assert services.next_auto_pay_due(t0) == t0 + services.UNANSWERED_RETRY
    assert services.run_auto_pay(t0 + timedelta(minutes=5)).attempted == 0
    monkeypatch.undo()
    run = run_at(t0 + services.UNANSWERED_RETRY)
    assert (run.attempted, run.succeeded) == (1, 1)
    keys = [r.idempotency_key for r in charges(stripe_fake)]
    assert keys == [f"autopay:{invoice.pk}:1"] * 2
    assert len(stripe_fake.payment_intents) == 1  # one charge at Stripe
    assert Payment.objects.count() == 1
    attempt.refresh_from_db()
    assert (attempt.attempt, attempt.status) == (1, "succeeded")


def test_an_attempt_unanswered_for_a_day_fails(
    stripe_account, stripe_fake, invoice, asha, monkeypatch
):
    t0 = clock.now()
    save_card(stripe_account, asha)

    def unreachable(self, *args, **kwargs):
        raise GatewayError("Stripe could not be reached for the off-session charge")

    monkeypatch.setattr(StripeGateway, "charge_saved_method", unreachable)
    moment = t0
    while (due := services.next_auto_pay_due(moment)) is not None and due < t0 + DAY:
        moment = due
        run_at(moment)
    attempt = AutoPayAttempt.objects.get()
    assert attempt.status == "failed"
    assert attempt.failure_reason.startswith("no answer from the gateway since")
    assert attempt.next_retry_at == t0 + DAY  # then the usual schedule


def test_the_worker_runs_auto_pay_after_billing(stripe_account, stripe_fake, invoice, asha):
    names = [job.name for job in jobs.JOBS]
    assert names.index("auto_pay") > names.index("billing")
    save_card(stripe_account, asha)
    jobs.run_due(clock.now())
    assert AutoPayAttempt.objects.get().status == "succeeded"


# -- several workers (PostgreSQL) ----------------------------------------------------------


def _workers(count: int, moment) -> list[Exception]:
    errors: list[Exception] = []
    start = threading.Barrier(count)

    def work() -> None:
        try:
            start.wait()
            services.run_auto_pay(moment)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_workers_at_once_charge_each_attempt_once(operator, gst18, fiber100, stripe_fake):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL (SQLite serialises whole transactions)")
    from octet.customers.services import create_customer
    from octet.subscriptions import services as subscriptions

    account = services.add_account(
        provider="stripe",
        name="stripe",
        secret_key=stripe_fake.secret_key,
        webhook_secret=stripe_fake.webhook_secret,
        api_base=stripe_fake.url,
        actor="test",
    )
    t0 = at(2026, 1, 15, 9)
    clock.set_time(t0)
    for n in range(6):
        customer = create_customer(
            {"name": f"Customer {n}", "email": f"c{n}@example.in", "state_code": "29"},
            actor="test",
        )
        subscriptions.subscribe(
            customer, fiber100, username=f"user{n}", password="s3cret-Pass", actor="t"
        )
        services.add_saved_method(
            customer,
            account,
            provider_customer_id=f"cus_{n}",
            provider_method_id=f"pm_card_{n}",
            actor="test",
        )
    stripe_fake.declined_methods |= {"pm_card_1", "pm_card_3", "pm_card_5"}  # retries race too
    for moment in (t0, t0 + DAY):
        assert _workers(4, moment) == []
    keys = [r.idempotency_key for r in charges(stripe_fake)]
    assert len(keys) == len(set(keys)) == 6 + 3  # first attempts, then the 3 retries
    assert AutoPayAttempt.objects.count() == 9
    assert Payment.objects.count() == 3
    for invoice in Invoice.objects.filter(kind="invoice"):
        attempts = list(invoice.autopay_attempts.order_by("attempt"))
        paid = payments.open_invoices([invoice.customer_id]).get(invoice.customer_id) is None
        assert paid == (attempts[-1].status == "succeeded")
    assert SavedMethod.objects.count() == 6
