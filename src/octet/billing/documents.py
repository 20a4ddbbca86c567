"""The printable document of an invoice or credit note: context, HTML and PDF.

Rendered on demand (staff download, e-mail attachment), never inside a billing run: a PDF
is a view of an issued row, so it can be rendered again at any time and always shows the
same thing. Everything legal comes from the row itself -- the ``seller``/``buyer`` copies
frozen at issue, the lines and the totals -- never from today's operator or customer; only
the branding (colour, logo, footer) and the time zone are taken from the operator.

The template prints what Rule 46 of the CGST Rules asks of a tax invoice (supplier and
recipient with address, GSTIN and state, a serial number, the date, place of supply with
state name and code, SAC, description, quantity, taxable value, rate and amount of each of
CGST/SGST/IGST per line, the total in figures and in words, whether tax is payable on
reverse charge, a signature line) and, for a credit note, the invoice it corrects. For EU
VAT it prints both VAT ids and the invoice's tax note (e.g. the reverse-charge mention).
"""

from __future__ import annotations

import base64
import re
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel import Locale
from babel.numbers import format_decimal, get_currency_symbol
from django.template.loader import render_to_string

from octet.billing.models import DocumentKind, DocumentStatus, Invoice, InvoiceLine
from octet.billing.rating import describe_period
from octet.billing.words import amount_in_words
from octet.core.errors import Conflict
from octet.core.models import Operator
from octet.core.money import Money, minor_units
from octet.core.periods import local_date
from octet.customers.validators import INDIAN_STATES

__all__ = [
    "document_context",
    "filename",
    "render_html",
    "render_pdf",
    "require_issued",
    "upi_uri",
]

DEFAULT_BRAND_COLOR = "#1f4e79"
_COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}")


def require_issued(invoice: Invoice) -> None:
    """Only issued documents exist for the customer: drafts and voids have no PDF or XML."""
    if invoice.status != DocumentStatus.ISSUED:
        state = {DocumentStatus.DRAFT: "a draft", DocumentStatus.VOID: "void"}.get(
            invoice.status, invoice.status
        )
        raise Conflict(
            f"{invoice} is {state}: only an issued invoice or credit note has a PDF or XML",
            field="status",
        )


def filename(invoice: Invoice, extension: str) -> str:
    """'KF/25-26/000001' -> 'KF-25-26-000001.pdf': safe in a download header and on disk."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", invoice.number or f"draft-{invoice.pk}").strip("-.")
    return f"{stem or 'document'}.{extension}"


def sign_of(invoice: Invoice) -> int:
    """+1, or -1 for a credit note stored with negative amounts: documents print them positive."""
    return -1 if invoice.is_credit_note and invoice.total < 0 else 1


def local_issue_date(invoice: Invoice, tz: ZoneInfo) -> date:
    return local_date(invoice.issued_at, tz)


def operator_time_zone(invoice: Invoice, operator: Operator | None = None) -> ZoneInfo:
    name = invoice.seller.get("time_zone") or (operator or Operator.current()).time_zone
    return ZoneInfo(name)


def place_of_supply(invoice: Invoice) -> str:
    """'Karnataka (29)' for GST, 'Germany (DE)' for a country, '' when not recorded."""
    code = (invoice.place_of_supply or "").strip()
    if not code:
        return ""
    if invoice.tax_regime == "in_gst" or code.isdigit():
        code = code.zfill(2)
        name = INDIAN_STATES.get(code, "")
    else:
        name = Locale.parse("en").territories.get(code.upper(), "")
    return f"{name} ({code})" if name else code


def is_reverse_charge(invoice: Invoice) -> bool:
    return "reverse charge" in (invoice.tax_note or "").lower()


def upi_uri(invoice: Invoice, payee_name: str, upi_id: str) -> str:
    """The UPI deep link (NPCI 'upi://pay') a payment app opens from the QR code."""
    amount = Money(invoice.total, invoice.currency)
    params = [
        ("pa", quote(upi_id.strip(), safe="@.")),
        ("pn", quote(payee_name, safe="")),
        ("am", str(amount)),
        ("cu", amount.currency),
        ("tn", quote(invoice.number or "", safe="")),
    ]
    return "upi://pay?" + "&".join(f"{k}={v}" for k, v in params)


def _qr_svg(data: str) -> str:
    import segno

    # Medium error correction survives a smudged print; size is set by the stylesheet.
    qr = segno.make(data, error="m", micro=False)
    return qr.svg_inline(scale=4, border=2, omitsize=True, svgclass="upi-qr-code")


def _formatter(currency: str):
    exponent = minor_units(currency)
    pattern = ("#,##,##0" if currency == "INR" else "#,##0") + (
        "." + "0" * exponent if exponent else ""
    )
    locale = "en_IN" if currency == "INR" else "en"

    def fmt(value: Decimal, sign: int = 1) -> str:
        amount = Money(value, currency).amount * sign
        return format_decimal(amount, format=pattern, locale=locale, decimal_quantization=False)

    return fmt


def _rate(value: str | Decimal) -> str:
    return format(Decimal(str(value)).normalize(), "f")  # "9.00" -> "9", "2.50" -> "2.5"


def _period(line: InvoiceLine) -> str:
    if not line.period_start or not line.period_end:
        return ""
    if describe_period(line.period_start, line.period_end) in line.description:
        return ""  # "Fiber 100, 1-28 Feb 2026" already says it
    last = line.period_end - timedelta(days=1)  # stored exclusive; printed inclusive
    return f"{line.period_start:%d %b %Y} – {last:%d %b %Y}"


def _branding(operator: Operator, seller: dict) -> dict:
    color = seller.get("brand_color") or operator.brand_color or DEFAULT_BRAND_COLOR
    if not _COLOR_RE.fullmatch(color):
        color = DEFAULT_BRAND_COLOR  # never let a stored value write CSS
    logo = seller.get("logo_svg", operator.logo_svg) or ""
    logo_uri = ""
    if logo.strip():
        # As an <img> data URI: scripts in the SVG never run, and nothing is fetched.
        logo_uri = "data:image/svg+xml;base64," + base64.b64encode(logo.encode()).decode()
    return {
        "color": color,
        "logo_uri": logo_uri,
        "footer": seller.get("invoice_footer", operator.invoice_footer) or "",
    }


def _party(snapshot: dict) -> dict:
    party = {k: ("" if v is None else v) for k, v in snapshot.items()}
    state_code = str(party.get("state_code") or "")
    if state_code and not party.get("state"):
        party["state"] = INDIAN_STATES.get(state_code, "")
    country = str(party.get("country") or "")
    party["country_name"] = Locale.parse("en").territories.get(country.upper(), country)
    lines = [ln.strip() for ln in str(party.get("address") or "").splitlines() if ln.strip()]
    city_line = " ".join(p for p in [party.get("city", ""), party.get("postal_code", "")] if p)
    if city_line:
        lines.append(city_line)
    party["address_lines"] = lines
    return party


def document_context(invoice: Invoice) -> dict:
    """Everything the document template needs, as display-ready values (and a few raw ones)."""
    require_issued(invoice)
    operator = Operator.current()
    tz = operator_time_zone(invoice, operator)
    sign = sign_of(invoice)
    fmt = _formatter(invoice.currency)
    seller, buyer = _party(invoice.seller), _party(invoice.buyer)

    lines = list(invoice.lines.order_by("position"))
    # Tax columns in the order they first appear: CGST, SGST / IGST / VAT.
    columns: list[str] = []
    summary: dict[tuple[str, str], dict] = {}
    rows = []
    for line in lines:
        taxes = {}
        for tax in line.taxes or []:
            name, rate, amount = tax["name"], _rate(tax["rate"]), Decimal(tax["amount"])
            if name not in columns:
                columns.append(name)
            taxes[name] = {"rate": rate, "amount": fmt(amount, sign)}
            entry = summary.setdefault(
                (name, rate), {"name": name, "rate": rate, "amount": Decimal(0)}
            )
            entry["amount"] += amount
        rows.append(
            {
                "position": line.position,
                "description": line.description,
                "period": _period(line),
                "sac": line.sac,
                "quantity": line.quantity,
                "unit_price": fmt(line.unit_price, sign),
                "inclusive": bool(getattr(line, "tax_inclusive", False)),
                "taxable": fmt(line.amount, sign),
                "taxes": [taxes.get(name) for name in columns],
                "total": fmt(line.total, sign),
            }
        )
    for row in rows:  # lines before a column's first appearance need an empty cell too
        row["taxes"] += [None] * (len(columns) - len(row["taxes"]))

    total = Money(invoice.total, invoice.currency)
    against = None
    if invoice.is_credit_note and invoice.against_id:
        original = invoice.against
        against = {
            "number": original.number or str(original),
            "date": local_issue_date(original, tz) if original.issued_at else None,
        }

    upi = None
    upi_id = str(seller.get("upi_id", operator.upi_id) or "").strip()
    if (
        invoice.kind == DocumentKind.INVOICE
        and upi_id
        and invoice.currency == "INR"
        and total.is_positive()
    ):
        uri = upi_uri(invoice, seller.get("name") or operator.name, upi_id)
        upi = {"id": upi_id, "uri": uri, "qr_svg": _qr_svg(uri)}

    symbol = get_currency_symbol(
        invoice.currency, locale="en_IN" if invoice.currency == "INR" else "en"
    )
    is_gst = invoice.tax_regime == "in_gst"
    return {
        "invoice": invoice,
        "title": "Credit Note"
        if invoice.is_credit_note
        else ("Tax Invoice" if is_gst else "Invoice"),
        "is_credit_note": invoice.is_credit_note,
        "is_gst": is_gst,
        "number": invoice.number,
        "issue_date": local_issue_date(invoice, tz),
        "issued_at": invoice.issued_at.astimezone(tz),
        "due_date": invoice.due_date,
        "currency": invoice.currency,
        "currency_symbol": symbol,
        "place_of_supply": place_of_supply(invoice),
        "inter_state": is_gst and "IGST" in columns,
        "reverse_charge": is_reverse_charge(invoice),
        "tax_note": invoice.tax_note,
        "reason": invoice.reason,
        "against": against,
        "seller": seller,
        "buyer": buyer,
        "tax_columns": columns,
        "lines": rows,
        "tax_summary": [{**e, "amount": fmt(e["amount"], sign)} for e in summary.values()],
        "subtotal": fmt(invoice.subtotal, sign),
        "tax_total": fmt(invoice.tax_total, sign),
        "total": fmt(invoice.total, sign),
        "amount_in_words": amount_in_words(total.amount * sign, invoice.currency),
        "upi": upi,
        "brand": _branding(operator, invoice.seller),
    }


def render_html(invoice: Invoice) -> str:
    return render_to_string("billing/document.html", document_context(invoice))


def render_pdf(invoice: Invoice) -> bytes:
    """The PDF of an issued document. Nothing is fetched: only data: URIs are followed."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    html = render_html(invoice)
    fetcher = URLFetcher(allowed_protocols={"data"})
    return HTML(string=html, url_fetcher=fetcher).write_pdf()
