"""Payments, refunds, allocations; Idempotency-Key on money."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from octet.api.idempotency import KEEP
from octet.api.models import IdempotencyKey
from octet.core import clock
from octet.core.models import AuditEntry
from octet.core.periods import local_date
from octet.payments import services as payments
from octet.payments.models import Payment, Refund

from .client import Api, error_of


def _pay(api: Api, customer_id: int, amount: str = "100.00", key: str | None = None, **extra):
    headers = {"Idempotency-Key": key} if key else None
    body = {"customer_id": customer_id, "amount": amount, "method": "upi"} | extra
    return api.post("/payments", body, headers)


def test_record_a_payment(billing_api, asha_invoice):
    response = _pay(billing_api, asha_invoice.customer_id, "100.00", reference="UTR123")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"] == "100.00" and body["currency"] == "INR"
    assert body["receipt_number"].startswith("RCPT/")
    assert body["allocations"][0]["invoice_id"] == asha_invoice.pk
    assert body["allocations"][0]["amount"] == "100.00"
    payment = Payment.objects.get()
    assert payment.actor == "api:test-billing-all" and payment.reference == "UTR123"
    assert AuditEntry.objects.get(action="payment.received").actor == "api:test-billing-all"
    assert billing_api.get(f"/payments/{payment.pk}").json() == body


def test_the_same_key_records_one_payment(billing_api, asha_invoice):
    first = _pay(billing_api, asha_invoice.customer_id, key="pay-1")
    second = _pay(billing_api, asha_invoice.customer_id, key="pay-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1
    # Same JSON, other spacing and order: the same request.
    customer_id = asha_invoice.customer_id
    raw = f'{{ "method": "upi",  "amount": "100.00", "customer_id": {customer_id} }}'
    third = billing_api.post("/payments", raw, {"Idempotency-Key": "pay-1"})
    assert third.status_code == 201 and third.json() == first.json()
    assert Payment.objects.count() == 1


def test_the_same_key_for_another_payment_is_422(billing_api, asha_invoice):
    assert _pay(billing_api, asha_invoice.customer_id, "100.00", key="pay-1").status_code == 201
    response = _pay(billing_api, asha_invoice.customer_id, "200.00", key="pay-1")
    assert response.status_code == 422
    assert "another request" in error_of(response)["detail"]
    assert Payment.objects.count() == 1


def test_keys_are_per_token(make_token, asha_invoice):
    one, two = Api(make_token("billing", name="a")), Api(make_token("billing", name="b"))
    _pay(one, asha_invoice.customer_id, key="same")
    _pay(two, asha_invoice.customer_id, key="same")
    assert Payment.objects.count() == 2


def test_keys_expire(billing_api, asha_invoice):
    _pay(billing_api, asha_invoice.customer_id, key="old")
    with clock.frozen_at(clock.now() + KEEP + timedelta(minutes=1)):
        response = _pay(billing_api, asha_invoice.customer_id, key="old")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Payment.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1


def test_without_a_key_each_post_is_a_payment(billing_api, asha_invoice):
    _pay(billing_api, asha_invoice.customer_id)
    _pay(billing_api, asha_invoice.customer_id)
    assert Payment.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey", "ключ"])
def test_bad_keys_are_400(billing_api, asha_invoice, key):
    response = billing_api.client.post(
        "/api/v1/payments",
        data={"customer_id": asha_invoice.customer_id, "amount": "1.00", "method": "upi"},
        content_type="application/json",
        headers=billing_api._headers({"Idempotency-Key": key}),
    )
    assert response.status_code == 400
    assert error_of(response)["field"] == "Idempotency-Key"
    assert Payment.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"amount": "0"}, 400, "amount"),
        ({"amount": "-100.00"}, 400, "amount"),
        ({"amount": "1.005"}, 400, "amount"),
        ({"amount": "1e3"}, 400, "amount"),
        ({"amount": 100}, 400, "amount"),
        ({"amount": "1000000000000000"}, 400, "amount"),
        ({"method": "bitcoin"}, 400, "method"),
        ({"method": "voucher"}, 400, "method"),
        ({"method": "card"}, 400, "method"),  # a card payment comes through a gateway
        ({"customer_id": 999999999}, 404, None),
        ({"invoice_id": 999999999}, 404, None),
        ({"reference": "r" * 101}, 400, "reference"),
        ({"note": "a\u0000b"}, 400, "note"),
    ],
)
def test_bad_payments_write_nothing(billing_api, asha_invoice, changes, status, field):
    body = {"customer_id": asha_invoice.customer_id, "amount": "100.00", "method": "upi"}
    entries = AuditEntry.objects.count()
    response = billing_api.post("/payments", body | changes, {"Idempotency-Key": "k1"})
    assert response.status_code == status, response.content
    assert error_of(response)["field"] == field
    assert Payment.objects.count() == 0 and AuditEntry.objects.count() == entries
    assert IdempotencyKey.objects.count() == 0


def test_paying_another_customers_invoice_is_409(billing_api, asha, ravi_invoice):
    response = _pay(billing_api, asha.pk, invoice_id=ravi_invoice.pk)
    assert response.status_code == 409 and error_of(response)["field"] == "invoice"
    assert Payment.objects.count() == 0


def test_reverse_a_payment(billing_api, asha_invoice):
    payment = _pay(billing_api, asha_invoice.customer_id).json()
    response = billing_api.post(f"/payments/{payment['id']}/reverse", {"reason": "bounced"})
    assert response.status_code == 200 and response.json()["status"] == "reversed"
    assert response.json()["allocations"][0]["reversed_at"]
    again = billing_api.post(f"/payments/{payment['id']}/reverse", {"reason": "bounced"})
    assert again.status_code == 409
    assert billing_api.post("/payments/999999999/reverse", {"reason": "x"}).status_code == 404
    assert billing_api.post(f"/payments/{payment['id']}/reverse", {}).status_code == 400


def test_list_payments_by_customer_and_date(read_api, billing_api, asha, ravi):
    _pay(billing_api, asha.pk)
    _pay(billing_api, ravi.pk)
    today = local_date(clock.now(), "Asia/Kolkata")
    assert len(read_api.get("/payments").json()["items"]) == 2
    mine = read_api.get("/payments", {"customer_id": asha.pk}).json()["items"]
    assert [p["customer_id"] for p in mine] == [asha.pk]
    yesterday = str(today - timedelta(days=2))
    assert read_api.get("/payments", {"received_to": yesterday}).json()["items"] == []
    assert len(read_api.get("/payments", {"received_from": yesterday}).json()["items"]) == 2
    bad = read_api.get("/payments", {"received_from": "2026-01-02", "received_to": "2026-01-01"})
    assert bad.status_code == 400 and error_of(bad)["field"] == "received_from"


def test_refunds(billing_api, asha):
    payment = _pay(billing_api, asha.pk, "300.00").json()  # nothing open: all credit
    response = billing_api.post(
        "/refunds",
        {
            "customer_id": asha.pk,
            "amount": "100.00",
            "method": "bank_transfer",
            "reason": "closing",
            "payment_id": payment["id"],
        },
        {"Idempotency-Key": "r1"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "100.00"
    too_much = billing_api.post(
        "/refunds",
        {"customer_id": asha.pk, "amount": "500.00", "method": "upi", "reason": "x"},
    )
    assert too_much.status_code == 409 and error_of(too_much)["field"] == "amount"
    no_reason = billing_api.post(
        "/refunds", {"customer_id": asha.pk, "amount": "5.00", "method": "upi"}
    )
    assert no_reason.status_code == 400
    assert Refund.objects.count() == 1
    assert [r["id"] for r in billing_api.get("/refunds").json()["items"]] == [response.json()["id"]]
    balance = billing_api.get(f"/customers/{asha.pk}/balance").json()
    assert balance["credit"] == "200.00"


def test_allocations(read_api, billing_api, asha_invoice):
    payment = _pay(billing_api, asha_invoice.customer_id, "50.00").json()
    rows = read_api.get("/allocations", {"payment_id": payment["id"]}).json()["items"]
    assert [(r["invoice_id"], r["amount"]) for r in rows] == [(asha_invoice.pk, "50.00")]
    assert read_api.get("/allocations", {"invoice_id": 999999999}).json()["items"] == []
    assert Decimal(
        read_api.get(f"/invoices/{asha_invoice.pk}").json()["open_amount"]
    ) == asha_invoice.total - Decimal("50.00")


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_make_one_payment(make_token, asha_invoice, monkeypatch):
    """Two clients retry at once: the second waits for the first and gets its answer."""
    raw = make_token("billing", name="racer")
    original = payments.record_payment

    def slow(*args, **kwargs):
        result = original(*args, **kwargs)
        time.sleep(0.3)  # hold the transaction (and the key) open a while
        return result

    monkeypatch.setattr(payments, "record_payment", slow)
    barrier = threading.Barrier(2)
    results: list = []

    def call() -> None:
        try:
            barrier.wait()
            results.append(_pay(Api(raw), asha_invoice.customer_id, key="same-key"))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.status_code for r in results) == [201, 201]
    assert results[0].json() == results[1].json()
    assert Payment.objects.count() == 1
    assert sum(r.has_header("Idempotent-Replayed") for r in results) == 1
