"""Checkout links and webhooks through Stripe (its SDK against the local fake), on a
real database: what is recorded, what counts once, what is refused."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from octet.billing.models import Invoice
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.core.models import AuditEntry
from octet.gateways import services
from octet.gateways.models import CheckoutLink, GatewayAccount, SavedMethod, WebhookEvent
from octet.payments import services as payments
from octet.payments.models import Allocation, Payment

from .conftest import at


def balances(customer) -> tuple[Decimal, Decimal]:
    due, credit = payments.balances(customer)
    return due.amount, credit.amount


def post_webhook(client, account, body, headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE", None)
    return client.post(
        f"/gateways/{account.name}/webhook", data=body, content_type="application/json", **extra
    )


def pay(stripe_fake, link, **kwargs):
    """The customer pays on Stripe: the checkout.session.completed webhook (body, headers)."""
    session, intent = stripe_fake.pay_session(link.provider_id, **kwargs)
    return stripe_fake.event("checkout.session.completed", session), session, intent


# -- accounts ------------------------------------------------------------------------------


def test_account_secrets_are_encrypted_and_never_audited(stripe_account, stripe_fake):
    stored = GatewayAccount.objects.values().get(pk=stripe_account.pk)
    text = repr(stored)
    assert stripe_fake.secret_key not in text and stripe_fake.webhook_secret not in text
    config = stripe_account.config()
    assert (config.secret_key, config.webhook_secret) == (
        stripe_fake.secret_key,
        stripe_fake.webhook_secret,
    )
    [entry] = AuditEntry.objects.filter(action="gateway.account_added")
    assert "secret" not in repr(entry.after)


def test_bad_accounts_are_refused(operator, stripe_account):
    common = {"secret_key": "sk_x", "webhook_secret": "whsec_x", "actor": "t"}
    with pytest.raises(Conflict):
        services.add_account(provider="stripe", name="stripe", **common)
    for name in ["Stripe", "with space", "a:b", "x" * 21, ""]:
        with pytest.raises(InvalidInput):
            services.add_account(provider="stripe", name=name, **common)
    with pytest.raises(InvalidInput, match="key id"):
        services.add_account(provider="razorpay", name="rzp", **common)
    with pytest.raises(InvalidInput, match="records payments in INR"):
        services.add_account(provider="stripe", name="usd", currency="USD", **common)
    with pytest.raises(InvalidInput):
        services.add_account(provider="paypal", name="pp", **common)
    with pytest.raises(InvalidInput):
        services.add_account(
            provider="stripe", name="s2", secret_key="", webhook_secret="w", actor="t"
        )
    assert GatewayAccount.objects.count() == 1


def test_disabled_account_makes_no_checkouts(stripe_account, invoice):
    services.set_account_enabled(stripe_account, False, actor="t", reason="moving to razorpay")
    with pytest.raises(NotFound, match="octet gateway add"):
        services.checkout_for_invoice(invoice, actor="t")
    stripe_account.refresh_from_db()
    with pytest.raises(Conflict, match="disabled"):
        services.checkout_for_invoice(invoice, account=stripe_account, actor="t")
    assert AuditEntry.objects.filter(action="gateway.account_disabled").count() == 1


# -- checkout ------------------------------------------------------------------------------


def test_checkout_link_for_an_open_invoice(stripe_account, stripe_fake, invoice, asha):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    assert (link.amount, link.currency, link.purpose) == (Decimal("646.460"), "INR", "invoice")
    assert (link.customer, link.invoice, link.status) == (asha, invoice, "created")
    assert link.url.startswith(stripe_fake.url)
    [request] = stripe_fake.requests_to("POST", "/v1/checkout/sessions")
    assert request.params["line_items"][0]["price_data"]["unit_amount"] == "64646"
    assert request.params["line_items"][0]["price_data"]["currency"] == "inr"
    assert request.params["metadata"] == {
        "purpose": "invoice",
        "invoice_id": str(invoice.pk),
        "customer_id": str(asha.pk),
        "checkout": link.idempotency_key,
    }
    assert request.idempotency_key == link.idempotency_key
    assert request.params["customer_email"] == "asha@example.in"
    # Again, nothing changed: the same link, and Stripe was not asked again.
    assert services.checkout_for_invoice(invoice, actor="clerk") == link
    assert len(stripe_fake.requests_to("POST", "/v1/checkout/sessions")) == 1
    assert AuditEntry.objects.filter(action="checkout.created").count() == 1


def test_new_link_when_the_open_amount_changed_or_the_link_is_stale(
    stripe_account, stripe_fake, invoice, asha
):
    first = services.checkout_for_invoice(invoice, actor="clerk")
    payments.record_payment(asha, "100.00", "cash", actor="clerk")
    second = services.checkout_for_invoice(invoice, actor="clerk")
    assert second != first and second.amount == Decimal("546.460")
    clock.set_time(clock.now() + services.LINK_REUSE_FOR + timedelta(minutes=1))
    third = services.checkout_for_invoice(invoice, actor="clerk")
    assert third not in (first, second)
    assert third.idempotency_key.endswith(":1")
    second.refresh_from_db()
    assert second.status == "expired"
    assert len(stripe_fake.sessions) == 3


def test_no_checkout_for_what_cannot_be_paid(stripe_account, invoice, asha):
    payments.record_payment(asha, "646.46", "cash", actor="clerk", to_invoice=invoice)
    with pytest.raises(Conflict, match="nothing left to pay"):
        services.checkout_for_invoice(invoice, actor="clerk")
    draft = Invoice(customer=asha, currency="INR", created_at=clock.now(), tax_regime="in_gst")
    draft.save()
    with pytest.raises(Conflict, match="not an issued invoice"):
        services.checkout_for_invoice(draft, actor="clerk")
    assert CheckoutLink.objects.count() == 0


def test_top_up_checkout_and_payment_become_credit(stripe_account, stripe_fake, asha, client):
    for amount in ["0.50", "100001", "ten", "-5", "1.001"]:
        with pytest.raises(InvalidInput):
            services.checkout_for_top_up(asha, amount, actor="asha")
    link = services.checkout_for_top_up(asha, "500", actor="asha")
    assert (link.purpose, link.invoice, link.amount) == ("top_up", None, Decimal("500.000"))
    assert services.checkout_for_top_up(asha, "500.00", actor="asha") == link
    [request] = stripe_fake.requests_to("POST", "/v1/checkout/sessions")
    assert request.params["metadata"]["purpose"] == "top_up"
    (body, headers), _, _ = pay(stripe_fake, link)
    assert post_webhook(client, stripe_account, body, headers).status_code == 200
    assert balances(asha) == (Decimal("0.00"), Decimal("500.00"))
    link.refresh_from_db()
    assert link.status == "paid"


# -- webhooks: payments --------------------------------------------------------------------


def test_paid_webhook_records_the_payment_and_settles_the_invoice(
    stripe_account, stripe_fake, invoice, asha, client
):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    (body, headers), session, intent = pay(stripe_fake, link)
    response = post_webhook(client, stripe_account, body, headers)
    assert (response.status_code, response.content) == (200, b"ok")
    assert response["Content-Type"].startswith("text/plain")
    payment = Payment.objects.get()
    assert (payment.amount, payment.method, payment.gateway) == (
        Decimal("646.460"),
        "card",
        "stripe",
    )
    assert payment.gateway_payment_id == intent["id"]
    assert payment.reference == intent["id"]
    assert payment.actor == "gateway:stripe"
    assert balances(asha) == (Decimal("0.00"), Decimal("0.00"))
    assert [(a.invoice_id, a.amount) for a in payment.allocations.all()] == [
        (invoice.pk, Decimal("646.460"))
    ]
    link.refresh_from_db()
    assert (link.status, link.payment) == ("paid", payment)
    assert link.provider_customer_id == ""  # not saved: Stripe made no customer
    event = WebhookEvent.objects.get()
    assert (event.kind, event.provider_payment_id) == ("payment.succeeded", intent["id"])
    assert event.outcome == f"recorded payment {payment.pk}"


def test_a_replay_changes_nothing(stripe_account, stripe_fake, invoice, client):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    (body, headers), _, intent = pay(stripe_fake, link)
    for _ in range(3):
        assert post_webhook(client, stripe_account, body, headers).status_code == 200
    assert Payment.objects.count() == 1
    assert WebhookEvent.objects.count() == 1
    # The same payment in another event (payment_intent.succeeded) still counts once.
    other = stripe_fake.event("payment_intent.succeeded", intent)
    assert post_webhook(client, stripe_account, *other).status_code == 200
    assert Payment.objects.count() == 1 and Allocation.objects.count() == 1
    assert WebhookEvent.objects.count() == 2
    assert WebhookEvent.objects.last().outcome.startswith("payment ")


def test_bad_signature_answers_400_and_writes_nothing(
    stripe_account, stripe_fake, invoice, client, caplog
):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    session, _ = stripe_fake.pay_session(link.provider_id)
    body, headers = stripe_fake.event("checkout.session.completed", session)
    forged = body.replace(b'"amount_total":64646', b'"amount_total":100')
    response = post_webhook(client, stripe_account, forged, headers)
    assert (response.status_code, response.content) == (400, b"invalid signature")
    stale = stripe_fake.event(
        "checkout.session.completed", session, timestamp=int(time.time()) - 301
    )
    assert post_webhook(client, stripe_account, *stale).status_code == 400
    assert post_webhook(client, stripe_account, body, {}).status_code == 400
    assert Payment.objects.count() == 0 and WebhookEvent.objects.count() == 0
    link.refresh_from_db()
    assert link.status == "created"
    logged = caplog.text
    assert "signature does not verify" in logged
    assert stripe_fake.webhook_secret not in logged and "amount_total" not in logged
    assert "Traceback" not in response.content.decode()


def test_webhook_urls_refuse_what_they_do_not_serve(stripe_account, client):
    assert client.post("/gateways/nosuch/webhook", data=b"{}", content_type="x").status_code == 404
    assert client.get("/gateways/stripe/webhook").status_code == 405
    response = post_webhook(client, stripe_account, b"not json", {"Stripe-Signature": "t=1"})
    assert response.status_code == 400


def test_an_oversized_webhook_is_refused(stripe_account, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = post_webhook(client, stripe_account, b"x" * 1000, {"Stripe-Signature": "t=1"})
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_a_failure_inside_answers_500_so_the_provider_retries(
    stripe_account, stripe_fake, invoice, client, monkeypatch
):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    (body, headers), _, _ = pay(stripe_fake, link)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(payments, "record_payment", broken)
    response = post_webhook(client, stripe_account, body, headers)
    assert response.status_code == 500
    assert b"database" not in response.content and b"Traceback" not in response.content
    assert WebhookEvent.objects.count() == 0  # rolled back with the rest: delivered again
    monkeypatch.undo()
    assert post_webhook(client, stripe_account, body, headers).status_code == 200
    assert Payment.objects.count() == 1


def test_wrong_currency_is_not_recorded(stripe_account, stripe_fake, invoice, asha, caplog):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    (body, headers), _, _ = pay(stripe_fake, link, currency="usd")
    outcome = services.handle_webhook(stripe_account, body, headers)
    assert outcome == "rejected: currency USD instead of INR"
    assert Payment.objects.count() == 0
    assert WebhookEvent.objects.get().outcome == outcome
    assert any(r.levelname == "ERROR" and "NOT recorded" in r.message for r in caplog.records)
    assert AuditEntry.objects.filter(action="gateway.payment_rejected").count() == 1
    assert balances(asha) == (Decimal("646.46"), Decimal("0.00"))


def test_more_than_open_settles_the_invoice_and_the_rest_is_credit(
    stripe_account, stripe_fake, invoice, asha
):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    (body, headers), _, _ = pay(stripe_fake, link, amount=70000)
    outcome = services.handle_webhook(stripe_account, body, headers)
    assert "the rest is credit" in outcome and "asked for 646.46 INR" in outcome
    assert balances(asha) == (Decimal("0.00"), Decimal("53.54"))
    assert Payment.objects.get().amount == Decimal("700.000")


def test_less_than_open_settles_part(stripe_account, stripe_fake, invoice, asha):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    (body, headers), _, _ = pay(stripe_fake, link, amount=40000)
    assert "settled in part" in services.handle_webhook(stripe_account, body, headers)
    assert balances(asha) == (Decimal("246.46"), Decimal("0.00"))


def test_invoice_paid_by_a_clerk_first_becomes_credit(stripe_account, stripe_fake, invoice, asha):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    payments.record_payment(asha, "646.46", "cash", actor="clerk", to_invoice=invoice)
    (body, headers), _, _ = pay(stripe_fake, link)
    outcome = services.handle_webhook(stripe_account, body, headers)
    assert "already settled: kept as credit" in outcome
    assert balances(asha) == (Decimal("0.00"), Decimal("646.46"))
    assert Payment.objects.count() == 2


def test_invoice_settled_between_the_check_and_the_payment_becomes_credit(
    stripe_account, stripe_fake, invoice, asha, monkeypatch
):
    """record_payment refuses to_invoice (Conflict) when a clerk settled it in between:
    the webhook records the money anyway, as credit."""
    link = services.checkout_for_invoice(invoice, actor="clerk")
    (body, headers), _, _ = pay(stripe_fake, link)
    real = services._open_amount
    monkeypatch.setattr(services, "_open_amount", lambda inv: real(inv))

    def clerk_first(inv):
        amount = real(inv)
        payments.record_payment(asha, "646.46", "cash", actor="clerk", to_invoice=inv)
        return amount

    monkeypatch.setattr(services, "_open_amount", clerk_first)
    outcome = services.handle_webhook(stripe_account, body, headers)
    assert "settled meanwhile: kept as credit" in outcome
    assert balances(asha) == (Decimal("0.00"), Decimal("646.46"))


def test_payment_without_octet_metadata_is_left_for_staff(stripe_account, stripe_fake, caplog):
    intent = {
        "id": "pi_foreign",
        "object": "payment_intent",
        "amount": 1000,
        "amount_received": 1000,
        "currency": "inr",
        "metadata": {},
    }
    outcome = services.handle_webhook(
        stripe_account, *stripe_fake.event("payment_intent.succeeded", intent)
    )
    assert outcome.startswith("ignored: no Octet customer")
    assert Payment.objects.count() == 0
    assert "pi_foreign" in caplog.text


def test_a_checkout_payment_failure_changes_nothing(stripe_account, stripe_fake, invoice):
    link = services.checkout_for_invoice(invoice, actor="clerk")
    session = dict(stripe_fake.sessions[link.provider_id], status="complete")
    body, headers = stripe_fake.event("checkout.session.async_payment_failed", session)
    assert services.handle_webhook(stripe_account, body, headers).startswith("noted")
    assert Payment.objects.count() == 0


# -- saving a method for auto-pay ----------------------------------------------------------


def test_checkout_that_saves_the_card_for_auto_pay(stripe_account, stripe_fake, invoice, asha):
    link = services.checkout_for_invoice(invoice, save_method=True, actor="asha")
    assert link.save_method
    [request] = stripe_fake.requests_to("POST", "/v1/checkout/sessions")
    assert request.params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert request.params["metadata"]["save_method"] == "1"
    (body, headers), session, intent = pay(stripe_fake, link, payment_method="pm_card_visa")
    # Stripe tells the method attached before the payment: not known yet, so left alone.
    method = stripe_fake.payment_method_object("pm_card_visa", customer=session["customer"])
    early = stripe_fake.event("payment_method.attached", method)
    assert services.handle_webhook(stripe_account, *early).startswith("ignored")
    services.handle_webhook(stripe_account, body, headers)
    link.refresh_from_db()
    assert link.provider_customer_id == session["customer"]
    assert SavedMethod.objects.count() == 0  # the session event names no method
    outcome = services.handle_webhook(
        stripe_account, *stripe_fake.event("payment_intent.succeeded", intent)
    )
    assert "method saved for auto-pay" in outcome
    saved = SavedMethod.objects.get()
    assert (saved.customer, saved.provider_method_id, saved.provider_customer_id) == (
        asha,
        "pm_card_visa",
        session["customer"],
    )
    assert saved.auto_pay and saved.revoked_at is None
    assert saved.label == "Card saved at checkout"
    # Delivered again later: now it gives the card's label.
    again = stripe_fake.event("payment_method.attached", method)
    assert services.handle_webhook(stripe_account, *again).startswith("updated")
    saved.refresh_from_db()
    assert saved.label == "Visa •••• 4242"
    assert Payment.objects.count() == 1


def test_method_attached_for_a_known_provider_customer(stripe_account, stripe_fake, invoice, asha):
    link = services.checkout_for_invoice(invoice, save_method=True, actor="asha")
    (body, headers), session, _ = pay(stripe_fake, link, payment_method="pm_card_visa")
    services.handle_webhook(stripe_account, body, headers)
    method = stripe_fake.payment_method_object(
        "pm_card_mastercard", customer=session["customer"], brand="mastercard", last4="4444"
    )
    outcome = services.handle_webhook(
        stripe_account, *stripe_fake.event("payment_method.attached", method)
    )
    assert outcome.startswith("saved method")
    saved = SavedMethod.objects.get()
    assert (saved.customer, saved.label, saved.auto_pay) == (asha, "Mastercard •••• 4444", True)


def test_a_method_from_a_checkout_that_did_not_ask_is_not_saved(
    stripe_account, stripe_fake, invoice
):
    link = services.checkout_for_invoice(invoice, actor="asha")
    _, _, intent = pay(stripe_fake, link)
    services.handle_webhook(stripe_account, *stripe_fake.event("payment_intent.succeeded", intent))
    assert SavedMethod.objects.count() == 0


# -- concurrency (PostgreSQL) --------------------------------------------------------------


def _race(account, body, headers, asha, invoice) -> list[Exception]:
    """The webhook of a payment of ``invoice`` and a clerk paying it in cash, at once."""
    errors: list[Exception] = []
    start = threading.Barrier(2)

    def webhook() -> None:
        try:
            start.wait()
            services.handle_webhook(account, body, headers)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def clerk() -> None:
        try:
            start.wait()
            payments.record_payment(asha, invoice.total, "cash", actor="clerk", to_invoice=invoice)
        except Conflict:
            pass  # the webhook was first: the clerk is told, nothing is recorded
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=webhook), threading.Thread(target=clerk)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_webhook_and_clerk_at_once_never_settle_more_than_is_open(
    operator, gst18, fiber100, stripe_fake
):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises whole transactions)")
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
    clock.set_time(at(2026, 1, 15, 9))
    outcomes = set()
    for n in range(4):  # a few races: either side may win each
        customer = create_customer(
            {"name": f"Customer {n}", "email": f"c{n}@example.in", "state_code": "29"},
            actor="test",
        )
        subscriptions.subscribe(
            customer, fiber100, username=f"user{n}", password="s3cret-Pass", actor="t"
        )
        invoice = Invoice.objects.get(kind="invoice", customer=customer)
        link = services.checkout_for_invoice(invoice, actor="clerk")
        (body, headers), _, _ = pay(stripe_fake, link)
        assert _race(account, body, headers, customer, invoice) == []
        settled = sum(a.amount for a in Allocation.objects.filter(invoice=invoice))
        assert settled == invoice.total
        received = Payment.objects.filter(customer=customer)
        assert received.filter(gateway="stripe").count() == 1  # the money is always recorded
        due, credit = payments.balances(customer)
        assert due.amount == Decimal("0.00")
        assert credit.amount == sum(p.amount for p in received) - invoice.total
        outcomes.add(received.count())
    assert outcomes <= {1, 2}
