"""Tests for octet.gateways.razorpay_gateway, through the real SDK against a local fake API.

No database: the adapter is pure, and the fake (tests/fakes/razorpay_api.py) records what
the SDK sent so the tests can check paise amounts, notes and idempotency references.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from decimal import Decimal

import pytest
import razorpay
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.razorpay_api import (
    FakeRazorpay,
    payment_entity,
    refund_entity,
    signed_webhook,
    token_entity,
)
from octet.core.money import Money
from octet.gateways.base import (
    ChargeResult,
    Checkout,
    EventKind,
    GatewayConfig,
    GatewayError,
    InvalidSignature,
    RefundResult,
)
from octet.gateways.razorpay_gateway import InvalidRequest, RazorpayGateway, mask_vpa

WEBHOOK_SECRET = "whsec_razorpay_test"
METADATA = {"invoice_id": "12", "customer_id": "3", "purpose": "invoice"}


def inr(amount: str) -> Money:
    return Money(Decimal(amount), "INR")


def config_for(fake: FakeRazorpay, **overrides: str) -> GatewayConfig:
    values = {
        "provider": "razorpay",
        "key_id": fake.key_id,
        "secret_key": fake.key_secret,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": fake.url,
    }
    values.update(overrides)
    return GatewayConfig(**values)


@pytest.fixture
def fake():
    with FakeRazorpay() as server:
        yield server


@pytest.fixture
def gateway(fake: FakeRazorpay) -> RazorpayGateway:
    return RazorpayGateway(config_for(fake))


@pytest.fixture(scope="module")
def shared_fake():
    # For hypothesis tests: one server for all examples (function fixtures are not reset).
    with FakeRazorpay() as server:
        yield server


def offline_gateway(webhook_secret: str = WEBHOOK_SECRET) -> RazorpayGateway:
    """Webhook parsing needs no server."""
    return RazorpayGateway(
        GatewayConfig("razorpay", "rzp_test_x", "secret_x", webhook_secret, "http://127.0.0.1:9")
    )


def checkout(gateway: RazorpayGateway, amount: str = "499.50", **kwargs) -> Checkout:
    arguments = {
        "description": "Invoice INV-12",
        "metadata": METADATA,
        "idempotency_key": "checkout-inv-12-1",
    }
    arguments.update(kwargs)
    return gateway.create_checkout(inr(amount), **arguments)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- create_checkout ----------------------------------------------------------------------


def test_checkout_creates_payment_link_in_paise_with_notes_and_reference(fake, gateway):
    result = checkout(
        gateway,
        "1234.56",
        customer_name="Asha Rao",
        customer_email="asha@example.com",
        customer_phone="+919812345678",
        return_url="https://isp.example/pay/done",
        idempotency_key="inv-12-attempt-1",
    )

    [sent] = fake.requests_to("POST", "/v1/payment_links")
    assert sent.body == {
        "amount": 123456,
        "currency": "INR",
        "description": "Invoice INV-12",
        "reference_id": "inv-12-attempt-1",
        "notes": METADATA,
        "notify": {"sms": False, "email": False},
        "reminder_enable": False,
        "customer": {"name": "Asha Rao", "email": "asha@example.com", "contact": "+919812345678"},
        "callback_url": "https://isp.example/pay/done",
        "callback_method": "get",
    }
    link = fake.state.links[result.provider_id]
    assert result.provider_id.startswith("plink_")
    assert result.url == link["short_url"]


def test_checkout_without_customer_or_return_url_sends_neither(fake, gateway):
    checkout(gateway, save_method=True)
    [sent] = fake.requests_to("POST", "/v1/payment_links")
    assert "customer" not in sent.body
    assert "callback_url" not in sent.body
    assert all(isinstance(value, str) for value in sent.body["notes"].values())


def test_checkout_retry_with_same_key_returns_the_same_link(fake, gateway):
    first = checkout(gateway, idempotency_key="inv-77")
    second = checkout(gateway, idempotency_key="inv-77")

    assert second == first
    assert len(fake.state.links) == 1
    # The retry was refused as a duplicate reference_id, then found by that reference.
    assert len(fake.requests_to("POST", "/v1/payment_links")) == 2
    [lookup] = fake.requests_to("GET", "/v1/payment_links")
    assert lookup.query == {"reference_id": "inv-77"}


def test_checkout_same_key_for_another_amount_is_refused(gateway):
    checkout(gateway, "100.00", idempotency_key="inv-78")
    with pytest.raises(GatewayError, match="another amount"):
        checkout(gateway, "100.01", idempotency_key="inv-78")


def test_checkout_long_keys_stay_distinct_and_within_40_characters(fake, gateway):
    prefix = "autopay-invoice-000000000000000012-attempt-"
    one = checkout(gateway, idempotency_key=prefix + "1")
    two = checkout(gateway, idempotency_key=prefix + "2")

    assert one.provider_id != two.provider_id
    references = [r.body["reference_id"] for r in fake.requests_to("POST", "/v1/payment_links")]
    assert len(set(references)) == 2
    assert all(len(reference) <= 40 for reference in references)


def test_checkout_api_error_is_a_gateway_error_with_razorpay_description(fake, gateway):
    with pytest.raises(GatewayError, match="amount must be atleast INR 1.00"):
        checkout(gateway, "0.50")
    assert fake.state.links == {}


def test_checkout_with_wrong_key_is_a_gateway_error(fake):
    gateway = RazorpayGateway(config_for(fake, secret_key="not-the-secret"))
    with pytest.raises(GatewayError, match="Authentication failed"):
        checkout(gateway)
    assert fake.state.links == {}
    assert fake.requests and not any(r.authorized for r in fake.requests)


def test_unreachable_api_is_a_gateway_error():
    gateway = RazorpayGateway(
        GatewayConfig("razorpay", "rzp_test_x", "secret_x", WEBHOOK_SECRET, closed_port_url())
    )
    with pytest.raises(GatewayError, match="could not be reached"):
        checkout(gateway)


@pytest.mark.parametrize(
    "amount",
    [Money(Decimal("10.00"), "USD"), inr("0"), inr("-5.00")],
    ids=["other-currency", "zero", "negative"],
)
def test_checkout_refuses_wrong_currency_or_non_positive_amount(fake, gateway, amount):
    with pytest.raises(InvalidRequest):
        gateway.create_checkout(
            amount, description="x", metadata={}, idempotency_key="inv-bad-amount"
        )
    with pytest.raises(ValueError):  # also a ValueError: it is a caller bug
        gateway.create_checkout(
            amount, description="x", metadata={}, idempotency_key="inv-bad-amount"
        )
    assert fake.requests == []


def test_checkout_refuses_more_notes_than_razorpay_takes(fake, gateway):
    with pytest.raises(InvalidRequest, match="at most 15 notes"):
        checkout(gateway, metadata={f"k{i}": "v" for i in range(16)})
    assert fake.requests == []


def test_api_base_may_carry_v1_and_trailing_slash(fake):
    gateway = RazorpayGateway(config_for(fake, api_base=fake.url + "/v1/"))
    assert checkout(gateway).provider_id.startswith("plink_")


def test_repr_never_shows_secrets(fake, gateway):
    assert fake.key_secret not in repr(gateway)
    assert WEBHOOK_SECRET not in repr(gateway)


# -- webhooks: payments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("razorpay_method", "fields", "method", "label"),
    [
        ("upi", {"vpa": "asha.rao@okicici"}, "upi", "UPI as***@okicici"),
        ("upi", {"vpa": "9812345678@ybl"}, "upi", "UPI 98***@ybl"),
        ("netbanking", {"bank": "HDFC"}, "netbanking", "Netbanking HDFC"),
        ("wallet", {"wallet": "paytm"}, "wallet", "Wallet paytm"),
        ("card", {"card_network": "Visa", "card_last4": "4242"}, "card", "Visa •••• 4242"),
        (
            "emi",
            {"card_network": "MasterCard", "card_last4": "5454"},
            "card",
            "MasterCard •••• 5454",
        ),
        ("paylater", {}, "wallet", "paylater"),
        ("cardless_emi", {}, "card", "cardless_emi"),
    ],
)
def test_payment_link_paid_is_payment_succeeded(
    fake, gateway, razorpay_method, fields, method, label
):
    link = checkout(gateway, "499.50")
    payload = fake.pay_link(link.provider_id, method=razorpay_method, **fields)
    body, headers = signed_webhook(
        "payment_link.paid", payload, WEBHOOK_SECRET, event_id="Evt0000000000001"
    )

    event = gateway.parse_webhook(body, headers)

    assert event.kind == EventKind.PAYMENT_SUCCEEDED
    assert event.event_id == "Evt0000000000001"
    assert event.provider_payment_id == payload["payment"]["entity"]["id"]
    assert event.amount == inr("499.50")
    assert event.method == method
    assert event.method_label == label
    assert event.metadata == METADATA  # the notes given at checkout come back


def test_payment_link_notes_win_over_payment_notes():
    payload = {
        "payment_link": {"entity": {"id": "plink_X", "notes": {"invoice_id": "12"}}},
        "payment": {
            "entity": payment_entity(
                "pay_X", 1000, notes={"invoice_id": "99", "extra": "kept"}, method="upi"
            )
        },
    }
    body, headers = signed_webhook("payment_link.paid", payload, WEBHOOK_SECRET)
    event = offline_gateway().parse_webhook(body, headers)
    assert event.metadata == {"invoice_id": "12", "extra": "kept"}


def test_payment_captured_carries_customer_and_token():
    payment = payment_entity(
        "pay_AutoPay000001",
        99900,
        notes={"invoice_id": "40", "purpose": "auto_pay"},
        customer_id="cust_Asha00000001",
        token_id="token_Asha0000001",
        card_network="RuPay",
        card_last4="0005",
    )
    body, headers = signed_webhook(
        "payment.captured", {"payment": {"entity": payment}}, WEBHOOK_SECRET
    )

    event = offline_gateway().parse_webhook(body, headers)

    assert event.kind == EventKind.PAYMENT_SUCCEEDED
    assert event.amount == inr("999.00")
    assert event.provider_customer_id == "cust_Asha00000001"
    assert event.provider_method_id == "token_Asha0000001"
    assert event.method_label == "RuPay •••• 0005"
    assert event.metadata == {"invoice_id": "40", "purpose": "auto_pay"}


def test_payment_failed_carries_the_reason():
    payment = payment_entity(
        "pay_Failed0000001",
        50000,
        status="failed",
        method="card",
        error_description="Payment failed due to insufficient balance",
        notes=METADATA,
    )
    body, headers = signed_webhook(
        "payment.failed", {"payment": {"entity": payment}}, WEBHOOK_SECRET
    )

    event = offline_gateway().parse_webhook(body, headers)

    assert event.kind == EventKind.PAYMENT_FAILED
    assert event.provider_payment_id == "pay_Failed0000001"
    assert event.amount == inr("500.00")
    assert event.failure_reason == "Payment failed due to insufficient balance"
    assert event.metadata == METADATA


def test_empty_notes_arrive_as_a_list_and_become_empty_metadata():
    payment = payment_entity("pay_NoNotes000001", 100)
    assert payment["notes"] == []
    body, headers = signed_webhook(
        "payment.captured", {"payment": {"entity": payment}}, WEBHOOK_SECRET
    )
    assert offline_gateway().parse_webhook(body, headers).metadata == {}


# -- webhooks: refunds, tokens, others ---------------------------------------------------------


@pytest.mark.parametrize(
    ("event_name", "status", "kind"),
    [
        ("refund.processed", "processed", EventKind.REFUND_SUCCEEDED),
        ("refund.failed", "failed", EventKind.REFUND_FAILED),
    ],
)
def test_refund_events(event_name, status, kind):
    refund = refund_entity(
        "rfnd_Refund000001", "pay_Paid00000001", 25050, status=status, notes={"reason": "dup"}
    )
    payment = payment_entity("pay_Paid00000001", 100000, method="upi", notes=METADATA)
    payload = {"refund": {"entity": refund}, "payment": {"entity": payment}}
    body, headers = signed_webhook(event_name, payload, WEBHOOK_SECRET)

    event = offline_gateway().parse_webhook(body, headers)

    assert event.kind == kind
    assert event.provider_refund_id == "rfnd_Refund000001"
    assert event.provider_payment_id == "pay_Paid00000001"
    assert event.amount == inr("250.50")
    assert event.method == "upi"
    assert event.metadata == {**METADATA, "reason": "dup"}
    assert bool(event.failure_reason) == (kind == EventKind.REFUND_FAILED)


@pytest.mark.parametrize(
    ("token", "method", "label"),
    [
        (token_entity("token_Card00000001", card_last4="1111"), "card", "Visa •••• 1111"),
        (
            token_entity("token_Upi000000001", method="upi", vpa_username="asha.rao"),
            "upi",
            "UPI mandate as***@okhdfcbank",
        ),
        (token_entity("token_Emandate0001", method="emandate"), "netbanking", "eMandate HDFC"),
    ],
)
def test_token_confirmed_is_method_saved(token, method, label):
    body, headers = signed_webhook("token.confirmed", {"token": {"entity": token}}, WEBHOOK_SECRET)

    event = offline_gateway().parse_webhook(body, headers)

    assert event.kind == EventKind.METHOD_SAVED
    assert event.provider_method_id == token["id"]
    assert event.provider_customer_id == "cust_FakeCustomer01"
    assert event.method == method
    assert event.method_label == label
    assert event.amount is None


@pytest.mark.parametrize("event_name", ["payment.authorized", "order.paid", "refund.created"])
def test_other_verified_events_are_ignored(event_name):
    payload = {"payment": {"entity": payment_entity("pay_Other0000001", 100)}}
    body, headers = signed_webhook(event_name, payload, WEBHOOK_SECRET, event_id="EvtOther000001")
    event = offline_gateway().parse_webhook(body, headers)
    assert event.kind == EventKind.IGNORED
    assert event.event_id == "EvtOther000001"


def test_headers_are_case_insensitive_and_event_id_falls_back_deterministically():
    payload = {"payment": {"entity": payment_entity("pay_Header000001", 100)}}
    body, headers = signed_webhook("payment.captured", payload, WEBHOOK_SECRET)
    lower = {"x-razorpay-signature": headers["X-Razorpay-Signature"]}  # no event id header
    wsgi = {"HTTP_X_RAZORPAY_SIGNATURE": headers["X-Razorpay-Signature"]}

    first = offline_gateway().parse_webhook(body, lower)
    again = offline_gateway().parse_webhook(body, wsgi)

    assert first.kind == EventKind.PAYMENT_SUCCEEDED
    assert first.event_id == again.event_id == "payment.captured:pay_Header000001"


# -- webhooks: refusals -------------------------------------------------------------------------


def _valid_webhook() -> tuple[bytes, dict[str, str]]:
    payload = {"payment": {"entity": payment_entity("pay_Sig000000001", 49950, notes=METADATA)}}
    return signed_webhook("payment.captured", payload, WEBHOOK_SECRET)


def test_bad_signature_is_refused():
    body, headers = _valid_webhook()
    headers["X-Razorpay-Signature"] = "0" * 64
    with pytest.raises(InvalidSignature):
        offline_gateway().parse_webhook(body, headers)


def test_missing_signature_is_refused():
    body, headers = _valid_webhook()
    del headers["X-Razorpay-Signature"]
    with pytest.raises(InvalidSignature):
        offline_gateway().parse_webhook(body, headers)


def test_body_tampered_after_signing_is_refused():
    body, headers = _valid_webhook()
    tampered = body.replace(b'"amount":49950', b'"amount":4995000')
    assert tampered != body
    with pytest.raises(InvalidSignature):
        offline_gateway().parse_webhook(tampered, headers)


def test_signature_with_another_secret_is_refused():
    payload = {"payment": {"entity": payment_entity("pay_Sig000000002", 100)}}
    body, headers = signed_webhook("payment.captured", payload, "someone-elses-secret")
    with pytest.raises(InvalidSignature):
        offline_gateway().parse_webhook(body, headers)


def test_non_ascii_signature_and_non_utf8_body_are_refused():
    body, headers = _valid_webhook()
    with pytest.raises(InvalidSignature):
        offline_gateway().parse_webhook(body, {"X-Razorpay-Signature": "é" * 64})
    with pytest.raises(InvalidSignature):
        offline_gateway().parse_webhook(b"\xff\xfe" + body, headers)


def test_no_configured_webhook_secret_refuses_everything():
    # An empty HMAC key would let anybody sign: even a body "signed" with it is refused.
    payload = {"payment": {"entity": payment_entity("pay_Sig000000003", 100)}}
    body, headers = signed_webhook("payment.captured", payload, "")
    with pytest.raises(InvalidSignature):
        offline_gateway(webhook_secret="").parse_webhook(body, headers)


def _signed_raw(body: bytes) -> tuple[bytes, dict[str, str]]:
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Razorpay-Signature": signature}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2, 3]",
        json.dumps({"event": "payment.captured", "payload": {}}).encode(),
        json.dumps(
            {"event": "payment.captured", "payload": {"payment": {"entity": {"id": "pay_1"}}}}
        ).encode(),
        # A float amount is never read as money.
        b'{"event":"payment.captured","payload":{"payment":{"entity":'
        b'{"id":"pay_1","amount":100.5,"currency":"INR","method":"card"}}}}',
        b'{"event":"refund.processed","payload":{"refund":{"entity":{"id":"rfnd_1",'
        b'"amount":100,"currency":"XYZ"}}}}',
    ],
    ids=["not-json", "not-object", "no-entity", "no-amount", "float-amount", "bad-currency"],
)
def test_malformed_body_after_valid_signature_is_a_gateway_error(body):
    signed_body, headers = _signed_raw(body)
    with pytest.raises(GatewayError) as raised:
        offline_gateway().parse_webhook(signed_body, headers)
    assert not isinstance(raised.value, InvalidSignature)


# -- charge_saved_method ---------------------------------------------------------------------


def charge(gateway: RazorpayGateway, customer_id: str, token: str, key: str, amount="999.00"):
    return gateway.charge_saved_method(
        inr(amount),
        provider_customer_id=customer_id,
        provider_method_id=token,
        description="Auto-pay INV-40",
        metadata={"invoice_id": "40", "customer_id": "3", "purpose": "auto_pay"},
        idempotency_key=key,
    )


def test_charge_saved_method_creates_order_and_recurring_payment(fake, gateway):
    customer = fake.add_customer(email="asha@example.com", contact="+919812345678")

    result = charge(gateway, customer, "token_Asha0000001", "autopay-inv-40-1")

    [order] = fake.requests_to("POST", "/v1/orders")
    assert order.body == {
        "amount": 99900,
        "currency": "INR",
        "receipt": "autopay-inv-40-1",
        "notes": {"invoice_id": "40", "customer_id": "3", "purpose": "auto_pay"},
        "payment_capture": True,
    }
    [recurring] = fake.requests_to("POST", "/v1/payments/create/recurring")
    order_id = next(iter(fake.state.orders))
    assert recurring.body == {
        "email": "asha@example.com",
        "contact": "+919812345678",
        "amount": 99900,
        "currency": "INR",
        "order_id": order_id,
        "customer_id": customer,
        "token": "token_Asha0000001",
        "recurring": "1",
        "description": "Auto-pay INV-40",
        "notes": {"invoice_id": "40", "customer_id": "3", "purpose": "auto_pay"},
    }
    [payment_id] = fake.state.payments
    assert result == ChargeResult(succeeded=True, provider_payment_id=payment_id, amount=inr("999"))


def test_charge_retry_with_same_key_does_not_charge_twice(fake, gateway):
    customer = fake.add_customer()
    first = charge(gateway, customer, "token_Asha0000001", "autopay-inv-41-1")
    again = charge(gateway, customer, "token_Asha0000001", "autopay-inv-41-1")

    assert again == first
    assert len(fake.requests_to("POST", "/v1/payments/create/recurring")) == 1
    assert len(fake.state.orders) == 1


def test_charge_retry_after_an_order_without_payment_reuses_the_order(fake, gateway):
    # A first attempt that died between creating the order and the payment.
    customer = fake.add_customer()
    client = razorpay.Client(auth=(fake.key_id, fake.key_secret), base_url=fake.url)
    order = client.order.create(
        {"amount": 99900, "currency": "INR", "receipt": "autopay-inv-47-1", "notes": {}}
    )

    result = charge(gateway, customer, "token_Asha0000001", "autopay-inv-47-1")

    assert result.succeeded
    assert len(fake.state.orders) == 1
    [recurring] = fake.requests_to("POST", "/v1/payments/create/recurring")
    assert recurring.body["order_id"] == order["id"]


def test_charge_declined_is_a_failed_result(fake, gateway):
    customer = fake.add_customer()

    result = charge(gateway, customer, FakeRazorpay.DECLINED_TOKEN, "autopay-inv-42-1")

    assert result.succeeded is False
    assert result.pending is False
    assert result.failure_reason == FakeRazorpay.DECLINE_MESSAGE
    # A retry with the same key reports the same decline, naming the failed payment.
    again = charge(gateway, customer, FakeRazorpay.DECLINED_TOKEN, "autopay-inv-42-1")
    assert (again.succeeded, again.failure_reason) == (False, FakeRazorpay.DECLINE_MESSAGE)
    assert again.provider_payment_id in fake.state.payments
    assert len(fake.requests_to("POST", "/v1/payments/create/recurring")) == 1


def test_charge_not_yet_debited_is_pending(fake, gateway):
    customer = fake.add_customer()

    result = charge(gateway, customer, FakeRazorpay.PENDING_TOKEN, "autopay-inv-43-1")

    assert result.pending is True
    assert result.succeeded is False
    assert result.provider_payment_id in fake.state.payments


def test_charge_for_unknown_customer_is_a_gateway_error(fake, gateway):
    with pytest.raises(GatewayError, match="does not exist"):
        charge(gateway, "cust_Unknown000001", "token_Asha0000001", "autopay-inv-44-1")
    assert fake.state.orders == {}  # nothing created for a charge that cannot be made


def test_charge_refuses_an_id_that_could_reroute_the_call(fake, gateway):
    with pytest.raises(InvalidRequest):
        charge(gateway, "cust_1/../../payments", "token_Asha0000001", "autopay-inv-45-1")
    assert fake.requests == []


def test_charge_unreachable_is_a_gateway_error():
    gateway = RazorpayGateway(
        GatewayConfig("razorpay", "rzp_test_x", "secret_x", WEBHOOK_SECRET, closed_port_url())
    )
    with pytest.raises(GatewayError):
        charge(gateway, "cust_Asha00000001", "token_Asha0000001", "autopay-inv-46-1")


# -- refund ------------------------------------------------------------------------------------


def test_refund_sends_paise_speed_reason_and_receipt(fake, gateway):
    payment_id = fake.add_captured_payment(100000, notes=METADATA)

    result = gateway.refund(
        payment_id, inr("250.50"), reason="duplicate payment", idempotency_key="refund-7"
    )

    [sent] = fake.requests_to("POST", rf"/v1/payments/{payment_id}/refund")
    assert sent.body == {
        "amount": 25050,
        "speed": "normal",
        "notes": {"reason": "duplicate payment"},
        "receipt": "refund-7",
    }
    [refund_id] = fake.state.refunds
    assert result == RefundResult(provider_refund_id=refund_id, succeeded=True)


def test_refund_pending_at_razorpay_is_pending(fake, gateway):
    fake.refund_status = "pending"
    payment_id = fake.add_captured_payment(100000)
    result = gateway.refund(payment_id, inr("10.00"), reason="", idempotency_key="refund-8")
    assert (result.succeeded, result.pending) == (False, True)


def test_refund_more_than_captured_is_a_gateway_error(fake, gateway):
    payment_id = fake.add_captured_payment(10000)
    with pytest.raises(GatewayError, match="greater than amount captured"):
        gateway.refund(payment_id, inr("100.01"), reason="x", idempotency_key="refund-9")
    assert fake.state.refunds == {}


def test_refund_same_key_twice_refunds_once(fake, gateway):
    payment_id = fake.add_captured_payment(100000)

    first = gateway.refund(payment_id, inr("300.00"), reason="x", idempotency_key="refund-10")
    again = gateway.refund(payment_id, inr("300.00"), reason="x", idempotency_key="refund-10")

    assert again == first
    assert len(fake.state.refunds) == 1
    assert fake.state.payments[payment_id]["amount_refunded"] == 30000
    with pytest.raises(GatewayError, match="another amount"):
        gateway.refund(payment_id, inr("301.00"), reason="x", idempotency_key="refund-10")


def test_refund_unknown_payment_is_a_gateway_error(gateway):
    with pytest.raises(GatewayError, match="does not exist"):
        gateway.refund("pay_Unknown000001", inr("1.00"), reason="x", idempotency_key="refund-11")


# -- properties ----------------------------------------------------------------------------------


def test_mask_vpa_never_shows_the_whole_id():
    assert mask_vpa("gaurav.kumar@okhdfcbank") == "ga***@okhdfcbank"
    assert mask_vpa("abc@ybl") == "a***@ybl"


@given(paise=st.integers(min_value=1, max_value=10**13))
def test_webhook_amount_round_trips_paise_exactly(paise):
    payload = {"payment": {"entity": payment_entity("pay_Prop00000001", paise)}}
    body, headers = signed_webhook("payment.captured", payload, WEBHOOK_SECRET)
    event = offline_gateway().parse_webhook(body, headers)
    assert event.amount == Money.from_minor_units(paise, "INR")
    assert event.amount.to_minor_units() == paise


@settings(max_examples=25, deadline=None)
@given(paise=st.integers(min_value=100, max_value=10**13))
def test_checkout_sends_exact_paise(shared_fake, paise):
    gateway = RazorpayGateway(config_for(shared_fake))
    amount = Money.from_minor_units(paise, "INR")
    result = gateway.create_checkout(
        amount, description="x", metadata={}, idempotency_key=f"prop-{paise}"
    )
    assert shared_fake.state.links[result.provider_id]["amount"] == paise
