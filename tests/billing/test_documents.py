"""Invoice and credit note PDFs: legal fields, amount in words, UPI QR, branding, refusals."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader

from octet.billing import documents
from octet.billing.models import DocumentKind
from octet.billing.tax import NOTE_REVERSE_CHARGE
from octet.core.errors import Conflict
from octet.core.models import Operator
from octet.customers.services import create_customer, update_customer

from .document_factory import (
    CET,
    business_customer,
    eu_operator,
    gst_line,
    make_document,
    vat_line,
)

SELLER_GSTIN = "29AAACK1234A1Z6"  # the operator fixture's
BUYER_GSTIN = "29AABCT1332L1ZA"
UPI_ID = "kaverifiber@okicici"


def pdf_text(pdf: bytes) -> str:
    """The PDF's text on one line: words rejoined where a line broke after a hyphen."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(re.sub(r"-\s*\n\s*", "-", text).split())


@pytest.fixture
def kaveri(operator):
    operator.legal_name = "Kaveri Fibernet Private Limited"
    operator.address = "No. 14, 3rd Floor, 80 Feet Road\nKoramangala, Bengaluru 560034"
    operator.email = "billing@kaverifiber.in"
    operator.upi_id = UPI_ID
    operator.invoice_footer = "HDFC Bank, A/c 50200012345678, IFSC HDFC0000053"
    operator.save()
    return operator


@pytest.fixture
def business(kaveri):
    return business_customer(gstin=BUYER_GSTIN)


@pytest.fixture
def invoice(business):
    return make_document(
        business,
        [
            gst_line(
                "999.00",
                description="Fiber 100, February 2026",
                period_start=date(2026, 2, 1),
                period_end=date(2026, 3, 1),
            ),
            gst_line("260.00", description="Overage 26 GB", quantity="26", unit_price="10.00"),
            gst_line("226.62", description="Static IP", sac="998429"),
        ],
    )


def test_pdf_carries_every_field_rule_46_asks_for(invoice):
    pdf = documents.render_pdf(invoice)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for expected in [
        "TAX INVOICE",
        "KF/25-26/000001",  # serial number
        "31 Jan 2026",  # date, in the operator's time zone (18:00 UTC)
        "Kaveri Fibernet Private Limited",
        "No. 14, 3rd Floor, 80 Feet Road",
        SELLER_GSTIN,
        "Tumkur Tech Pvt Ltd",  # recipient, address and GSTIN
        "Plot 7, KIADB Industrial Area",
        BUYER_GSTIN,
        "Place of supply Karnataka (29)",
        "998422",  # SAC per line
        "998429",
        "Fiber 100, February 2026",
        "01 Feb 2026 – 28 Feb 2026",  # the period, last day inclusive
        "1,485.62",  # taxable value
        "CGST @ 9% 133.71",
        "SGST @ 9% 133.71",
        "1,753.04",  # total
        "Rupees One Thousand Seven Hundred Fifty-Three and Paise Four Only",
        "Tax payable on reverse charge basis: No",
        "For Kaveri Fibernet Private Limited",
        "Authorised signatory",
        "HDFC0000053",  # the operator's footer
    ]:
        assert expected in text, expected


def test_context_has_per_line_tax_columns(invoice):
    context = documents.document_context(invoice)
    assert context["tax_columns"] == ["CGST", "SGST"]
    first = context["lines"][0]
    assert (first["taxable"], first["total"]) == ("999.00", "1,178.82")
    assert first["taxes"] == [{"rate": "9", "amount": "89.91"}, {"rate": "9", "amount": "89.91"}]
    assert context["issue_date"] == date(2026, 1, 31)
    assert context["amount_in_words"].startswith("Rupees One Thousand Seven Hundred")
    assert not context["inter_state"]


def test_inter_state_invoice_prints_igst_and_the_state_of_supply(kaveri):
    chennai = create_customer(
        {"name": "Meena S", "state_code": "33", "billing_address": "4 Anna Salai"}, actor="test"
    )
    inv = make_document(chennai, [gst_line("1000.00", intra=False)])
    context = documents.document_context(inv)
    assert context["tax_columns"] == ["IGST"]
    assert context["inter_state"]
    assert context["place_of_supply"] == "Tamil Nadu (33)"
    text = pdf_text(documents.render_pdf(inv))
    assert "IGST @ 18% 180.00" in text
    assert "Place of supply Tamil Nadu (33)" in text
    assert "Unregistered (no GSTIN)" in text
    assert "Rupees One Thousand One Hundred Eighty Only" in text


def test_upi_qr_code_when_the_operator_has_a_upi_id(invoice):
    context = documents.document_context(invoice)
    assert context["upi"]["uri"] == (
        "upi://pay?pa=kaverifiber@okicici&pn=Kaveri%20Fibernet&am=1753.04&cu=INR"
        "&tn=KF%2F25-26%2F000001"
    )
    html = documents.render_html(invoice)
    assert html.count('class="upi-qr-code"') == 1
    assert "<path" in html.split('class="upi-qr-code"')[1]
    assert "Scan to pay ₹ 1,753.04" in pdf_text(documents.render_pdf(invoice))


def test_no_qr_code_without_a_upi_id(kaveri, business):
    kaveri.upi_id = ""
    kaveri.save()
    inv = make_document(business, [gst_line("100.00")])
    assert documents.document_context(inv)["upi"] is None
    assert "upi-qr-code" not in documents.render_html(inv)
    assert "Scan to pay" not in pdf_text(documents.render_pdf(inv))


def test_credit_note_names_the_invoice_and_has_no_qr_code(invoice, business):
    note = make_document(
        business,
        [gst_line("500.00", description="Credit: Fiber 100, unused days")],
        kind=DocumentKind.CREDIT_NOTE,
        number="KFC/25-26/000001",
        against=invoice,
        reason="Plan changed to Fiber 300",
        issued_at=datetime(2026, 2, 15, 10, tzinfo=CET),
    )
    context = documents.document_context(note)
    assert context["upi"] is None
    assert context["against"] == {"number": "KF/25-26/000001", "date": date(2026, 1, 31)}
    text = pdf_text(documents.render_pdf(note))
    for expected in [
        "CREDIT NOTE",
        "KFC/25-26/000001",
        "Invoice no. KF/25-26/000001",
        "dated 31 Jan 2026",
        "Reason: Plan changed to Fiber 300",
        "Total credit ₹ 590.00",
        "Rupees Five Hundred Ninety Only",
    ]:
        assert expected in text, expected
    assert "Scan to pay" not in text


def test_credit_note_stored_negative_prints_positive(invoice, business):
    line = gst_line("-500.00")
    note = make_document(
        business,
        [line],
        kind=DocumentKind.CREDIT_NOTE,
        number="KFC/25-26/000002",
        against=invoice,
    )
    context = documents.document_context(note)
    assert (context["subtotal"], context["total"]) == ("500.00", "590.00")
    assert context["amount_in_words"] == "Rupees Five Hundred Ninety Only"


@pytest.mark.parametrize("status", ["draft", "void"])
def test_only_issued_documents_are_rendered(business, status):
    inv = make_document(business, [gst_line("100.00")], status="draft")
    if status == "void":
        inv.status = "void"
        inv.save()
    for render in (documents.document_context, documents.render_html, documents.render_pdf):
        with pytest.raises(Conflict, match="only an issued invoice or credit note"):
            render(inv)


def test_the_document_shows_the_parties_as_they_were_at_issue(invoice, business, kaveri):
    update_customer(business, {"name": "Renamed Pvt Ltd"}, actor="test", reason="rename")
    kaveri.gstin = "29AAACK9999A1Z" + "0"
    kaveri.save()
    text = pdf_text(documents.render_pdf(invoice))
    assert "Tumkur Tech Pvt Ltd" in text
    assert "Renamed" not in text
    assert SELLER_GSTIN in text


def test_branding_colour_logo_and_footer(invoice, kaveri):
    kaveri.brand_color = "#8a1538"
    kaveri.logo_svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
        '<script>alert(1)</script><circle cx="5" cy="5" r="5"/></svg>'
    )
    kaveri.save()
    html = documents.render_html(invoice)
    assert "#8a1538" in html
    assert 'src="data:image/svg+xml;base64,' in html
    assert "<script>" not in html  # the logo is an image, never markup in the page
    assert "HDFC0000053" in html
    assert documents.render_pdf(invoice).startswith(b"%PDF")


def test_a_stored_colour_that_is_not_a_colour_never_reaches_the_css(invoice, kaveri):
    kaveri.brand_color = "red;}"
    kaveri.save()
    html = documents.render_html(invoice)
    assert "red;}" not in html
    assert documents.DEFAULT_BRAND_COLOR in html


def test_eu_reverse_charge_invoice_prints_both_vat_ids_and_the_note(operator):
    eu_operator(operator)
    buyer = create_customer(
        {
            "name": "Lyon Data SARL",
            "kind": "business",
            "country": "FR",
            "vat_id": "FR40303265045",
            "billing_address": "3 rue de la République",
            "billing_city": "Lyon",
            "billing_postal_code": "69002",
        },
        actor="test",
    )
    inv = make_document(
        buyer,
        [vat_line("49.90", description="Business fibre 500, March 2026", sac="")],
        number="RF-2026-000001",
        tax_note=NOTE_REVERSE_CHARGE,
        issued_at=datetime(2026, 3, 1, 0, 30, tzinfo=CET),
    )
    context = documents.document_context(inv)
    assert (context["title"], context["reverse_charge"], context["upi"]) == ("Invoice", True, None)
    text = pdf_text(documents.render_pdf(inv))
    for expected in [
        "INVOICE",
        "RF-2026-000001",
        "01 Mar 2026",  # the operator's (Berlin) date, though still February in UTC
        "DE123456789",
        "FR40303265045",
        "Reverse charge Yes",
        "Reverse charge: VAT to be accounted for by the recipient",
        "Forty-Nine Euros and Ninety Cents",
        "€ 49.90",
    ]:
        assert expected in text, expected


def test_filename_is_safe():
    class Doc:
        number, pk = "KF/25-26/000001", 7

    assert documents.filename(Doc, "pdf") == "KF-25-26-000001.pdf"
    Doc.number = '../"evil"\r\n.pdf'
    assert documents.filename(Doc, "xml") == "evil-.pdf.xml"


def test_amounts_in_context_use_indian_grouping(business):
    inv = make_document(business, [gst_line("123456.00")])
    context = documents.document_context(inv)
    assert context["subtotal"] == "1,23,456.00"
    assert context["total"] == "1,45,678.08"
    assert Decimal(inv.total) == Decimal("145678.08")


def test_operator_upi_id_is_read_from_the_snapshot(invoice, kaveri):
    kaveri.upi_id = "changed@okaxis"
    kaveri.save()
    assert documents.document_context(invoice)["upi"]["id"] == UPI_ID
    assert Operator.current().upi_id == "changed@okaxis"
