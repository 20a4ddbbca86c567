"""Invoices and credit notes: lists, filters, documents, credit notes, write-offs, drafts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from octet.api.models import IdempotencyKey
from octet.billing import ubl
from octet.billing.models import Invoice
from octet.billing.services import draft_invoice
from octet.core import clock
from octet.core.periods import local_date
from octet.payments.models import WriteOff

from .client import error_of


def test_list_with_filters(read_api, asha_invoice, ravi_invoice):
    def ids(**params) -> list[int]:
        response = read_api.get("/invoices", params)
        assert response.status_code == 200, response.content
        return [i["id"] for i in response.json()["items"]]

    assert ids() == [asha_invoice.pk, ravi_invoice.pk]
    assert ids(customer_id=asha_invoice.customer_id) == [asha_invoice.pk]
    assert ids(kind="credit_note") == []
    assert ids(status="issued", kind="invoice") == [asha_invoice.pk, ravi_invoice.pk]
    today = local_date(asha_invoice.issued_at, "Asia/Kolkata")
    assert ids(issued_from=str(today), issued_to=str(today)) == [asha_invoice.pk, ravi_invoice.pk]
    assert ids(issued_to=str(today - timedelta(days=1))) == []
    assert ids(issued_from=str(today + timedelta(days=1))) == []
    assert ids(issued_from="0001-01-01", issued_to="9999-12-31") == [
        asha_invoice.pk,
        ravi_invoice.pk,
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "paid"}, "status"),
        ({"kind": "receipt"}, "kind"),
        ({"issued_from": "2026-02-30"}, "issued_from"),
        ({"issued_from": "2026-03-02", "issued_to": "2026-03-01"}, "issued_from"),
        ({"customer_id": 0}, "customer_id"),
        ({"customer_id": "one"}, "customer_id"),
    ],
)
def test_bad_filters_are_400(read_api, operator, params, field):
    response = read_api.get("/invoices", params)
    assert response.status_code == 400
    assert error_of(response)["field"] == field


def test_an_invoice_with_its_lines_and_open_amount(read_api, asha_invoice):
    body = read_api.get(f"/invoices/{asha_invoice.pk}").json()
    assert body["number"] == asha_invoice.number
    assert body["total"] == body["open_amount"] == f"{asha_invoice.total:.2f}"
    assert body["credited"] == "0.00"
    line = body["lines"][0]
    assert line["unit_price"] == "999.00" and line["tax_rate"] == "18"
    assert {t["name"] for t in line["taxes"]} == {"CGST", "SGST"}
    assert Decimal(line["amount"]) + Decimal(line["tax_amount"]) == Decimal(line["total"])


def test_pdf_and_ubl_downloads(read_api, asha_invoice):
    pdf = read_api.get(f"/invoices/{asha_invoice.pk}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf["Content-Disposition"].endswith('.pdf"')
    xml = read_api.get(f"/invoices/{asha_invoice.pk}/ubl")
    assert xml.status_code == 200 and xml["Content-Type"] == "application/xml"
    ubl.validate_ubl(xml.content)


def test_a_draft_has_no_document(read_api, asha):
    draft = draft_invoice(asha, [{"description": "Router", "unit_price": "1500"}], actor="t")
    for kind in ["pdf", "ubl"]:
        response = read_api.get(f"/invoices/{draft.pk}/{kind}")
        assert response.status_code == 409
        assert "draft" in error_of(response)["detail"]
    assert read_api.get("/invoices/999999999/pdf").status_code == 404


def test_issue_a_credit_note(billing_api, asha_invoice):
    response = billing_api.post(
        f"/invoices/{asha_invoice.pk}/credit-notes", {"amount": "50.00", "reason": "outage"}
    )
    assert response.status_code == 201, response.content
    note = response.json()
    assert note["kind"] == "credit_note" and note["against_id"] == asha_invoice.pk
    assert note["total"] == "50.00" and note["number"].startswith("KFC/")
    invoice = billing_api.get(f"/invoices/{asha_invoice.pk}").json()
    assert invoice["credited"] == "50.00"
    assert Decimal(invoice["open_amount"]) == asha_invoice.total - Decimal("50.00")
    allocations = billing_api.get(f"/invoices/{note['id']}/allocations").json()["items"]
    assert allocations[0]["amount"] == "50.00"


def test_a_credit_note_key_replays(billing_api, asha_invoice):
    body = {"amount": "50.00", "reason": "outage"}
    headers = {"Idempotency-Key": "cn-1"}
    first = billing_api.post(f"/invoices/{asha_invoice.pk}/credit-notes", body, headers)
    again = billing_api.post(f"/invoices/{asha_invoice.pk}/credit-notes", body, headers)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Invoice.objects.filter(kind="credit_note").count() == 1
    other = billing_api.post(
        f"/invoices/{asha_invoice.pk}/credit-notes", body | {"amount": "60.00"}, headers
    )
    assert other.status_code == 422
    assert error_of(other)["field"] == "Idempotency-Key"
    assert Invoice.objects.filter(kind="credit_note").count() == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"amount": "100000.00", "reason": "x"}, 409, "amount"),
        ({"amount": "0", "reason": "x"}, 400, "amount"),
        ({"amount": "-5.00", "reason": "x"}, 400, "amount"),
        ({"amount": "5.001", "reason": "x"}, 400, "amount"),
        ({"amount": 5.5, "reason": "x"}, 400, "amount"),
        ({"amount": "5.00", "reason": ""}, 400, "reason"),
        ({"amount": "5.00"}, 400, "reason"),
    ],
)
def test_bad_credit_notes_write_nothing(billing_api, asha_invoice, body, status, field):
    response = billing_api.post(
        f"/invoices/{asha_invoice.pk}/credit-notes", body, {"Idempotency-Key": "k"}
    )
    assert response.status_code == status, response.content
    assert error_of(response)["field"] == field
    assert Invoice.objects.filter(kind="credit_note").count() == 0
    assert IdempotencyKey.objects.count() == 0  # a failed request leaves the key free


def test_no_credit_note_on_a_credit_note(billing_api, asha_invoice):
    note = billing_api.post(
        f"/invoices/{asha_invoice.pk}/credit-notes", {"amount": "5.00", "reason": "x"}
    ).json()
    response = billing_api.post(
        f"/invoices/{note['id']}/credit-notes", {"amount": "1.00", "reason": "x"}
    )
    assert response.status_code == 409
    assert error_of(response)["field"] == "invoice"


def test_write_off(billing_api, asha_invoice):
    response = billing_api.post(
        f"/invoices/{asha_invoice.pk}/write-off", {"amount": "10.00", "reason": "bad debt"}
    )
    assert response.status_code == 201 and response.json()["amount"] == "10.00"
    rest = billing_api.post(f"/invoices/{asha_invoice.pk}/write-off", {"reason": "the rest"})
    assert rest.status_code == 201
    again = billing_api.post(f"/invoices/{asha_invoice.pk}/write-off", {"reason": "again"})
    assert again.status_code == 409
    assert WriteOff.objects.count() == 2
    assert billing_api.get(f"/invoices/{asha_invoice.pk}").json()["open_amount"] == "0.00"


def test_issue_and_void_drafts(billing_api, read_api, asha):
    draft = draft_invoice(asha, [{"description": "Router", "unit_price": "1500"}], actor="t")
    assert read_api.post(f"/invoices/{draft.pk}/issue").status_code == 403
    issued = billing_api.post(f"/invoices/{draft.pk}/issue")
    assert issued.status_code == 200 and issued.json()["number"]
    assert billing_api.post(f"/invoices/{draft.pk}/issue").status_code == 409
    response = billing_api.post(f"/invoices/{draft.pk}/void", {"reason": "typo"})
    assert response.status_code == 409 and "credit note" in error_of(response)["detail"]

    other = draft_invoice(asha, [{"description": "Visit", "unit_price": "300"}], actor="t")
    assert billing_api.post(f"/invoices/{other.pk}/void", {}).status_code == 400
    voided = billing_api.post(f"/invoices/{other.pk}/void", {"reason": "typo"})
    assert voided.status_code == 200 and voided.json()["status"] == "void"


def test_dates_are_local(read_api, asha_invoice):
    # Issued just after midnight IST is still the previous day in UTC.
    day = local_date(clock.now(), "Asia/Kolkata")
    assert read_api.get("/invoices", {"issued_from": str(day)}).json()["items"]
