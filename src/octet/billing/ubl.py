"""EN 16931 e-invoices in UBL 2.1 syntax: an Invoice, or a CreditNote for a credit note.

The XML is built from the issued row alone (its frozen seller/buyer copies, lines and
totals) and checked against the official OASIS UBL 2.1 schema shipped in
``schemas/ubl-2.1`` (no network needed) before it is handed out.

Mapping of the EN 16931 business terms used:

* BT-1 number, BT-2 issue date (the operator's local date), BT-3 type 380 / 381, BT-5
  currency, BT-9 due date (invoices), BT-10 buyer reference = the customer's account number,
  BT-22 notes (the tax note, a credit note's reason), BT-24 ``urn:cen.eu:en16931:2017``,
  BG-3 the corrected invoice (credit notes), BG-4/BG-7 seller and buyer with their tax
  registrations, BG-16 a UPI payment (code 68, online payment service) where the seller has a
  UPI id, BG-22 document totals, BG-23 tax breakdown, BG-25 lines with BG-26 line periods.
* VAT categories: S standard rate, Z zero rate, E exempt, AE reverse charge (with the
  invoice's note as exemption reason and VATEX-EU-AE), O outside the scope of tax.
* Indian GST has two taxes on an intra-state line (CGST and SGST at half the rate each)
  where EN 16931 knows one VAT rate per line. Octet keeps the GST components apart: each
  line carries one ``ClassifiedTaxCategory`` per component and the breakdown has one
  ``TaxSubtotal`` per (component, rate), the component named in ``TaxCategory/Name`` and the
  scheme ``GST``; the GSTINs are registrations in scheme ``GST``. The sums hold exactly as
  for VAT (breakdown = total tax; each taxable amount = the sum of the line nets it covers),
  but a validator that insists on a single VAT rate per line (BR-S-08 with scheme VAT) will
  count CGST and SGST as two rates: EN 16931 conformance is meant for EU VAT documents.
* Credit notes carry positive amounts, as EN 16931 expects.
* A line whose quantity times unit price is its net prints that quantity and price (BT-129,
  BT-146); otherwise (a prorated "17/31", a tax-inclusive price) it prints quantity 1 at
  the line's net, so that quantity x price = line net always holds. Negative lines
  (discounts) print quantity -1 and a positive price.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from lxml import etree

from octet.billing.documents import (
    is_reverse_charge,
    local_issue_date,
    operator_time_zone,
    require_issued,
    sign_of,
)
from octet.billing.models import Invoice, InvoiceLine
from octet.billing.tax import NOTE_OUTSIDE_EU
from octet.core.money import Money
from octet.customers.validators import INDIAN_STATES

__all__ = ["CUSTOMIZATION_ID", "SCHEMA_DIR", "ubl_xml", "validate_ubl"]

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "ubl-2.1"

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
ROOT_NS = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
UNIT_ONE = "C62"  # UN/ECE Rec 20 "one": services billed per unit


@dataclass(frozen=True)
class Category:
    """One tax of one line, as EN 16931 sees it."""

    code: str  # S, Z, E, AE, O
    percent: Decimal | None  # None for O (BR-O-05: no rate)
    scheme: str  # VAT or GST
    name: str = ""  # CGST / SGST / IGST for GST
    amount: Decimal = Decimal(0)
    reason: str = ""
    reason_code: str = ""

    @property
    def key(self) -> tuple:
        return (self.scheme, self.name, self.code, self.percent)


def line_categories(invoice: Invoice, line: InvoiceLine) -> list[Category]:
    """The tax categories of a line (two for an intra-state GST line, else one)."""
    gst = invoice.tax_regime == "in_gst"
    scheme = "GST" if gst else "VAT"
    if line.taxes:
        return [
            Category(
                code="S" if Decimal(t["rate"]) > 0 else "Z",
                percent=Decimal(t["rate"]),
                scheme="VAT" if t["name"] == "VAT" else scheme,
                name=t["name"] if gst else "",
                amount=Decimal(t["amount"]),
            )
            for t in line.taxes
        ]
    if is_reverse_charge(invoice):
        return [
            Category("AE", Decimal(0), scheme, reason=invoice.tax_note, reason_code="VATEX-EU-AE")
        ]
    if invoice.tax_regime == "none" or invoice.tax_note == NOTE_OUTSIDE_EU:
        reason = invoice.tax_note or "Not subject to tax"
        return [Category("O", None, scheme, reason=reason, reason_code="VATEX-EU-O")]
    return [Category("E", Decimal(0), scheme, reason=invoice.tax_note or "Exempt from tax")]


def _percent(value: Decimal) -> str:
    normal = value.normalize()
    return format(
        normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal, "f"
    )


class _Builder:
    def __init__(self, invoice: Invoice) -> None:
        self.invoice = invoice
        self.currency = invoice.currency
        self.sign = sign_of(invoice)

    def money(self, value: Decimal) -> str:
        return str(Money(Decimal(value) * self.sign, self.currency))

    def price(self, value: Decimal) -> str:
        # A unit price may have more digits than the currency (e.g. 0.125 per GB).
        try:
            return str(Money(value, self.currency))
        except ValueError:
            return format(value.normalize(), "f")

    def el(self, parent, ns: str, tag: str, text: object = None, **attrs) -> etree._Element:
        node = etree.SubElement(parent, f"{{{ns}}}{tag}", {k: str(v) for k, v in attrs.items()})
        if text is not None:
            node.text = str(text)
        return node

    def cbc(self, parent, tag: str, text: object = None, **attrs) -> etree._Element:
        return self.el(parent, CBC, tag, text, **attrs)

    def cac(self, parent, tag: str) -> etree._Element:
        return self.el(parent, CAC, tag)

    def amount(self, parent, tag: str, value: Decimal) -> etree._Element:
        return self.cbc(parent, tag, self.money(value), currencyID=self.currency)

    def category(self, parent, tag: str, category: Category) -> None:
        node = self.cac(parent, tag)
        self.cbc(node, "ID", category.code)
        if category.name:
            self.cbc(node, "Name", category.name)
        if category.percent is not None:
            self.cbc(node, "Percent", _percent(category.percent))
        if category.reason_code:
            self.cbc(node, "TaxExemptionReasonCode", category.reason_code)
        if category.reason:
            self.cbc(node, "TaxExemptionReason", category.reason)
        self.cbc(self.cac(node, "TaxScheme"), "ID", category.scheme)

    def address(self, parent, tag: str, party: dict) -> None:
        node = self.cac(parent, tag)
        lines = [ln.strip() for ln in str(party.get("address") or "").splitlines() if ln.strip()]
        if lines:
            self.cbc(node, "StreetName", lines[0])
        if len(lines) > 1:
            self.cbc(node, "AdditionalStreetName", lines[1])
        if party.get("city"):
            self.cbc(node, "CityName", party["city"])
        if party.get("postal_code"):
            self.cbc(node, "PostalZone", party["postal_code"])
        state = party.get("state") or INDIAN_STATES.get(str(party.get("state_code") or ""), "")
        if state:
            self.cbc(node, "CountrySubentity", state)
        if len(lines) > 2:
            self.cbc(self.cac(node, "AddressLine"), "Line", ", ".join(lines[2:]))
        country = (party.get("country") or "").upper() or "IN"
        self.cbc(
            self.cac(node, "Country"), "IdentificationCode", country, listID="ISO3166-1:Alpha2"
        )

    def party(self, parent, tag: str, party: dict, *, identifier: str = "") -> None:
        node = self.cac(self.cac(parent, tag), "Party")
        if identifier:
            self.cbc(self.cac(node, "PartyIdentification"), "ID", identifier)
        name = party.get("name") or party.get("legal_name") or "-"
        self.cbc(self.cac(node, "PartyName"), "Name", name)
        self.address(node, "PostalAddress", party)
        for field, scheme in (("vat_id", "VAT"), ("gstin", "GST")):
            if party.get(field):
                scheme_node = self.cac(node, "PartyTaxScheme")
                self.cbc(scheme_node, "CompanyID", party[field])
                self.cbc(self.cac(scheme_node, "TaxScheme"), "ID", scheme)
        legal = self.cac(node, "PartyLegalEntity")
        self.cbc(legal, "RegistrationName", party.get("legal_name") or name)
        if party.get("phone") or party.get("email"):
            contact = self.cac(node, "Contact")
            if party.get("phone"):
                self.cbc(contact, "Telephone", party["phone"])
            if party.get("email"):
                self.cbc(contact, "ElectronicMail", party["email"])

    def quantity_and_price(self, line: InvoiceLine) -> tuple[str, Decimal]:
        amount = Decimal(line.amount) * self.sign
        price = Decimal(line.unit_price) * self.sign
        try:
            quantity = Decimal(line.quantity.strip())
        except (InvalidOperation, AttributeError):
            quantity = None
        if (
            quantity is not None
            and quantity.is_finite()
            and price >= 0
            and quantity * price == amount
        ):
            return format(quantity.normalize(), "f"), price
        if amount < 0:
            return "-1", -amount
        return "1", amount

    def build(self) -> etree._Element:
        invoice = self.invoice
        credit = invoice.is_credit_note
        root_name = "CreditNote" if credit else "Invoice"
        ns = ROOT_NS[root_name]
        root = etree.Element(f"{{{ns}}}{root_name}", nsmap={None: ns, "cac": CAC, "cbc": CBC})
        tz = operator_time_zone(invoice)
        seller, buyer = invoice.seller, invoice.buyer

        self.cbc(root, "CustomizationID", CUSTOMIZATION_ID)
        self.cbc(root, "ID", invoice.number)
        self.cbc(root, "IssueDate", local_issue_date(invoice, tz).isoformat())
        if not credit and invoice.due_date:
            self.cbc(root, "DueDate", invoice.due_date.isoformat())
        self.cbc(
            root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", 381 if credit else 380
        )
        for note in (invoice.tax_note, invoice.reason if credit else ""):
            if note:
                self.cbc(root, "Note", note)
        self.cbc(root, "DocumentCurrencyCode", self.currency)
        if buyer.get("account_number"):
            self.cbc(root, "BuyerReference", buyer["account_number"])
        if credit and invoice.against_id:
            original = invoice.against
            ref = self.cac(self.cac(root, "BillingReference"), "InvoiceDocumentReference")
            self.cbc(ref, "ID", original.number or original.pk)
            if original.issued_at:
                self.cbc(ref, "IssueDate", local_issue_date(original, tz).isoformat())

        self.party(root, "AccountingSupplierParty", seller)
        self.party(
            root, "AccountingCustomerParty", buyer, identifier=buyer.get("account_number", "")
        )

        place = (invoice.place_of_supply or "").strip()
        if invoice.tax_regime == "in_gst" and place:
            address = self.cac(self.cac(self.cac(root, "Delivery"), "DeliveryLocation"), "Address")
            code = place.zfill(2)
            if code in INDIAN_STATES:
                self.cbc(address, "CountrySubentity", INDIAN_STATES[code])
            self.cbc(address, "CountrySubentityCode", code)
            self.cbc(self.cac(address, "Country"), "IdentificationCode", "IN")

        upi_id = str(seller.get("upi_id") or "").strip()
        if not credit and upi_id and self.currency == "INR" and invoice.total > 0:
            means = self.cac(root, "PaymentMeans")
            self.cbc(means, "PaymentMeansCode", "68", name="UPI")
            self.cbc(means, "PaymentID", invoice.number)
            self.cbc(self.cac(means, "PayeeFinancialAccount"), "ID", upi_id)

        lines = list(invoice.lines.order_by("position"))
        per_line = [(line, line_categories(invoice, line)) for line in lines]
        self.tax_total(root, per_line)
        self.totals(root, lines)
        for line, categories in per_line:
            self.line(root, line, categories, credit)
        return root

    def tax_total(self, root, per_line) -> None:
        invoice = self.invoice
        groups: OrderedDict[tuple, dict] = OrderedDict()
        for line, categories in per_line:
            for category in categories:
                group = groups.setdefault(
                    category.key, {"category": category, "taxable": Decimal(0), "tax": Decimal(0)}
                )
                group["taxable"] += line.amount
                group["tax"] += category.amount
        tax = sum((g["tax"] for g in groups.values()), Decimal(0))
        if tax != invoice.tax_total:
            raise ValueError(
                f"{invoice}: its lines' taxes add up to {tax}, not to its tax total "
                f"{invoice.tax_total}"
            )
        total = self.cac(root, "TaxTotal")
        self.amount(total, "TaxAmount", invoice.tax_total)
        for group in groups.values():
            sub = self.cac(total, "TaxSubtotal")
            self.amount(sub, "TaxableAmount", group["taxable"])
            self.amount(sub, "TaxAmount", group["tax"])
            self.category(sub, "TaxCategory", group["category"])

    def totals(self, root, lines: list[InvoiceLine]) -> None:
        invoice = self.invoice
        net = sum((Decimal(line.amount) for line in lines), Decimal(0))
        if net != invoice.subtotal or invoice.subtotal + invoice.tax_total != invoice.total:
            raise ValueError(
                f"{invoice}: lines {net} + tax {invoice.tax_total} do not make its totals "
                f"{invoice.subtotal} / {invoice.total}"
            )
        node = self.cac(root, "LegalMonetaryTotal")
        self.amount(node, "LineExtensionAmount", net)
        self.amount(node, "TaxExclusiveAmount", invoice.subtotal)
        self.amount(node, "TaxInclusiveAmount", invoice.total)
        self.amount(node, "PayableAmount", invoice.total)

    def line(self, root, line: InvoiceLine, categories: list[Category], credit: bool) -> None:
        node = self.cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        self.cbc(node, "ID", line.position)
        quantity, price = self.quantity_and_price(line)
        self.cbc(
            node, "CreditedQuantity" if credit else "InvoicedQuantity", quantity, unitCode=UNIT_ONE
        )
        self.amount(node, "LineExtensionAmount", line.amount)
        if line.period_start and line.period_end:
            period = self.cac(node, "InvoicePeriod")
            self.cbc(period, "StartDate", line.period_start.isoformat())
            # Stored exclusive; EN 16931 periods name their last day.
            self.cbc(period, "EndDate", (line.period_end - timedelta(days=1)).isoformat())
        item = self.cac(node, "Item")
        self.cbc(item, "Name", line.description[:300] or line.kind)
        if line.sac:
            classification = self.cac(item, "CommodityClassification")
            self.cbc(
                classification, "ItemClassificationCode", line.sac, listID="ZZZ", listName="SAC"
            )
        for category in categories:
            self.category(item, "ClassifiedTaxCategory", category)
        price_node = self.cac(node, "Price")
        self.cbc(price_node, "PriceAmount", self.price(price), currencyID=self.currency)


def ubl_xml(invoice: Invoice) -> bytes:
    """The UBL 2.1 XML of an issued invoice or credit note, validated against the schema."""
    require_issued(invoice)
    root = _Builder(invoice).build()
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    validate_ubl(xml)
    return xml


_schema_lock = threading.Lock()


@cache
def _schema(root_name: str) -> etree.XMLSchema:
    path = SCHEMA_DIR / "maindoc" / f"UBL-{root_name}-2.1.xsd"
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def validate_ubl(xml: bytes) -> None:
    """Raise ValueError naming the first schema error; return None for a valid document."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=False)
    try:
        document = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    name = etree.QName(document)
    if ROOT_NS.get(name.localname) != name.namespace:
        raise ValueError(f"not a UBL 2.1 Invoice or CreditNote: root element {name.text}")
    with _schema_lock:  # one validation at a time per schema object (lxml error logs)
        schema = _schema(name.localname)
        if schema.validate(document):
            return
        error = schema.error_log.filter_from_errors()[0]
    raise ValueError(
        f"UBL {name.localname} fails the UBL 2.1 schema: line {error.line}: {error.message}"
    )
