"""Refunds to the original method through Stripe (SDK against the local fake), and refund
webhooks: pending refunds completed or failed, refunds made in the provider's dashboard."""

from __future__ import annotations

from decimal import Decimal

import pytest

from octet.core.errors import Conflict, InvalidInput
from octet.gateways import services
from octet.gateways.base import GatewayError
from octet.gateways.models import WebhookEvent
from octet.payments import services as payments
from octet.payments.models import Payment, Refund


def credit_of(customer) -> Decimal:
    return payments.balances(customer)[1].amount


@pytest.fixture
def overpaid(stripe_account, stripe_fake, invoice, asha):
    """Asha paid 700.00 online for her 646.46 invoice: 53.54 is credit."""
    link = services.checkout_for_invoice(invoice, actor="clerk")
    session, intent = stripe_fake.pay_session(link.provider_id, amount=70000)
    services.handle_webhook(
        stripe_account, *stripe_fake.event("checkout.session.completed", session)
    )
    payment = Payment.objects.get()
    assert credit_of(asha) == Decimal("53.54")
    return payment


def refunds_sent(stripe_fake):
    return stripe_fake.requests_to("POST", "/v1/refunds")


def test_refund_to_the_card(stripe_account, stripe_fake, overpaid, asha):
    refund = services.refund_to_original(overpaid, "53.54", actor="clerk", reason="overpaid")
    [request] = refunds_sent(stripe_fake)
    assert request.params["payment_intent"] == overpaid.gateway_payment_id
    assert request.params["amount"] == "5354"
    assert request.idempotency_key == f"refund:{overpaid.pk}:5354:2026-01-15"
    assert (refund.amount, refund.status, refund.method, refund.gateway) == (
        Decimal("53.540"),
        "succeeded",
        "card",
        "stripe",
    )
    assert refund.payment == overpaid and refund.customer == asha
    assert refund.gateway_refund_id in stripe_fake.refunds
    assert refund.actor == "clerk" and refund.reason == "overpaid"
    assert credit_of(asha) == Decimal("0.00")
    # Stripe's refund.created webhook for it changes nothing.
    body, headers = stripe_fake.event(
        "refund.created", stripe_fake.refund_object(refund.gateway_refund_id)
    )
    assert "already paid out" in services.handle_webhook(stripe_account, body, headers)
    assert Refund.objects.count() == 1


def test_refunds_are_refused_before_asking_the_gateway(stripe_fake, overpaid, asha):
    with pytest.raises(Conflict, match="holds 53.54 INR of credit"):
        services.refund_to_original(overpaid, "100", actor="clerk", reason="too much")
    with pytest.raises(InvalidInput):
        services.refund_to_original(overpaid, "10", actor="clerk", reason=" ")
    with pytest.raises(InvalidInput):
        services.refund_to_original(overpaid, "-1", actor="clerk", reason="x")
    cash = payments.record_payment(asha, "10", "cash", actor="clerk")
    with pytest.raises(Conflict, match="did not come through a gateway"):
        services.refund_to_original(cash, "10", actor="clerk", reason="x")
    assert refunds_sent(stripe_fake) == []
    assert Refund.objects.count() == 0


def test_gateway_refusal_records_nothing(stripe_fake, overpaid, asha):
    stripe_fake.payment_intents[overpaid.gateway_payment_id]["amount_received"] = 1000
    with pytest.raises(GatewayError, match="greater than unrefunded"):
        services.refund_to_original(overpaid, "53.54", actor="clerk", reason="x")
    assert Refund.objects.count() == 0 and credit_of(asha) == Decimal("53.54")


def test_pending_refund_completed_by_webhook(stripe_account, stripe_fake, overpaid, asha):
    stripe_fake.refund_status = "pending"
    refund = services.refund_to_original(overpaid, "20", actor="clerk", reason="goodwill")
    assert refund.status == "pending"
    assert credit_of(asha) == Decimal("33.54")
    done = dict(stripe_fake.refund_object(refund.gateway_refund_id), status="succeeded")
    outcome = services.handle_webhook(stripe_account, *stripe_fake.event("refund.updated", done))
    assert outcome == f"refund {refund.pk} paid out"
    refund.refresh_from_db()
    assert refund.status == "succeeded"


def test_pending_refund_that_fails_is_credit_again(stripe_account, stripe_fake, overpaid, asha):
    stripe_fake.refund_status = "pending"
    refund = services.refund_to_original(overpaid, "20", actor="clerk", reason="goodwill")
    failed = dict(
        stripe_fake.refund_object(refund.gateway_refund_id),
        status="failed",
        failure_reason="expired_or_canceled_card",
    )
    outcome = services.handle_webhook(stripe_account, *stripe_fake.event("refund.failed", failed))
    assert outcome == f"refund {refund.pk} failed: the amount is credit again"
    refund.refresh_from_db()
    assert refund.status == "failed"
    assert credit_of(asha) == Decimal("53.54")
    # A second, full refund is allowed again.
    stripe_fake.refund_status = "succeeded"
    services.refund_to_original(overpaid, "53.54", actor="clerk", reason="again")
    assert credit_of(asha) == Decimal("0.00")


def test_refund_made_in_the_stripe_dashboard_is_recorded(
    stripe_account, stripe_fake, overpaid, asha
):
    refund = {
        "id": "re_dashboard",
        "object": "refund",
        "amount": 1000,
        "currency": "inr",
        "payment_intent": overpaid.gateway_payment_id,
        "status": "succeeded",
    }
    outcome = services.handle_webhook(stripe_account, *stripe_fake.event("refund.updated", refund))
    recorded = Refund.objects.get()
    assert outcome == f"recorded refund {recorded.pk} made outside Octet"
    assert (recorded.amount, recorded.gateway_refund_id, recorded.actor) == (
        Decimal("10.000"),
        "re_dashboard",
        "gateway:stripe",
    )
    assert credit_of(asha) == Decimal("43.54")


def test_dashboard_refund_beyond_the_credit_is_left_for_staff(
    stripe_account, stripe_fake, overpaid, caplog
):
    refund = {
        "id": "re_big",
        "object": "refund",
        "amount": 60000,
        "currency": "inr",
        "payment_intent": overpaid.gateway_payment_id,
        "status": "succeeded",
    }
    body, headers = stripe_fake.event("refund.updated", refund)
    # Nothing kept (the view answers 500): the provider delivers it again, and once staff
    # have freed the credit with a credit note, the refund is recorded.
    with pytest.raises(services.RefundNotRecordable):
        services.handle_webhook(stripe_account, body, headers)
    assert Refund.objects.count() == 0
    assert not WebhookEvent.objects.filter(event_id__contains="re_big").exists()
    assert "issue a credit note" in caplog.text
