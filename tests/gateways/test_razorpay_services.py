"""The same services through Razorpay (its SDK against the local fake): checkout links,
webhooks, auto-pay on a saved token, and refunds. Only the provider differs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from fakes.razorpay_api import FakeRazorpay, signed_webhook, token_entity
from octet.core import clock
from octet.gateways import services
from octet.gateways.base import InvalidSignature
from octet.gateways.models import AutoPayAttempt, CheckoutLink, SavedMethod, WebhookEvent
from octet.payments import services as payments
from octet.payments.models import Payment, Refund

from .conftest import RAZORPAY_WEBHOOK_SECRET

DAY = timedelta(days=1)


def webhook(event: str, payload: dict, **kwargs):
    return signed_webhook(event, payload, RAZORPAY_WEBHOOK_SECRET, **kwargs)


def balances(customer) -> tuple[Decimal, Decimal]:
    due, credit = payments.balances(customer)
    return due.amount, credit.amount


def test_payment_link_for_an_open_invoice(razorpay_account, razorpay_fake, invoice, asha):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    assert link.provider_id.startswith("plink_") and link.url.startswith("https://rzp.io/i/")
    [request] = razorpay_fake.requests_to("POST", "/v1/payment_links/?")
    assert (request.body["amount"], request.body["currency"]) == (64646, "INR")
    assert request.body["notes"] == {
        "purpose": "invoice",
        "invoice_id": str(invoice.pk),
        "customer_id": str(asha.pk),
        "checkout": link.idempotency_key,
    }
    assert request.body["customer"]["email"] == "asha@example.in"
    assert services.checkout_for_invoice(invoice, actor="clerk") == link
    assert len(razorpay_fake.requests_to("POST", "/v1/payment_links/?")) == 1


def test_paid_link_records_the_payment_once(razorpay_account, razorpay_fake, invoice, asha):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    payload = razorpay_fake.pay_link(link.provider_id, method="upi")
    body, headers = webhook("payment_link.paid", payload)
    outcome = services.handle_webhook(razorpay_account, body, headers)
    payment = Payment.objects.get()
    assert outcome == f"recorded payment {payment.pk}"
    assert (payment.method, payment.gateway, payment.amount) == (
        "upi",
        "razorpay-main",
        Decimal("646.460"),
    )
    assert payment.gateway_payment_id == payload["payment"]["entity"]["id"]
    assert balances(asha) == (Decimal("0.00"), Decimal("0.00"))
    link.refresh_from_db()
    assert (link.status, link.payment) == ("paid", payment)
    # Razorpay delivers again (same event id), and sends payment.captured for it too.
    assert services.handle_webhook(razorpay_account, body, headers).startswith("duplicate")
    captured = webhook("payment.captured", {"payment": payload["payment"]})
    assert "already recorded" in services.handle_webhook(razorpay_account, *captured)
    assert Payment.objects.count() == 1 and WebhookEvent.objects.count() == 2


def test_bad_signature_and_wrong_currency(razorpay_account, razorpay_fake, invoice, client):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    payload = razorpay_fake.pay_link(link.provider_id)
    body, headers = signed_webhook("payment_link.paid", payload, "another secret")
    with pytest.raises(InvalidSignature):
        services.handle_webhook(razorpay_account, body, headers)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = client.post(
        "/gateways/razorpay-main/webhook", data=body, content_type="application/json", **extra
    )
    assert response.status_code == 400
    payload["payment"]["entity"]["currency"] = "USD"
    outcome = services.handle_webhook(razorpay_account, *webhook("payment_link.paid", payload))
    assert outcome == "rejected: currency USD instead of INR"
    assert Payment.objects.count() == 0


def test_top_up_then_refund_to_the_original_method(razorpay_account, razorpay_fake, asha):
    link = services.checkout_for_top_up(asha, "1000", actor="asha")
    payload = razorpay_fake.pay_link(link.provider_id, method="card")
    services.handle_webhook(razorpay_account, *webhook("payment_link.paid", payload))
    payment = Payment.objects.get()
    assert balances(asha) == (Decimal("0.00"), Decimal("1000.00"))
    refund = services.refund_to_original(payment, "250", actor="clerk", reason="moving away")
    [request] = razorpay_fake.requests_to("POST", r"/v1/payments/pay_\w+/refund")
    assert request.path == f"/v1/payments/{payment.gateway_payment_id}/refund"
    assert request.body["amount"] == 25000
    assert (refund.status, refund.method, refund.gateway) == ("succeeded", "card", "razorpay-main")
    assert refund.gateway_refund_id.startswith("rfnd_")
    assert balances(asha) == (Decimal("0.00"), Decimal("750.00"))
    # A slow refund: pending, then Razorpay's refund.processed completes it.
    razorpay_fake.refund_status = "pending"
    slow = services.refund_to_original(payment, "50", actor="clerk", reason="rest")
    assert slow.status == "pending"
    entity = dict(razorpay_fake.state.refunds[slow.gateway_refund_id], status="processed")
    outcome = services.handle_webhook(
        razorpay_account, *webhook("refund.processed", {"refund": {"entity": entity}})
    )
    assert outcome == f"refund {slow.pk} paid out"
    assert Refund.objects.get(pk=slow.pk).status == "succeeded"


def test_mandate_confirmed_after_a_checkout_that_asked_to_save(
    razorpay_account, razorpay_fake, invoice, asha
):
    link = services.checkout_for_invoice(invoice, save_method=True, actor="asha")
    payload = razorpay_fake.pay_link(link.provider_id, customer_id="cust_FakeCustomer01")
    services.handle_webhook(razorpay_account, *webhook("payment_link.paid", payload))
    token = token_entity("token_Mandate0001", method="upi", customer_id="cust_FakeCustomer01")
    outcome = services.handle_webhook(
        razorpay_account, *webhook("token.confirmed", {"token": {"entity": token}})
    )
    assert outcome.startswith("saved method")
    saved = SavedMethod.objects.get()
    assert (saved.customer, saved.method, saved.auto_pay) == (asha, "upi", True)
    assert saved.label == "UPI mandate ga***@okhdfcbank"
    assert saved.provider_customer_id == "cust_FakeCustomer01"


def test_token_of_an_unknown_customer_is_ignored(razorpay_account, razorpay_fake, operator):
    token = token_entity("token_Unknown0001", customer_id="cust_Nobody000001")
    outcome = services.handle_webhook(
        razorpay_account, *webhook("token.confirmed", {"token": {"entity": token}})
    )
    assert outcome.startswith("ignored")
    assert SavedMethod.objects.count() == 0


@pytest.fixture
def razorpay_customer(razorpay_fake: FakeRazorpay) -> str:
    return razorpay_fake.add_customer("Asha Rao", "asha@example.in", "+919845012345")


def save_token(account, customer, provider_customer, token):
    return services.add_saved_method(
        customer,
        account,
        provider_customer_id=provider_customer,
        provider_method_id=token,
        label="Visa •••• 1111",
        actor="asha",
    )


def test_auto_pay_on_a_razorpay_token(
    razorpay_account, razorpay_fake, razorpay_customer, invoice, asha
):
    save_token(razorpay_account, asha, razorpay_customer, "token_Ok000000001")
    run = services.run_auto_pay(clock.now())
    assert (run.attempted, run.succeeded) == (1, 1)
    [order] = razorpay_fake.requests_to("POST", "/v1/orders/?")
    assert order.body["amount"] == 64646
    assert order.body["notes"]["purpose"] == "auto_pay"
    [recurring] = razorpay_fake.requests_to("POST", "/v1/payments/create/recurring")
    assert recurring.body["token"] == "token_Ok000000001"
    attempt = AutoPayAttempt.objects.get()
    payment = Payment.objects.get()
    assert (attempt.status, attempt.payment) == ("succeeded", payment)
    assert payment.gateway == "razorpay-main"
    assert balances(asha) == (Decimal("0.00"), Decimal("0.00"))
    # Razorpay's payment.captured of the same charge (notes name the attempt): no change.
    entity = razorpay_fake.state.payments[payment.gateway_payment_id]
    captured = webhook("payment.captured", {"payment": {"entity": entity}})
    assert "already recorded" in services.handle_webhook(razorpay_account, *captured)
    assert Payment.objects.count() == 1


def test_declined_token_is_retried_on_schedule(
    razorpay_account, razorpay_fake, razorpay_customer, invoice, asha
):
    t0 = clock.now()
    save_token(razorpay_account, asha, razorpay_customer, razorpay_fake.DECLINED_TOKEN)
    run = services.run_auto_pay(t0)
    assert (run.attempted, run.failed) == (1, 1)
    attempt = AutoPayAttempt.objects.get()
    assert attempt.failure_reason == razorpay_fake.DECLINE_MESSAGE
    assert attempt.next_retry_at == t0 + DAY
    assert services.next_auto_pay_due(t0) == t0 + DAY
    clock.set_time(t0 + DAY)
    assert services.run_auto_pay(t0 + DAY).failed == 1
    assert AutoPayAttempt.objects.get(attempt=2).next_retry_at == t0 + 3 * DAY
    assert Payment.objects.count() == 0


def test_pending_mandate_debit_is_settled_by_webhook(
    razorpay_account, razorpay_fake, razorpay_customer, invoice, asha
):
    save_token(razorpay_account, asha, razorpay_customer, razorpay_fake.PENDING_TOKEN)
    assert services.run_auto_pay(clock.now()).pending == 1
    attempt = AutoPayAttempt.objects.get()
    assert attempt.status == "pending" and attempt.next_retry_at is None
    entity = dict(razorpay_fake.state.payments[attempt.provider_payment_id], status="captured")
    outcome = services.handle_webhook(
        razorpay_account, *webhook("payment.captured", {"payment": {"entity": entity}})
    )
    assert outcome.startswith("recorded payment")
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert balances(asha) == (Decimal("0.00"), Decimal("0.00"))
    assert CheckoutLink.objects.count() == 0
