"""The printable receipt of a payment: context, HTML and PDF.

Rendered on demand (staff download, CLI), like invoice PDFs
(:mod:`octet.billing.documents`), with the operator's branding. A receipt is a view of the
payment as it stands: the invoices it settles now (allocations not reversed), what it left
as account credit, any refund drawn from it, and a "REVERSED" mark once it bounced.

A receipt is not a tax document, so the seller is today's operator, and the customer's
name and address are today's.
"""

from __future__ import annotations

import re
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.numbers import get_currency_symbol
from django.db.models import Sum
from django.template.loader import render_to_string

from octet.billing import documents
from octet.billing.words import amount_in_words
from octet.core.models import Operator
from octet.core.money import Money
from octet.customers.validators import INDIAN_STATES
from octet.payments.models import Method, Payment, Refund

__all__ = ["receipt_context", "receipt_filename", "receipt_html", "render_receipt_pdf"]

# What the reference of a payment is, by method (a gateway payment names its own id).
_REFERENCE_LABELS = {
    Method.CASH: "Reference",
    Method.CHEQUE: "Cheque no.",
    Method.BANK_TRANSFER: "UTR",
    Method.UPI: "UPI reference (UTR)",
    Method.CARD: "Reference",
    Method.NETBANKING: "Reference",
    Method.WALLET: "Reference",
    Method.VOUCHER: "Voucher serial",
}


def receipt_filename(payment: Payment) -> str:
    """'RCPT/25-26/000042' -> 'receipt-RCPT-25-26-000042.pdf'; unnumbered: by payment id."""
    stem = payment.receipt_number or f"payment-{payment.pk}"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")
    return f"receipt-{stem or payment.pk}.pdf"


def _seller(operator: Operator) -> dict:
    state = INDIAN_STATES.get(operator.state_code, "") if operator.state_code else ""
    return {
        "name": operator.name,
        "legal_name": operator.legal_name,
        "address_lines": [ln.strip() for ln in operator.address.splitlines() if ln.strip()],
        "state": state,
        "gstin": operator.gstin,
        "vat_id": operator.vat_id,
        "phone": operator.phone,
        "email": operator.email,
    }


def _customer(payment: Payment) -> dict:
    customer = payment.customer
    lines = [ln.strip() for ln in customer.billing_address.splitlines() if ln.strip()]
    city = " ".join(p for p in [customer.billing_city, customer.billing_postal_code] if p)
    if city:
        lines.append(city)
    if customer.country and customer.country != "IN":
        lines.append(Locale.parse("en").territories.get(customer.country, customer.country))
    return {
        "name": customer.name,
        "account_number": customer.account_number,
        "address_lines": lines,
        "gstin": customer.gstin,
    }


def _references(payment: Payment) -> list[tuple[str, str]]:
    refs = []
    if payment.reference:
        refs.append((_REFERENCE_LABELS.get(payment.method, "Reference"), payment.reference))
    if payment.gateway:
        refs.append(("Gateway", payment.gateway))
    if payment.gateway_payment_id:
        refs.append(("Gateway payment id", payment.gateway_payment_id))
    return refs


def receipt_context(payment: Payment) -> dict:
    """Everything the receipt template needs, as display-ready values."""
    operator = Operator.current()
    tz = ZoneInfo(operator.time_zone)
    currency = payment.currency
    fmt = documents._formatter(currency)
    amount = Money(payment.amount, currency)
    reversed_ = payment.status == Payment.Status.REVERSED

    allocations = list(
        payment.allocations.filter(reversed_at__isnull=True)
        .select_related("invoice")
        .order_by("at", "id")
    )
    settled = Money.zero(currency)
    rows = []
    for allocation in allocations:
        part = Money(allocation.amount, currency)
        settled += part
        invoice = allocation.invoice
        rows.append(
            {
                "number": invoice.number or f"draft {invoice.pk}",
                "date": invoice.issued_at.astimezone(tz) if invoice.issued_at else None,
                "total": fmt(invoice.total),
                "amount": fmt(part.amount),
            }
        )
    refunded_total = payment.refunds.exclude(status=Refund.Status.FAILED).aggregate(
        total=Sum("amount")
    )["total"] or Decimal(0)
    refunded = Money(refunded_total, currency)
    credit = Money.zero(currency)
    if not reversed_:
        credit = max(amount - settled - refunded, Money.zero(currency))

    symbol = get_currency_symbol(currency, locale="en_IN" if currency == "INR" else "en")
    return {
        "payment": payment,
        "title": "Payment receipt",
        "number": payment.receipt_number,
        "unnumbered": payment.receipt_number is None,
        "received_at": payment.received_at.astimezone(tz),
        "seller": _seller(operator),
        "customer": _customer(payment),
        "method": Method(payment.method).label if payment.method in Method.values else "",
        "references": _references(payment),
        "currency": currency,
        "currency_symbol": symbol,
        "amount": fmt(amount.amount),
        "amount_in_words": amount_in_words(amount.amount, currency),
        "settled": rows,
        "settled_total": fmt(settled.amount),
        "refunded": fmt(refunded.amount) if refunded.is_positive() else "",
        "credit": fmt(credit.amount),
        "has_credit": credit.is_positive(),
        "reversed": reversed_,
        "brand": documents._branding(operator, {}),
    }


def receipt_html(payment: Payment) -> str:
    return render_to_string("payments/receipt.html", receipt_context(payment))


def render_receipt_pdf(payment: Payment) -> bytes:
    """The receipt as a PDF. Nothing is fetched: only data: URIs are followed."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"})
    return HTML(string=receipt_html(payment), url_fetcher=fetcher).write_pdf()
