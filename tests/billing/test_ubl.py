"""UBL 2.1 / EN 16931 export: valid against the OASIS schema, and the sums hold exactly."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from octet.billing import ubl
from octet.billing.models import DocumentKind, Invoice
from octet.billing.tax import NOTE_REVERSE_CHARGE
from octet.core.errors import Conflict
from octet.customers.services import create_customer

from .document_factory import CET, business_customer, eu_operator, gst_line, make_document, vat_line

NS = {
    "cac": ubl.CAC,
    "cbc": ubl.CBC,
    "inv": ubl.ROOT_NS["Invoice"],
    "cn": ubl.ROOT_NS["CreditNote"],
}


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def text(node, path: str) -> str:
    return node.findtext(path, namespaces=NS)


def dec(node, path: str) -> Decimal:
    return Decimal(text(node, path))


def assert_sums_hold(root) -> None:
    """The EN 16931 calculation rules, checked on the XML alone."""
    lines = root.findall("cac:InvoiceLine", NS) + root.findall("cac:CreditNoteLine", NS)
    assert lines
    total = root.find("cac:LegalMonetaryTotal", NS)
    line_sum = sum(dec(line, "cbc:LineExtensionAmount") for line in lines)
    # BR-CO-10: sum of line net amounts
    assert dec(total, "cbc:LineExtensionAmount") == line_sum
    # BR-CO-13: no document allowances or charges, so the tax exclusive amount is the same
    assert dec(total, "cbc:TaxExclusiveAmount") == line_sum
    (tax_total,) = root.findall("cac:TaxTotal", NS)
    tax = dec(tax_total, "cbc:TaxAmount")
    subtotals = tax_total.findall("cac:TaxSubtotal", NS)
    # BR-CO-14: the breakdown adds up to the total tax
    assert sum(dec(s, "cbc:TaxAmount") for s in subtotals) == tax
    # BR-CO-15: tax inclusive = tax exclusive + tax; nothing prepaid, so all of it is payable
    assert dec(total, "cbc:TaxInclusiveAmount") == line_sum + tax
    assert dec(total, "cbc:PayableAmount") == line_sum + tax
    # BR-S-08 and kin: each breakdown's taxable amount is the sum of the lines it covers
    covered: dict[tuple, Decimal] = defaultdict(Decimal)
    for line in lines:
        amount = dec(line, "cbc:LineExtensionAmount")
        quantity = Decimal(text(line, "cbc:InvoicedQuantity") or text(line, "cbc:CreditedQuantity"))
        # quantity x price = line net (PEPPOL-EN16931-R120), and prices are never negative
        price = dec(line, "cac:Price/cbc:PriceAmount")
        assert price >= 0
        assert quantity * price == amount
        for category in line.findall("cac:Item/cac:ClassifiedTaxCategory", NS):
            covered[category_key(category)] += amount
    for s in subtotals:
        assert dec(s, "cbc:TaxableAmount") == covered[category_key(s.find("cac:TaxCategory", NS))]
    assert len(covered) == len(subtotals)


def category_key(category) -> tuple:
    return (
        text(category, "cbc:ID"),
        text(category, "cbc:Name"),
        text(category, "cbc:Percent"),
        text(category, "cac:TaxScheme/cbc:ID"),
    )


@pytest.fixture
def business(operator):
    operator.upi_id = "kaverifiber@okicici"
    operator.address = "No. 14, 3rd Floor, 80 Feet Road\nKoramangala\nBengaluru 560034"
    operator.save()
    return business_customer(gstin="29AABCT1332L1ZA")


@pytest.fixture
def invoice(business):
    return make_document(
        business,
        [
            gst_line(
                "999.00",
                period_start=date(2026, 2, 1),
                period_end=date(2026, 3, 1),
            ),
            gst_line("260.00", description="Overage 26 GB", quantity="26", unit_price="10.00"),
            gst_line(
                "547.84", description="Fiber 100, 17 days", quantity="17/31", unit_price="999"
            ),
            gst_line("-100.00", description="Coupon WELCOME", quantity="1", unit_price="-100.00"),
        ],
    )


def test_gst_invoice_is_valid_ubl_with_exact_sums(invoice):
    xml = ubl.ubl_xml(invoice)
    ubl.validate_ubl(xml)
    root = parse(xml)
    assert root.tag == f"{{{NS['inv']}}}Invoice"
    assert text(root, "cbc:CustomizationID") == "urn:cen.eu:en16931:2017"
    assert text(root, "cbc:ID") == "KF/25-26/000001"
    assert text(root, "cbc:IssueDate") == "2026-01-31"  # IST, though 18:00 UTC
    assert text(root, "cbc:DueDate") == "2026-02-14"
    assert text(root, "cbc:InvoiceTypeCode") == "380"
    assert text(root, "cbc:DocumentCurrencyCode") == "INR"
    assert text(root, "cbc:BuyerReference") == invoice.customer.account_number
    assert_sums_hold(root)
    tax_total = root.find("cac:TaxTotal", NS)
    assert dec(tax_total, "cbc:TaxAmount") == invoice.tax_total
    assert dec(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == invoice.total
    breakdown = [
        (text(s, "cac:TaxCategory/cbc:Name"), text(s, "cac:TaxCategory/cbc:Percent"))
        for s in tax_total.findall("cac:TaxSubtotal", NS)
    ]
    assert breakdown == [("CGST", "9"), ("SGST", "9")]
    assert (
        text(root, "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID")
        == "29AAACK1234A1Z6"
    )
    buyer = root.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert text(buyer, "cac:PartyTaxScheme/cbc:CompanyID") == "29AABCT1332L1ZA"
    assert text(buyer, "cac:PartyTaxScheme/cac:TaxScheme/cbc:ID") == "GST"
    assert text(buyer, "cac:PostalAddress/cbc:CountrySubentity") == "Karnataka"
    assert (
        text(root, "cac:Delivery/cac:DeliveryLocation/cac:Address/cbc:CountrySubentityCode") == "29"
    )
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "kaverifiber@okicici"


def test_lines_carry_quantity_price_period_and_sac(invoice):
    lines = parse(ubl.ubl_xml(invoice)).findall("cac:InvoiceLine", NS)
    got = [
        (
            text(line, "cbc:InvoicedQuantity"),
            text(line, "cac:Price/cbc:PriceAmount"),
            text(line, "cbc:LineExtensionAmount"),
        )
        for line in lines
    ]
    assert got == [
        ("1", "999.00", "999.00"),
        ("26", "10.00", "260.00"),
        ("1", "547.84", "547.84"),  # "17/31" is no decimal quantity: 1 x the net
        ("-1", "100.00", "-100.00"),  # a discount: negative quantity, positive price
    ]
    assert text(lines[0], "cac:InvoicePeriod/cbc:StartDate") == "2026-02-01"
    assert text(lines[0], "cac:InvoicePeriod/cbc:EndDate") == "2026-02-28"
    code = lines[0].find("cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode", NS)
    assert (code.text, code.get("listName")) == ("998422", "SAC")


def test_inter_state_invoice_has_one_igst_breakdown(operator):
    chennai = create_customer({"name": "Meena S", "state_code": "33"}, actor="test")
    inv = make_document(chennai, [gst_line("999.00", intra=False), gst_line("1.00", intra=False)])
    root = parse(ubl.ubl_xml(inv))
    assert_sums_hold(root)
    (sub,) = root.findall("cac:TaxTotal/cac:TaxSubtotal", NS)
    assert (text(sub, "cac:TaxCategory/cbc:Name"), text(sub, "cbc:TaxAmount")) == ("IGST", "180.00")
    assert text(sub, "cbc:TaxableAmount") == "1000.00"
    assert root.find("cac:PaymentMeans", NS) is None  # no UPI id on this operator


def test_gst_exempt_line_is_category_e(operator):
    chennai = create_customer({"name": "Meena S", "state_code": "33"}, actor="test")
    inv = make_document(chennai, [{"amount": Decimal("500.00"), "taxes": [], "tax_exempt": True}])
    root = parse(ubl.ubl_xml(inv))
    assert_sums_hold(root)
    category = root.find("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", NS)
    assert (text(category, "cbc:ID"), text(category, "cbc:Percent")) == ("E", "0")
    assert text(category, "cbc:TaxExemptionReason")


def test_credit_note(invoice, business):
    note = make_document(
        business,
        [gst_line("500.00", description="Credit: Fiber 100, unused days")],
        kind=DocumentKind.CREDIT_NOTE,
        number="KFC/25-26/000001",
        against=invoice,
        reason="Plan changed to Fiber 300",
        issued_at=datetime(2026, 2, 15, 10, tzinfo=CET),
    )
    xml = ubl.ubl_xml(note)
    ubl.validate_ubl(xml)
    root = parse(xml)
    assert root.tag == f"{{{NS['cn']}}}CreditNote"
    assert text(root, "cbc:CreditNoteTypeCode") == "381"
    assert text(root, "cbc:ID") == "KFC/25-26/000001"
    ref = root.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
    assert (text(ref, "cbc:ID"), text(ref, "cbc:IssueDate")) == ("KF/25-26/000001", "2026-01-31")
    assert "Plan changed to Fiber 300" in [n.text for n in root.findall("cbc:Note", NS)]
    assert root.find("cac:PaymentMeans", NS) is None
    assert root.find("cbc:DueDate", NS) is None
    assert_sums_hold(root)
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "590.00"
    assert text(root, "cac:CreditNoteLine/cbc:CreditedQuantity") == "1"


def test_credit_note_stored_negative_is_exported_positive(invoice, business):
    note = make_document(
        business,
        [gst_line("-500.00", unit_price="-500.00")],
        kind=DocumentKind.CREDIT_NOTE,
        number="KFC/25-26/000002",
        against=invoice,
    )
    root = parse(ubl.ubl_xml(note))
    assert_sums_hold(root)
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "590.00"
    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "90.00"


@pytest.fixture
def rheinfaser(operator):
    return eu_operator(operator)


def test_eu_reverse_charge_invoice(rheinfaser):
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
        [vat_line("49.90", sac=""), vat_line("10.00", sac="", description="Static IP")],
        number="RF-2026-000001",
        tax_note=NOTE_REVERSE_CHARGE,
        currency="EUR",
        issued_at=datetime(2026, 3, 1, 0, 30, tzinfo=CET),
    )
    root = parse(ubl.ubl_xml(inv))
    assert_sums_hold(root)
    assert text(root, "cbc:IssueDate") == "2026-03-01"
    assert text(root, "cbc:DocumentCurrencyCode") == "EUR"
    assert NOTE_REVERSE_CHARGE in [n.text for n in root.findall("cbc:Note", NS)]
    (sub,) = root.findall("cac:TaxTotal/cac:TaxSubtotal", NS)
    assert (text(sub, "cbc:TaxableAmount"), text(sub, "cbc:TaxAmount")) == ("59.90", "0.00")
    category = sub.find("cac:TaxCategory", NS)
    assert category_key(category) == ("AE", None, "0", "VAT")
    assert text(category, "cbc:TaxExemptionReasonCode") == "VATEX-EU-AE"
    # BR-AE-02: both VAT identifiers present, in scheme VAT
    for party in ("cac:AccountingSupplierParty", "cac:AccountingCustomerParty"):
        scheme = root.find(f"{party}/cac:Party/cac:PartyTaxScheme", NS)
        assert text(scheme, "cac:TaxScheme/cbc:ID") == "VAT"
    assert [
        text(root, f"{p}/cac:Party/cac:PartyTaxScheme/cbc:CompanyID")
        for p in ("cac:AccountingSupplierParty", "cac:AccountingCustomerParty")
    ] == ["DE123456789", "FR40303265045"]
    assert (
        text(
            root,
            "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode",
        )
        == "FR"
    )


def test_eu_domestic_invoice_is_standard_rated(rheinfaser):
    buyer = create_customer({"name": "Jonas Weber", "country": "DE"}, actor="test")
    inv = make_document(
        buyer, [vat_line("49.90", "19", sac=""), vat_line("4.99", "19", sac="")], currency="EUR"
    )
    root = parse(ubl.ubl_xml(inv))
    assert_sums_hold(root)
    (sub,) = root.findall("cac:TaxTotal/cac:TaxSubtotal", NS)
    assert category_key(sub.find("cac:TaxCategory", NS)) == ("S", None, "19", "VAT")
    assert text(sub, "cbc:TaxAmount") == "10.43"  # 9.48 + 0.95, rounded per line


@pytest.mark.parametrize("status", ["draft", "void"])
def test_only_issued_documents_are_exported(business, status):
    inv = make_document(business, [gst_line("100.00")], status="draft")
    if status == "void":
        inv.status = "void"
        inv.save()
    with pytest.raises(Conflict, match="only an issued"):
        ubl.ubl_xml(inv)


def test_totals_that_do_not_add_up_are_refused(invoice):
    Invoice.objects.filter(pk=invoice.pk).update(subtotal=invoice.subtotal + 1)
    invoice.refresh_from_db()
    with pytest.raises(ValueError, match="do not make its totals"):
        ubl.ubl_xml(invoice)


def test_validate_refuses_what_is_not_ubl(invoice):
    xml = ubl.ubl_xml(invoice)
    with pytest.raises(ValueError, match="not well-formed"):
        ubl.validate_ubl(xml[:-20])
    with pytest.raises(ValueError, match="not a UBL 2.1 Invoice or CreditNote"):
        ubl.validate_ubl(b"<Invoice/>")
    root = parse(xml)
    root.remove(root.find("cbc:ID", NS))  # BT-1 is mandatory
    with pytest.raises(ValueError, match="fails the UBL 2.1 schema.*IssueDate"):
        ubl.validate_ubl(etree.tostring(root))
    root = parse(xml)
    due = root.find("cbc:DueDate", NS)
    root.remove(due)
    root.append(due)  # out of sequence
    with pytest.raises(ValueError, match="DueDate"):
        ubl.validate_ubl(etree.tostring(root))


def test_schema_files_are_the_oasis_release():
    for path in sorted(ubl.SCHEMA_DIR.rglob("UBL-*.xsd")):
        head = path.read_text(encoding="utf-8")[:600]
        if "xmldsig" in path.name:
            continue
        assert "OASIS Universal Business Language (UBL) 2.1 OS" in head, path.name
