"""octet.gateways.stripe_gateway through Stripe's real SDK against the local fake API.

No database: the adapter is pure. The fake records what the SDK sent (form-encoded, as
Stripe reads it) so the tests check minor units, metadata and idempotency keys.
"""

from __future__ import annotations

import socket
import time
from decimal import Decimal

import pytest

from fakes.stripe_api import FakeStripe, parse_form, signed_event
from octet.core.money import Money
from octet.gateways.base import (
    ChargeResult,
    EventKind,
    GatewayConfig,
    GatewayError,
    InvalidSignature,
    RefundResult,
)
from octet.gateways.stripe_gateway import StripeGateway, octet_method

META = {"purpose": "invoice", "invoice_id": "12", "customer_id": "3", "checkout": "k"}


def inr(amount: str) -> Money:
    return Money(Decimal(amount), "INR")


def gateway_for(fake: FakeStripe, **overrides: str) -> StripeGateway:
    values = {
        "provider": "stripe",
        "key_id": "",
        "secret_key": fake.secret_key,
        "webhook_secret": fake.webhook_secret,
        "api_base": fake.url,
        "currency": "INR",
    }
    values.update(overrides)
    return StripeGateway(GatewayConfig(**values))


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture
def gateway(fake):
    return gateway_for(fake)


def checkout(gateway: StripeGateway, key: str = "key-1", **kwargs):
    params = {
        "description": "Kaveri Fibernet: invoice KF/25-26/000001",
        "metadata": META,
        "customer_email": "asha@example.in",
        "return_url": "https://billing.example.net/gateways/return",
        "idempotency_key": key,
    }
    params.update(kwargs)
    return gateway.create_checkout(inr("646.46"), **params)


# -- the fake's own helpers ----------------------------------------------------------------


def test_form_decoding_nests_like_stripe():
    body = "a=1&metadata[k]=v&line_items[1][x]=b&line_items[0][x]=a&e[f][g]=&flag=true"
    assert parse_form(body) == {
        "a": "1",
        "metadata": {"k": "v"},
        "line_items": [{"x": "a"}, {"x": "b"}],
        "e": {"f": {"g": ""}},
        "flag": "true",
    }


# -- checkout ------------------------------------------------------------------------------


def test_checkout_session_in_minor_units_with_metadata(fake, gateway):
    made = checkout(gateway, save_method=True)
    assert made.provider_id.startswith("cs_test_")
    assert made.url == f"{fake.url}/c/pay/{made.provider_id}"
    [request] = fake.requests_to("POST", "/v1/checkout/sessions")
    assert request.idempotency_key == "key-1"
    params = request.params
    assert params["mode"] == "payment"
    assert params["line_items"] == [
        {
            "quantity": "1",
            "price_data": {
                "currency": "inr",
                "unit_amount": "64646",
                "product_data": {"name": "Kaveri Fibernet: invoice KF/25-26/000001"},
            },
        }
    ]
    assert params["metadata"] == META
    assert params["payment_intent_data"]["metadata"] == META
    assert params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert params["customer_creation"] == "always"
    assert params["client_reference_id"] == "12"
    assert params["customer_email"] == "asha@example.in"
    assert params["success_url"] == params["cancel_url"]


def test_checkout_without_saving_asks_for_no_future_usage(fake, gateway):
    checkout(gateway, customer_email="")
    [request] = fake.requests_to("POST", "/v1/checkout/sessions")
    assert "setup_future_usage" not in request.params["payment_intent_data"]
    assert "customer_creation" not in request.params
    assert "customer_email" not in request.params


def test_same_key_same_session(fake, gateway):
    assert checkout(gateway) == checkout(gateway)
    assert len(fake.sessions) == 1
    assert checkout(gateway, key="key-2") != checkout(gateway)


def test_a_key_reused_with_other_parameters_is_refused(gateway):
    checkout(gateway)
    with pytest.raises(GatewayError, match="HTTP 400"):
        gateway.create_checkout(
            inr("1.00"), description="other", metadata=META, idempotency_key="key-1"
        )


def test_wrong_currency_or_amount_is_refused_before_calling(fake, gateway):
    with pytest.raises(GatewayError, match="charges in INR"):
        gateway.create_checkout(
            Money(Decimal("1"), "USD"), description="x", metadata={}, idempotency_key="k"
        )
    with pytest.raises(GatewayError, match="positive"):
        gateway.create_checkout(inr("0"), description="x", metadata={}, idempotency_key="k")
    assert fake.requests == []


def test_wrong_key_and_unreachable_api_are_gateway_errors(fake):
    with pytest.raises(GatewayError, match="API key"):
        checkout(gateway_for(fake, secret_key="sk_test_wrong"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(GatewayError, match="could not be reached"):
        checkout(gateway_for(fake, api_base=closed))


def test_the_adapter_never_shows_its_secrets(fake, gateway):
    assert fake.secret_key not in repr(gateway)
    assert fake.webhook_secret not in repr(gateway)


# -- webhooks ------------------------------------------------------------------------------


def test_checkout_completed_is_a_payment(fake, gateway):
    made = checkout(gateway, save_method=True)
    session, intent = fake.pay_session(made.provider_id)
    body, headers = fake.event("checkout.session.completed", session, event_id="evt_1")
    event = gateway.parse_webhook(body, headers)
    assert event.event_id == "evt_1"
    assert event.kind == EventKind.PAYMENT_SUCCEEDED
    assert event.provider_payment_id == intent["id"]
    assert event.amount == inr("646.46")
    assert event.method == "card"
    assert dict(event.metadata) == META
    assert event.provider_customer_id.startswith("cus_test_")


def test_unpaid_completed_session_is_ignored(fake, gateway):
    made = checkout(gateway)
    session = dict(fake.sessions[made.provider_id], payment_status="unpaid", status="complete")
    event = gateway.parse_webhook(*fake.event("checkout.session.completed", session))
    assert event.kind == EventKind.IGNORED


def test_payment_intent_events(fake, gateway):
    made = checkout(gateway, save_method=True)
    _, intent = fake.pay_session(made.provider_id, payment_method="pm_card_visa")
    event = gateway.parse_webhook(*fake.event("payment_intent.succeeded", intent))
    assert event.kind == EventKind.PAYMENT_SUCCEEDED
    assert (event.provider_payment_id, event.provider_method_id) == (intent["id"], "pm_card_visa")
    assert event.provider_customer_id == intent["customer"]
    failed = dict(
        intent,
        status="requires_payment_method",
        amount_received=0,
        last_payment_error={"code": "card_declined", "message": "Your card was declined."},
    )
    event = gateway.parse_webhook(*fake.event("payment_intent.payment_failed", failed))
    assert event.kind == EventKind.PAYMENT_FAILED
    assert event.amount == inr("646.46")
    assert event.failure_reason == "Your card was declined. (card_declined)"


def test_refund_and_method_events(fake, gateway):
    refund = {
        "id": "re_1",
        "object": "refund",
        "amount": 5000,
        "currency": "inr",
        "payment_intent": "pi_1",
        "status": "succeeded",
    }
    event = gateway.parse_webhook(*fake.event("refund.updated", refund))
    assert (event.kind, event.provider_refund_id, event.provider_payment_id) == (
        EventKind.REFUND_SUCCEEDED,
        "re_1",
        "pi_1",
    )
    assert event.amount == inr("50.00")
    failed = dict(refund, status="failed", failure_reason="expired_or_canceled_card")
    event = gateway.parse_webhook(*fake.event("refund.failed", failed))
    assert (event.kind, event.failure_reason) == (
        EventKind.REFUND_FAILED,
        "expired_or_canceled_card",
    )
    pending = dict(refund, status="pending")
    assert gateway.parse_webhook(*fake.event("refund.created", pending)).kind == "ignored"
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_1",
        "refunds": {"object": "list", "data": [dict(refund, payment_intent=None)]},
    }
    event = gateway.parse_webhook(*fake.event("charge.refunded", charge))
    assert (event.kind, event.provider_payment_id) == (EventKind.REFUND_SUCCEEDED, "pi_1")
    bare = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"}
    assert gateway.parse_webhook(*fake.event("charge.refunded", bare)).kind == "ignored"

    method = fake.payment_method_object("pm_1", customer="cus_1", brand="mastercard", last4="4444")
    event = gateway.parse_webhook(*fake.event("payment_method.attached", method))
    assert event.kind == EventKind.METHOD_SAVED
    assert (event.provider_method_id, event.provider_customer_id) == ("pm_1", "cus_1")
    assert event.method_label == "Mastercard •••• 4444"
    setup = {
        "id": "seti_1",
        "object": "setup_intent",
        "customer": "cus_1",
        "payment_method": "pm_2",
    }
    event = gateway.parse_webhook(*fake.event("setup_intent.succeeded", setup))
    assert (event.kind, event.provider_method_id) == (EventKind.METHOD_SAVED, "pm_2")


def test_other_events_are_ignored(fake, gateway):
    event = gateway.parse_webhook(*fake.event("customer.created", {"id": "cus_1"}))
    assert event.kind == EventKind.IGNORED


@pytest.mark.parametrize(
    "tamper",
    ["other secret", "changed body", "no header", "garbage header", "old timestamp"],
)
def test_bad_signatures_are_refused(fake, gateway, tamper):
    obj = {"id": "pi_1", "object": "payment_intent", "amount": 100, "currency": "inr"}
    if tamper == "other secret":
        body, headers = signed_event("payment_intent.succeeded", obj, "whsec_other")
    elif tamper == "old timestamp":
        # Stripe's SDK refuses a signature older than 300 s (replay protection).
        body, headers = fake.event(
            "payment_intent.succeeded", obj, timestamp=int(time.time()) - 400
        )
    else:
        body, headers = fake.event("payment_intent.succeeded", obj)
    if tamper == "changed body":
        body = body.replace(b'"amount":100', b'"amount":1')
    elif tamper == "no header":
        headers = {}
    elif tamper == "garbage header":
        headers = {"Stripe-Signature": "nonsense"}
    with pytest.raises(InvalidSignature):
        gateway.parse_webhook(body, headers)


def test_no_webhook_secret_verifies_nothing(fake):
    gateway = gateway_for(fake, webhook_secret="")
    body, headers = signed_event("payment_intent.succeeded", {"id": "pi_1"}, "")
    with pytest.raises(InvalidSignature):
        gateway.parse_webhook(body, headers)


def test_header_names_in_any_form(fake, gateway):
    body, headers = fake.event("customer.created", {"id": "cus_1"})
    assert gateway.parse_webhook(body, {"HTTP_STRIPE_SIGNATURE": headers["Stripe-Signature"]})
    assert gateway.parse_webhook(body, {"stripe-signature": headers["Stripe-Signature"]})


def test_signed_non_event_is_a_gateway_error(fake, gateway):
    import hashlib
    import hmac

    t = int(time.time())
    body = b"[1, 2]"
    signature = hmac.new(
        fake.webhook_secret.encode(), f"{t}.".encode() + body, hashlib.sha256
    ).hexdigest()
    with pytest.raises(GatewayError):
        gateway.parse_webhook(body, {"Stripe-Signature": f"t={t},v1={signature}"})


# -- auto-pay charges ----------------------------------------------------------------------


def charge(gateway: StripeGateway, method: str, key: str = "autopay:1:1") -> ChargeResult:
    return gateway.charge_saved_method(
        inr("646.46"),
        provider_customer_id="cus_1",
        provider_method_id=method,
        description="auto-pay",
        metadata={"purpose": "auto_pay", "invoice_id": "1", "attempt": "1"},
        idempotency_key=key,
    )


def test_off_session_charge(fake, gateway):
    result = charge(gateway, "pm_card_visa")
    assert result.succeeded and not result.pending
    assert result.amount == inr("646.46")
    [request] = fake.requests_to("POST", "/v1/payment_intents")
    assert request.idempotency_key == "autopay:1:1"
    assert request.params["off_session"] == "true"
    assert request.params["confirm"] == "true"
    assert request.params["amount"] == "64646"
    assert request.params["customer"] == "cus_1"
    assert request.params["metadata"]["purpose"] == "auto_pay"
    # The same key again: the same intent, not a second charge.
    assert charge(gateway, "pm_card_visa") == result
    assert len(fake.payment_intents) == 1


def test_declined_and_processing_charges(fake, gateway):
    declined = charge(gateway, fake.DECLINED)
    assert not declined.succeeded and not declined.pending
    assert declined.failure_reason == "Your card was declined. (generic_decline)"
    assert declined.provider_payment_id.startswith("pi_test_")
    processing = charge(gateway, fake.PROCESSING, key="autopay:1:2")
    assert processing.pending and not processing.succeeded
    missing = charge(gateway, "card_not_a_method", key="autopay:1:3")
    assert not missing.succeeded and "No such PaymentMethod" in missing.failure_reason


# -- refunds -------------------------------------------------------------------------------


def test_refunds(fake, gateway):
    _, intent = fake.pay_session(checkout(gateway).provider_id)
    result = gateway.refund(intent["id"], inr("100.00"), reason="double", idempotency_key="r1")
    assert result == RefundResult(provider_refund_id=result.provider_refund_id, succeeded=True)
    [request] = fake.requests_to("POST", "/v1/refunds")
    assert request.params == {
        "payment_intent": intent["id"],
        "amount": "10000",
        "reason": "requested_by_customer",
    }
    assert gateway.refund(intent["id"], inr("100.00"), reason="x", idempotency_key="r1") == result
    with pytest.raises(GatewayError, match="greater than unrefunded"):
        gateway.refund(intent["id"], inr("600.00"), reason="x", idempotency_key="r2")
    fake.refund_status = "pending"
    slow = gateway.refund(intent["id"], inr("1.00"), reason="x", idempotency_key="r3")
    assert slow.pending and not slow.succeeded


def test_method_names():
    assert octet_method(["card"]) == "card"
    assert octet_method(["upi"]) == "upi"
    assert octet_method(["card", "upi"]) == "card"
    assert octet_method("paypal") == "wallet"
    assert octet_method(None) == "card"
