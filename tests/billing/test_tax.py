"""Tests for octet.billing.tax: scenario 01 figures first, then regimes, then properties."""

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.billing.tax import (
    EU_MEMBER_STATES,
    EU_STANDARD_RATES,
    NOTE_OUTSIDE_EU,
    NOTE_REVERSE_CHARGE,
    TaxContext,
    TaxResult,
    invoice_totals,
    line_taxes,
)
from octet.core.money import CurrencyMismatch, Money

GST18 = Decimal("18")
KARNATAKA = TaxContext(regime="in_gst", supplier_region="29", customer_region="29")
TAMIL_NADU = TaxContext(regime="in_gst", supplier_region="29", customer_region="33")


def inr(amount: str) -> Money:
    return Money(Decimal(amount), "INR")


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def figures(result: TaxResult) -> list[tuple[str, str, str]]:
    return [(t.name, str(t.rate), str(t.amount)) for t in result.taxes]


# -- scenario 01: every line of every document -------------------------------------------


@pytest.mark.parametrize(
    ("net", "each", "total"),
    [
        ("547.84", "49.31", "646.46"),  # KF/25-26/000001, Fiber 100 15-31 Jan
        ("999.00", "89.91", "1178.82"),  # KF/25-26/000002, Fiber 100 Feb
        ("260.00", "23.40", "306.80"),  # KF/25-26/000002, 26 GB overage
        ("677.89", "61.01", "799.91"),  # KFC/25-26/000001, Fiber 100 unused 10-28 Feb
        ("1017.18", "91.55", "1200.28"),  # KF/25-26/000003, Fiber 300 10-28 Feb
        ("1499.00", "134.91", "1768.82"),  # KF/25-26/000004, Fiber 300 March
    ],
)
def test_scenario_01_intra_state_lines(net: str, each: str, total: str) -> None:
    result = line_taxes(inr(net), GST18, KARNATAKA)
    assert result.net == inr(net)
    assert figures(result) == [("CGST", "9", each), ("SGST", "9", each)]
    assert result.total == inr(total)
    assert result.note == ""


def test_scenario_01_invoice_totals() -> None:
    lines = [
        line_taxes(inr("999.00"), GST18, KARNATAKA),
        line_taxes(inr("260.00"), GST18, KARNATAKA),
    ]
    assert invoice_totals(lines) == (inr("1259.00"), inr("226.62"), inr("1485.62"))
    credit = [line_taxes(inr("677.89"), GST18, KARNATAKA)]
    assert invoice_totals(credit) == (inr("677.89"), inr("122.02"), inr("799.91"))
    # What the 1885.99 payment settled of invoice 2 after the credit note.
    assert invoice_totals(lines)[2] - invoice_totals(credit)[2] == inr("685.71")


def test_each_half_is_rounded_on_its_own() -> None:
    # 18 % of 547.84 is 98.6112 -> 98.61 as one figure, but 49.3056 -> 49.31 twice.
    assert line_taxes(inr("547.84"), GST18, KARNATAKA).tax == inr("98.62")


# -- GST ---------------------------------------------------------------------------------


def test_inter_state_is_igst_at_full_rate() -> None:
    result = line_taxes(inr("547.84"), GST18, TAMIL_NADU)
    assert figures(result) == [("IGST", "18", "98.61")]
    assert result.total == inr("646.45")


def test_state_codes_compare_as_two_digits() -> None:
    delhi = TaxContext(regime="in_gst", supplier_region="07", customer_region="7")
    assert [t.name for t in line_taxes(inr("100.00"), GST18, delhi).taxes] == ["CGST", "SGST"]


def test_odd_rate_halves_print_plainly() -> None:
    result = line_taxes(inr("100.00"), Decimal("5.00"), KARNATAKA)
    assert figures(result) == [("CGST", "2.5", "2.50"), ("SGST", "2.5", "2.50")]


def test_credit_lines_get_negative_taxes() -> None:
    result = line_taxes(inr("-677.89"), GST18, KARNATAKA)
    assert figures(result) == [("CGST", "9", "-61.01"), ("SGST", "9", "-61.01")]
    assert result.total == inr("-799.91")


@pytest.mark.parametrize(
    "ctx",
    [
        TaxContext(regime="none", supplier_region="", customer_region=""),
        TaxContext(regime="in_gst", supplier_region="29", customer_region="29", exempt=True),
        TaxContext(regime="eu_vat", supplier_region="DE", customer_region="DE", exempt=True),
    ],
)
def test_no_regime_or_exempt_means_no_tax(ctx: TaxContext) -> None:
    result = line_taxes(inr("999.00"), GST18, ctx)
    assert result.taxes == ()
    assert result.total == inr("999.00")
    # Inclusive prices without tax are all net.
    assert line_taxes(inr("999.00"), GST18, ctx, inclusive=True).net == inr("999.00")


# -- EU VAT ------------------------------------------------------------------------------


def vat(customer: str, business_id: str = "", supplier: str = "DE") -> TaxContext:
    return TaxContext(
        regime="eu_vat",
        supplier_region=supplier,
        customer_region=customer,
        customer_business_id=business_id,
    )


def test_eu_domestic_uses_the_line_rate() -> None:
    result = line_taxes(eur("49.99"), Decimal("19"), vat("DE"))
    assert figures(result) == [("VAT", "19", "9.50")]
    assert result.total == eur("59.49")
    # A domestic business customer still pays domestic VAT.
    assert line_taxes(eur("49.99"), Decimal("19"), vat("DE", "DE123456789")).tax == eur("9.50")


def test_eu_cross_border_consumer_pays_their_countrys_rate() -> None:
    result = line_taxes(eur("49.99"), Decimal("19"), vat("FR"))
    assert figures(result) == [("VAT", "20", "10.00")]
    assert result.note == ""


def test_eu_cross_border_business_is_reverse_charged() -> None:
    result = line_taxes(eur("49.99"), Decimal("19"), vat("FR", "FR12345678901"))
    assert result.taxes == ()
    assert result.total == eur("49.99")
    assert result.note == NOTE_REVERSE_CHARGE
    assert "Art. 196" in result.note


def test_outside_the_eu_is_out_of_scope() -> None:
    result = line_taxes(eur("49.99"), Decimal("19"), vat("US"))
    assert result.taxes == ()
    assert result.note == NOTE_OUTSIDE_EU == "Outside the scope of EU VAT"


def test_eu_rate_table() -> None:
    assert len(EU_STANDARD_RATES) == 27 == len(EU_MEMBER_STATES)
    assert EU_STANDARD_RATES["DE"] == Decimal("19")
    assert EU_STANDARD_RATES["FR"] == Decimal("20")
    assert "GB" not in EU_MEMBER_STATES
    with pytest.raises(TypeError):
        EU_STANDARD_RATES["DE"] = Decimal("0")  # type: ignore[index]


def test_greece_by_vat_prefix_and_iso_code() -> None:
    assert line_taxes(eur("100.00"), Decimal("19"), vat("EL")).tax == eur("24.00")
    assert line_taxes(eur("100.00"), Decimal("19"), vat("gr")).tax == eur("24.00")


def test_operator_supplied_rate_table() -> None:
    rates = {**EU_STANDARD_RATES, "FR": Decimal("5.5")}
    result = line_taxes(eur("100.00"), Decimal("19"), vat("FR"), eu_rates=rates)
    assert figures(result) == [("VAT", "5.5", "5.50")]
    with pytest.raises(ValueError, match="no VAT rate for FR"):
        line_taxes(eur("100.00"), Decimal("19"), vat("FR"), eu_rates={"DE": Decimal("19")})


def test_eu_supplier_must_be_in_the_eu() -> None:
    with pytest.raises(ValueError, match="member state"):
        line_taxes(eur("1.00"), Decimal("19"), vat("FR", supplier="CH"))


# -- tax-inclusive prices ----------------------------------------------------------------


def test_inclusive_price_splits_exactly() -> None:
    result = line_taxes(inr("1180.00"), GST18, KARNATAKA, inclusive=True)
    assert result.net == inr("1000.00")
    assert figures(result) == [("CGST", "9", "90.00"), ("SGST", "9", "90.00")]
    assert result.total == inr("1180.00")


def test_inclusive_rounding_difference_goes_to_the_net() -> None:
    # 999.00 / 1.18 = 846.610... -> 846.61; 9 % of that is 76.1949 -> 76.19 twice;
    # 846.61 + 152.38 = 998.99, so the net takes the missing paisa.
    result = line_taxes(inr("999.00"), GST18, KARNATAKA, inclusive=True)
    assert figures(result) == [("CGST", "9", "76.19"), ("SGST", "9", "76.19")]
    assert result.net == inr("846.62")
    assert result.total == inr("999.00")


def test_inclusive_eu_consumer_abroad() -> None:
    result = line_taxes(eur("60.00"), Decimal("19"), vat("FR"), inclusive=True)
    assert result.net == eur("50.00")
    assert figures(result) == [("VAT", "20", "10.00")]


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [Decimal("-1"), Decimal("100.01"), Decimal("NaN"), "abc"])
def test_rates_outside_0_to_100_are_refused(rate: object) -> None:
    with pytest.raises(ValueError):
        line_taxes(inr("1.00"), rate, KARNATAKA)  # type: ignore[arg-type]


def test_float_rates_are_refused() -> None:
    with pytest.raises(TypeError):
        line_taxes(inr("1.00"), 18.0, KARNATAKA)  # type: ignore[arg-type]


def test_boundary_rates_are_accepted() -> None:
    assert line_taxes(inr("10.00"), Decimal("0"), TAMIL_NADU).tax == inr("0.00")
    assert line_taxes(inr("10.00"), Decimal("100"), TAMIL_NADU).tax == inr("10.00")
    assert line_taxes(inr("10.00"), "18", TAMIL_NADU).tax == inr("1.80")  # type: ignore[arg-type]


def test_unknown_regime_and_missing_region_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown tax regime"):
        TaxContext(regime="us_sales", supplier_region="CA", customer_region="CA")
    with pytest.raises(ValueError, match="customer_region"):
        line_taxes(inr("1.00"), GST18, TaxContext("in_gst", "29", " "))


def test_invoice_totals_edge_cases() -> None:
    assert invoice_totals([], currency="INR") == (inr("0"), inr("0"), inr("0"))
    with pytest.raises(ValueError, match="currency"):
        invoice_totals([])
    mixed = [line_taxes(inr("1.00"), GST18, KARNATAKA), line_taxes(eur("1.00"), GST18, vat("DE"))]
    with pytest.raises(CurrencyMismatch):
        invoice_totals(mixed)


# -- properties --------------------------------------------------------------------------

CURRENCIES = ["INR", "EUR", "JPY", "BHD"]
minor = st.integers(min_value=-(10**12), max_value=10**12)
rates = st.decimals(min_value=0, max_value=100, places=2)
contexts = st.sampled_from(
    [KARNATAKA, TAMIL_NADU, vat("DE"), vat("FR"), vat("FR", "FR1"), vat("US")]
)


def half_up(value: Fraction, currency: str) -> Money:
    return Money.rounded(value, currency, ROUND_HALF_UP)


@given(units=minor, currency=st.sampled_from(CURRENCIES), rate=rates, ctx=contexts)
def test_each_tax_is_its_rate_on_the_net_rounded_half_up(
    units: int, currency: str, rate: Decimal, ctx: TaxContext
) -> None:
    net = Money.from_minor_units(units, currency)
    result = line_taxes(net, rate, ctx)
    assert result.net == net
    for tax in result.taxes:
        assert tax.amount == half_up(Fraction(net.amount) * Fraction(tax.rate) / 100, currency)
    # Rounding each of k components moves the sum at most k/2 units from the rounded total.
    if result.taxes:
        total_rate = sum(Fraction(t.rate) for t in result.taxes)
        whole = half_up(Fraction(net.amount) * total_rate / 100, currency)
        gap = abs(result.tax.to_minor_units() - whole.to_minor_units())
        assert gap <= max(1, len(result.taxes) - 1)
    assert result.total == net + result.tax


@given(units=minor, currency=st.sampled_from(CURRENCIES), rate=rates, ctx=contexts)
def test_inclusive_net_plus_tax_is_the_gross_exactly(
    units: int, currency: str, rate: Decimal, ctx: TaxContext
) -> None:
    gross = Money.from_minor_units(units, currency)
    result = line_taxes(gross, rate, ctx, inclusive=True)
    assert result.net + result.tax == gross
    assert result.total == gross
    # And the net stays within 1.5 units of the exact gross / (1 + rate).
    total_rate = sum((Fraction(t.rate) for t in result.taxes), Fraction(0))
    exact_net = Fraction(gross.to_minor_units()) / (1 + total_rate / 100)
    assert abs(result.net.to_minor_units() - exact_net) <= Fraction(3, 2)


@given(nets=st.lists(minor, max_size=20), rate=rates, ctx=contexts)
def test_invoice_totals_are_the_sums_of_the_lines(
    nets: list[int], rate: Decimal, ctx: TaxContext
) -> None:
    lines = [line_taxes(Money.from_minor_units(n, "EUR"), rate, ctx) for n in nets]
    subtotal, tax, total = invoice_totals(lines, currency="EUR")
    assert subtotal.to_minor_units() == sum(n for n in nets)
    assert tax.to_minor_units() == sum(t.amount.to_minor_units() for r in lines for t in r.taxes)
    assert total == subtotal + tax == sum((r.total for r in lines), Money.zero("EUR"))
