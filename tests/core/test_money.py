"""Tests for octet.core.money: worked figures first, then general properties."""

import decimal
import pickle
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.core.money import (
    CurrencyMismatch,
    InvalidCurrency,
    Money,
    minor_units,
    sum_money,
)

ALL_ROUNDINGS = [
    decimal.ROUND_CEILING,
    decimal.ROUND_DOWN,
    decimal.ROUND_FLOOR,
    decimal.ROUND_HALF_DOWN,
    decimal.ROUND_HALF_EVEN,
    decimal.ROUND_HALF_UP,
    decimal.ROUND_UP,
    decimal.ROUND_05UP,
]
# One currency per exponent: 2, 0, 3, 4.
CURRENCIES = ["INR", "JPY", "BHD", "CLF"]


def inr(amount: str) -> Money:
    return Money(Decimal(amount), "INR")


# -- worked examples (real plan prices) -------------------------------------------------


def test_prorated_plan_prices():
    # 999/month plan used for 17 of 31 days; 999 and 1499 plans for 19 of 28 days.
    assert Money.rounded(Fraction(999 * 17, 31), "INR") == inr("547.84")
    assert Money.rounded(Fraction(999 * 19, 28), "INR") == inr("677.89")
    assert Money.rounded(Fraction(1499 * 19, 28), "INR") == inr("1017.18")


def test_gst_split_cgst_sgst():
    taxable = inr("547.84")
    cgst = taxable.multiply(Decimal("0.09"))
    sgst = taxable.multiply("0.09")
    assert cgst == sgst == inr("49.31")
    assert taxable + cgst + sgst == inr("646.46")


def test_fraction_rounded_exactly_not_via_float():
    # 0.125 INR is a true half paisa; 1/3 is not representable; both must be exact.
    assert Money.rounded(Fraction(1, 8), "INR") == inr("0.13")
    assert Money.rounded(Fraction(1, 8), "INR", ROUND_HALF_EVEN) == inr("0.12")
    assert Money.rounded(Fraction(1, 3), "INR") == inr("0.33")
    assert Money.rounded(Fraction(-1, 8), "INR") == inr("-0.13")
    # A value a hair below the half-way point must not be bumped up by double rounding.
    just_below = Fraction(5, 1000) - Fraction(1, 10**40)
    assert Money.rounded(just_below, "INR") == inr("0.00")


def test_rounded_accepts_decimal_int_str():
    assert Money.rounded(Decimal("2.345"), "INR") == inr("2.35")
    assert Money.rounded("2.345", "INR", ROUND_DOWN) == inr("2.34")
    assert Money.rounded(7, "JPY") == Money(7, "JPY")
    with pytest.raises(ValueError, match="rounding"):
        Money.rounded("1", "INR", "ROUND_SIDEWAYS")


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("INR", 2), ("usd", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("CLF", 4)],
)
def test_minor_units(currency, digits):
    assert minor_units(currency) == digits


def test_unknown_currency_rejected():
    with pytest.raises(InvalidCurrency):
        minor_units("ABC")
    with pytest.raises(InvalidCurrency):
        Money("1", "RUPEES")
    assert issubclass(InvalidCurrency, ValueError)


def test_amount_is_quantized_and_currency_upper_cased():
    money = Money("5", "inr")
    assert money.currency == "INR"
    assert money.amount == Decimal("5.00")
    assert money.amount.as_tuple().exponent == -2
    assert str(money) == "5.00"
    assert Money(5, "INR") == money
    assert Money(Decimal("5.000"), "INR") == money  # extra zeros are exact, so allowed


def test_str_uses_currency_minor_units():
    assert str(Money(1000, "JPY")) == "1000"
    assert str(Money("1", "BHD")) == "1.000"
    assert str(inr("547.84")) == "547.84"
    assert str(Money("-0", "INR")) == "0.00"  # no negative zero
    assert str(Money(10**30, "INR")) == "1" + "0" * 30 + ".00"  # no exponent notation


def test_jpy_has_no_decimals():
    with pytest.raises(ValueError, match="Money.rounded"):
        Money("100.5", "JPY")
    assert Money.rounded("100.5", "JPY") == Money(101, "JPY")
    assert Money(1000, "JPY").to_minor_units() == 1000


def test_bhd_has_three_decimals():
    assert Money("1.234", "BHD").to_minor_units() == 1234
    with pytest.raises(ValueError, match="more decimal places"):
        Money("1.2345", "BHD")
    assert Money.from_minor_units(1005, "BHD") == Money("1.005", "BHD")


def test_too_many_places_refused():
    with pytest.raises(ValueError, match="Money.rounded"):
        inr("10.005")


def test_float_refused_everywhere():
    with pytest.raises(TypeError, match="never float"):
        Money(1.5, "INR")
    with pytest.raises(TypeError, match="never float"):
        Money.rounded(0.1, "INR")
    with pytest.raises(TypeError, match="never float"):
        inr("10").multiply(0.18)
    with pytest.raises(TypeError, match="never float"):
        inr("10").allocate([0.5, 0.5])


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", ""])
def test_bad_amount_strings(bad):
    with pytest.raises(ValueError):
        Money(bad, "INR")


def test_mixing_currencies_raises():
    rupees, dollars = inr("10"), Money("10", "USD")
    with pytest.raises(CurrencyMismatch, match=r"INR.*USD"):
        rupees + dollars
    with pytest.raises(CurrencyMismatch):
        rupees - dollars
    with pytest.raises(CurrencyMismatch):
        rupees < dollars  # noqa: B015
    with pytest.raises(CurrencyMismatch):
        rupees >= dollars  # noqa: B015
    with pytest.raises(CurrencyMismatch):
        sum_money([rupees, dollars], "INR")
    with pytest.raises(CurrencyMismatch):
        sum_money([dollars], "INR")
    # Equality compares both fields and does not raise.
    assert rupees != dollars
    assert issubclass(CurrencyMismatch, ValueError)


def test_arithmetic_and_sign():
    a, b = inr("10.50"), inr("0.75")
    assert a + b == inr("11.25")
    assert a - b == inr("9.75")
    assert b - a == inr("-9.75")
    assert -a == inr("-10.50")
    assert abs(inr("-3")) == inr("3")
    assert inr("-3").is_negative() and inr("3").is_positive() and Money.zero("INR").is_zero()
    assert a > b and b < a and a >= a and a <= a
    with pytest.raises(TypeError):
        a + 1
    with pytest.raises(TypeError):
        a * 2  # rounding must be explicit: use multiply()


def test_builtin_sum_and_sum_money():
    items = [inr("1.10"), inr("2.20"), inr("3.30")]
    assert sum(items) == inr("6.60")
    assert sum(items, Money.zero("INR")) == inr("6.60")
    assert sum_money(items, "INR") == inr("6.60")
    assert sum_money([], "JPY") == Money(0, "JPY")


def test_allocate_examples():
    assert inr("100.00").allocate([1, 1, 1]) == [inr("33.34"), inr("33.33"), inr("33.33")]
    assert inr("-100.00").allocate([1, 1, 1]) == [inr("-33.34"), inr("-33.33"), inr("-33.33")]
    assert inr("10").allocate([Decimal("0.7"), Fraction(3, 10)]) == [inr("7"), inr("3")]
    assert inr("0.05").allocate([1, 0, 1]) == [inr("0.03"), inr("0"), inr("0.02")]
    assert Money(100, "JPY").split(3) == [Money(34, "JPY"), Money(33, "JPY"), Money(33, "JPY")]


def test_allocate_largest_remainder_not_first_part():
    # Shares 1.6, 1.2, 1.2 paise: the leftover paisa goes to the 0.6 remainder (first),
    # and with shares 0.3, 0.7 it must go to the second part, not the first.
    assert inr("0.04").allocate([4, 3, 3]) == [inr("0.02"), inr("0.01"), inr("0.01")]
    assert inr("0.01").allocate([3, 7]) == [inr("0"), inr("0.01")]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [-1, -1]])
def test_allocate_bad_weights(weights):
    with pytest.raises(ValueError):
        inr("1").allocate(weights)


def test_split_bad_count():
    with pytest.raises(ValueError):
        inr("1").split(0)


def test_minor_unit_round_trip_and_zero():
    assert inr("547.84").to_minor_units() == 54784
    assert Money.from_minor_units(-5, "INR") == inr("-0.05")
    assert Money.zero("BHD").amount == Decimal("0.000")


def test_format_locale():
    assert inr("1234567.5").format() == "₹12,34,567.50"
    assert Money(1000, "JPY").format("ja_JP") == "￥1,000"
    assert Money("1.5", "USD").format("en_US") == "$1.50"
    # CLDR shows IQD with 0 digits; ISO has 3 and the display must not round.
    assert "1,234.500" in Money("1234.5", "IQD").format("en_US")


def test_immutable_hashable_picklable():
    money = inr("1")
    with pytest.raises(AttributeError):
        money.amount = Decimal(2)  # type: ignore[misc]
    assert {money, inr("1.00")} == {money}
    assert pickle.loads(pickle.dumps(money)) == money


def test_independent_of_decimal_context():
    # A caller's low-precision context must not leak into money arithmetic.
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        big = inr("123456789.12")
        assert (big + inr("0.01")).amount == Decimal("123456789.13")
        assert big.multiply("1") == big


# -- properties -------------------------------------------------------------------------

currencies = st.sampled_from(CURRENCIES)
minor = st.integers(min_value=-(10**15), max_value=10**15)
roundings = st.sampled_from(ALL_ROUNDINGS)
exact_values = st.one_of(
    st.fractions(max_denominator=10**6).filter(lambda f: abs(f) < 10**12),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=8, min_value=-(10**12), max_value=10**12
    ),
    st.integers(min_value=-(10**12), max_value=10**12),
)
weight = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.fractions(min_value=0, max_value=1000, max_denominator=1000),
    st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
)
weight_lists = st.lists(weight, min_size=1, max_size=12).filter(
    lambda ws: sum(Fraction(w) for w in ws) > 0
)


@st.composite
def money(draw, currency=None):
    return Money.from_minor_units(draw(minor), currency or draw(currencies))


@st.composite
def same_currency_triple(draw):
    currency = draw(currencies)
    return tuple(draw(money(currency)) for _ in range(3))


@given(whole=money(), weights=weight_lists)
def test_allocation_sums_back_and_stays_within_one_unit(whole, weights):
    parts = whole.allocate(weights)
    assert len(parts) == len(weights)
    assert sum(parts, Money.zero(whole.currency)) == whole
    total_weight = sum(Fraction(w) for w in weights)
    for part, w in zip(parts, weights, strict=True):
        exact_share = Fraction(whole.to_minor_units()) * Fraction(w) / total_weight
        assert abs(part.to_minor_units() - exact_share) < 1
        if w == 0:
            assert part.is_zero()


@given(whole=money(), n=st.integers(min_value=1, max_value=50))
def test_split_parts_differ_by_at_most_one_unit(whole, n):
    units = [p.to_minor_units() for p in whole.split(n)]
    assert sum(units) == whole.to_minor_units()
    assert max(units) - min(units) <= 1
    assert units == sorted(units, key=abs, reverse=True)  # extra units go to earlier parts


@given(same_currency_triple())
def test_addition_associative_and_subtraction_inverse(triple):
    a, b, c = triple
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a
    assert (a + b) - b == a
    assert a - a == Money.zero(a.currency)
    assert a + (-a) == Money.zero(a.currency)
    assert a - b == -(b - a)


@given(a=money(), b=money())
def test_ordering_matches_minor_units(a, b):
    if a.currency != b.currency:
        with pytest.raises(CurrencyMismatch):
            a < b  # noqa: B015
        assert a != b
    else:
        assert (a < b) == (a.to_minor_units() < b.to_minor_units())
        assert (a == b) == (a.to_minor_units() == b.to_minor_units())


@given(value=exact_values, currency=currencies, rounding=roundings)
def test_rounded_is_idempotent_and_close(value, currency, rounding):
    once = Money.rounded(value, currency, rounding)
    assert Money.rounded(once.amount, currency, rounding) == once
    assert Money.rounded(str(once), currency, rounding) == once
    error = abs(Fraction(once.amount) - Fraction(value)) * 10 ** minor_units(currency)
    if "HALF" in rounding:
        assert error <= Fraction(1, 2)
    else:
        assert error < 1


@given(
    value=st.decimals(allow_nan=False, allow_infinity=False, places=10),
    currency=currencies,
    rounding=roundings,
)
def test_rounded_agrees_with_decimal_quantize(value, currency, rounding):
    # The exact Fraction rounding must match decimal's own semantics for every mode.
    exponent = Decimal(1).scaleb(-minor_units(currency))
    with decimal.localcontext() as ctx:
        ctx.prec = 100
        expected = value.quantize(exponent, rounding=rounding)
    assert Money.rounded(value, currency, rounding).amount == expected
    assert Money.rounded(Fraction(value), currency, rounding).amount == expected


@given(m=money())
def test_minor_units_round_trip(m):
    assert Money.from_minor_units(m.to_minor_units(), m.currency) == m
    assert Money(str(m), m.currency) == m
    assert m.multiply(1) == m
    # Half rounded away from zero plus half truncated is the whole again, for either sign.
    halves = m.multiply(Fraction(1, 2), ROUND_HALF_UP) + m.multiply(Fraction(1, 2), ROUND_DOWN)
    assert halves == m
