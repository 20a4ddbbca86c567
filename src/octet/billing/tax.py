"""Taxes on one invoice line. Pure: no Django, no database.

Every tax amount is computed on the line's net and rounded half up to the currency's minor
unit on its own (invariant 1: tax per line). Invoice totals are then plain sums of the line
figures, so an invoice always adds up to its lines (:func:`invoice_totals`).

Regimes:

* ``in_gst`` -- Indian GST. Place of supply in the supplier's state: CGST and SGST at half
  the rate each; another state: IGST at the full rate.
* ``eu_vat`` -- EU VAT for telecommunication services (taxed where the customer is).
  Same country: the line's rate. Another member state: reverse charge for a business with
  a VAT id, else the customer's country's standard rate. Outside the EU: no VAT.
* ``none`` -- no tax (and ``exempt`` turns any regime off for that customer/line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from types import MappingProxyType

from octet.core.money import Money, sum_money

__all__ = [
    "EU_MEMBER_STATES",
    "EU_STANDARD_RATES",
    "NOTE_OUTSIDE_EU",
    "NOTE_REVERSE_CHARGE",
    "REGIMES",
    "TaxAmount",
    "TaxContext",
    "TaxResult",
    "invoice_totals",
    "line_taxes",
]

REGIMES = frozenset({"in_gst", "eu_vat", "none"})

NOTE_REVERSE_CHARGE = (
    "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)"
)
NOTE_OUTSIDE_EU = "Outside the scope of EU VAT"

# Standard VAT rates of the 27 member states, in percent, as in force in late 2025
# (recent changes: FI 25.5 from 1 Sep 2024, SK 23 from 1 Jan 2025, EE 24 from 1 Jul 2025,
# RO 21 from 1 Aug 2025). Rates change by national law every year or two: operators must
# keep this table current, or pass their own table as ``eu_rates``. Greece is keyed by its
# ISO code GR; the VAT prefix EL is accepted as an alias (see _country).
EU_STANDARD_RATES: Mapping[str, Decimal] = MappingProxyType(
    {
        "AT": Decimal("20"),
        "BE": Decimal("21"),
        "BG": Decimal("20"),
        "CY": Decimal("19"),
        "CZ": Decimal("21"),
        "DE": Decimal("19"),
        "DK": Decimal("25"),
        "EE": Decimal("24"),
        "ES": Decimal("21"),
        "FI": Decimal("25.5"),
        "FR": Decimal("20"),
        "GR": Decimal("24"),
        "HR": Decimal("25"),
        "HU": Decimal("27"),
        "IE": Decimal("23"),
        "IT": Decimal("22"),
        "LT": Decimal("21"),
        "LU": Decimal("17"),
        "LV": Decimal("21"),
        "MT": Decimal("18"),
        "NL": Decimal("21"),
        "PL": Decimal("23"),
        "PT": Decimal("23"),
        "RO": Decimal("21"),
        "SE": Decimal("25"),
        "SI": Decimal("22"),
        "SK": Decimal("23"),
    }
)
# Membership is fixed by treaty, not by whatever rate table a caller passes in.
EU_MEMBER_STATES = frozenset(EU_STANDARD_RATES)

_HUNDRED = Fraction(100)


@dataclass(frozen=True)
class TaxAmount:
    """One tax on one line, e.g. CGST at 9 % = 49.31."""

    name: str  # "CGST", "SGST", "IGST", "VAT"
    rate: Decimal  # percent, without trailing zeros so it prints as "9" or "2.5"
    amount: Money


@dataclass(frozen=True)
class TaxContext:
    """Who supplies whom, and where: everything the tax of a line depends on besides its amount."""

    regime: str  # "in_gst" | "eu_vat" | "none"
    supplier_region: str  # GST state code ("29") or EU country ("DE")
    customer_region: str  # place of supply: customer's GST state code / country
    customer_business_id: str = ""  # GSTIN or validated EU VAT id ("" for consumers)
    exempt: bool = False

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise ValueError(
                f"unknown tax regime {self.regime!r}; expected one of {sorted(REGIMES)}"
            )


@dataclass(frozen=True)
class TaxResult:
    """The net of a line, its taxes and the legal note the invoice must print (if any)."""

    net: Money
    taxes: tuple[TaxAmount, ...]
    note: str = ""  # e.g. the reverse-charge mention

    @cached_property
    def tax(self) -> Money:
        return sum_money((t.amount for t in self.taxes), self.net.currency)

    @cached_property
    def total(self) -> Money:
        return self.net + self.tax


def _plain(value: Decimal) -> Decimal:
    # 9.00 -> 9 and 2.50 -> 2.5, but never 1E+1: rates are printed on invoices.
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def _rate(value: object) -> Decimal:
    if isinstance(value, bool | float):
        raise TypeError(f"tax rate must be Decimal, int or str, never {type(value).__name__}")
    if isinstance(value, int | str):
        try:
            value = Decimal(str(value).strip())
        except ArithmeticError:
            raise ValueError(f"tax rate is not a number: {value!r}") from None
    if not isinstance(value, Decimal):
        raise TypeError(f"tax rate must be Decimal, int or str, got {type(value).__name__}")
    if not value.is_finite() or not 0 <= value <= 100:
        raise ValueError(f"tax rate must be between 0 and 100 percent, got {value}")
    return value


def _state(code: str) -> str:
    # GST state codes are two digits; "7" and "07" are the same state (Delhi).
    code = code.strip()
    return code.zfill(2) if code.isdigit() else code.upper()


def _country(code: str) -> str:
    code = code.strip().upper()
    return "GR" if code == "EL" else code  # EL is Greece's VAT prefix, GR its ISO code


def _require_region(value: str, what: str) -> None:
    if not value.strip():
        raise ValueError(f"{what} is required to work out the tax")


def _components(
    rate: Decimal, ctx: TaxContext, eu_rates: Mapping[str, Decimal]
) -> tuple[list[tuple[str, Decimal]], str]:
    """(name, rate) of each tax that applies, and the note the invoice must carry."""
    if ctx.exempt or ctx.regime == "none":
        return [], ""
    _require_region(ctx.supplier_region, "supplier_region")
    _require_region(ctx.customer_region, "customer_region")

    if ctx.regime == "in_gst":
        if _state(ctx.supplier_region) == _state(ctx.customer_region):
            half = _plain(rate / 2)  # exact: a 0..100 rate has few digits
            return [("CGST", half), ("SGST", half)], ""
        return [("IGST", _plain(rate))], ""

    # eu_vat
    supplier, customer = _country(ctx.supplier_region), _country(ctx.customer_region)
    if supplier not in EU_MEMBER_STATES:
        raise ValueError(f"eu_vat needs a supplier in an EU member state, got {supplier!r}")
    if customer == supplier:
        # Domestic supply: the line's own rate (the tax category's, which may be reduced).
        return [("VAT", _plain(rate))], ""
    if customer not in EU_MEMBER_STATES:
        return [], NOTE_OUTSIDE_EU
    if ctx.customer_business_id.strip():
        return [], NOTE_REVERSE_CHARGE
    # B2C telecom services are taxed in the consumer's country at its standard rate. (The
    # EUR 10,000 micro-business threshold of Art. 59c is not modelled: an operator using it
    # would bill as domestic.)
    if customer not in eu_rates:
        raise ValueError(f"no VAT rate for {customer} in the rate table")
    return [("VAT", _plain(_rate(eu_rates[customer])))], ""


def _tax_on(net: Money, rate: Decimal) -> Money:
    # Exact product, one half-up rounding per tax amount.
    return Money.rounded(Fraction(net.amount) * Fraction(rate) / _HUNDRED, net.currency)


def line_taxes(
    amount: Money,
    rate: Decimal,
    ctx: TaxContext,
    *,
    inclusive: bool = False,
    eu_rates: Mapping[str, Decimal] | None = None,
) -> TaxResult:
    """Taxes of one invoice line of ``amount`` at ``rate`` percent.

    ``amount`` is the net unless ``inclusive`` is true, when it is the gross price the
    customer was shown. Then net = gross / (1 + rates) rounded half up, the taxes are
    computed on that net as usual, and the net absorbs any rounding difference, so that
    net + taxes == gross exactly: the customer pays the price they saw.

    Negative amounts (discounts, credit-note lines) give negative taxes, rounded
    symmetrically. Raises ValueError for a rate outside 0..100 or a context it cannot tax.
    """
    if not isinstance(amount, Money):
        raise TypeError(f"amount must be Money, got {type(amount).__name__}")
    rate = _rate(rate)
    components, note = _components(rate, ctx, EU_STANDARD_RATES if eu_rates is None else eu_rates)

    if inclusive and components:
        total_rate = sum((Fraction(r) for _, r in components), Fraction(0))
        net = Money.rounded(Fraction(amount.amount) / (1 + total_rate / _HUNDRED), amount.currency)
    else:
        net = amount
    taxes = tuple(TaxAmount(name, r, _tax_on(net, r)) for name, r in components)
    if inclusive:
        # Usually a no-op; otherwise a minor unit or two moves into the net.
        net = amount - sum_money((t.amount for t in taxes), amount.currency)
    return TaxResult(net=net, taxes=taxes, note=note)


def invoice_totals(
    lines: Sequence[TaxResult], *, currency: str | None = None
) -> tuple[Money, Money, Money]:
    """(subtotal, tax, total) of an invoice: exact sums of its lines' figures.

    ``currency`` is only needed for an invoice without lines; lines in another currency
    raise CurrencyMismatch rather than being added.
    """
    if currency is None:
        if not lines:
            raise ValueError("invoice_totals needs a currency for an invoice without lines")
        currency = lines[0].net.currency
    subtotal = sum_money((line.net for line in lines), currency)
    tax = sum_money((line.tax for line in lines), currency)
    return subtotal, tax, subtotal + tax
