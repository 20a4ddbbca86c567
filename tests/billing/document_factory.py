"""Invoice and credit note rows made by hand for the document tests (PDF, UBL, views).

Rows are created as drafts with their lines, then issued (number, issued_at) and saved
once: a stored draft can still be saved, an issued one cannot.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from octet.billing.models import DocumentKind, Invoice, InvoiceLine
from octet.billing.services import buyer_snapshot, seller_snapshot
from octet.core.models import Operator
from octet.customers.services import create_customer

IST = ZoneInfo("Asia/Kolkata")
CET = ZoneInfo("Europe/Berlin")


def gst_line(amount: str, *, rate: str = "18", intra: bool = True, **fields) -> dict:
    """A line with its GST worked out: CGST+SGST at half the rate each, or IGST."""
    net = Decimal(amount)
    parts = (
        [("CGST", Decimal(rate) / 2), ("SGST", Decimal(rate) / 2)]
        if intra
        else [("IGST", Decimal(rate))]
    )
    taxes = []
    for name, r in parts:
        tax = (net * r / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        taxes.append({"name": name, "rate": format(r.normalize(), "f"), "amount": str(tax)})
    return {"amount": net, "tax_rate": Decimal(rate), "taxes": taxes, **fields}


def vat_line(amount: str, rate: str | None = None, **fields) -> dict:
    """An EU VAT line: taxed at ``rate``, or without tax (reverse charge, exempt)."""
    net = Decimal(amount)
    taxes = []
    if rate is not None:
        tax = (net * Decimal(rate) / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        taxes = [{"name": "VAT", "rate": rate, "amount": str(tax)}]
    return {"amount": net, "tax_rate": Decimal(rate or 0), "taxes": taxes, **fields}


def make_document(
    customer,
    lines: list[dict],
    *,
    number: str = "KF/25-26/000001",
    kind: str = DocumentKind.INVOICE,
    issued_at: datetime | None = None,
    status: str = "issued",
    against: Invoice | None = None,
    tax_note: str = "",
    reason: str = "",
    currency: str | None = None,
    place_of_supply: str | None = None,
    due_date: date | None = date(2026, 2, 14),
) -> Invoice:
    operator = Operator.current()
    issued_at = issued_at or datetime(2026, 1, 31, 23, 30, tzinfo=IST)
    currency = currency or operator.currency
    invoice = Invoice.objects.create(
        kind=kind,
        customer=customer,
        against=against,
        currency=currency,
        created_at=issued_at,
        due_date=due_date if kind == DocumentKind.INVOICE else None,
        tax_regime=operator.tax_regime,
        place_of_supply=place_of_supply
        if place_of_supply is not None
        else (customer.state_code if operator.tax_regime == "in_gst" else customer.country),
        tax_note=tax_note,
        reason=reason,
        seller=seller_snapshot(operator),
        buyer=buyer_snapshot(customer),
        actor="test",
    )
    subtotal = tax_total = Decimal(0)
    for position, spec in enumerate(lines, start=1):
        spec = dict(spec)
        amount = spec.pop("amount")
        taxes = spec.pop("taxes")
        tax = sum((Decimal(t["amount"]) for t in taxes), Decimal(0))
        fields = {
            "description": f"Fiber 100, line {position}",
            "quantity": "1",
            "unit_price": amount,
            "sac": "998422",
            "kind": "recurring",
            "charge_key": f"{number}:{position}",
            **spec,
        }
        fields.setdefault("base_key", fields["charge_key"])
        InvoiceLine.objects.create(
            invoice=invoice,
            position=position,
            amount=amount,
            taxes=taxes,
            tax_amount=tax,
            total=amount + tax,
            **fields,
        )
        subtotal += amount
        tax_total += tax
    invoice.subtotal, invoice.tax_total, invoice.total = subtotal, tax_total, subtotal + tax_total
    if status == "issued":
        invoice.status, invoice.number, invoice.issued_at = "issued", number, issued_at
    invoice.save()
    return invoice


def business_customer(name: str = "Tumkur Tech Pvt Ltd", state: str = "29", gstin: str = ""):
    return create_customer(
        {
            "name": name,
            "kind": "business",
            "email": "accounts@tumkurtech.example.in",
            "state_code": state,
            "gstin": gstin,
            "billing_address": "Plot 7, KIADB Industrial Area\nAntharasanahalli",
            "billing_city": "Tumakuru",
            "billing_postal_code": "572106",
        },
        actor="test",
    )


def eu_operator(operator) -> Operator:
    operator.name = "Rheinfaser GmbH"
    operator.legal_name = "Rheinfaser GmbH"
    operator.country = "DE"
    operator.currency = "EUR"
    operator.time_zone = "Europe/Berlin"
    operator.tax_regime = "eu_vat"
    operator.state_code = ""
    operator.gstin = ""
    operator.vat_id = "DE123456789"
    operator.address = "Rheinuferstraße 12\n50667 Köln"
    operator.upi_id = ""
    operator.save()
    return operator
