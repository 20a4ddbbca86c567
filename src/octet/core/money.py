"""Exact money arithmetic on :class:`~decimal.Decimal`.

Invariants kept by this module:

* amounts are ``Decimal`` quantized to the currency's ISO 4217 minor unit, never ``float``;
* every rounding is explicit (callers pass the mode; the default is ``ROUND_HALF_UP``);
* splitting an amount (``allocate``/``split``) uses the largest-remainder method, so the
  parts always add back to the whole, to the minor unit;
* currencies never mix silently: arithmetic or ordering across currencies raises
  :class:`CurrencyMismatch`.

Internally, arithmetic is done on integer minor units or on :class:`~fractions.Fraction`,
so results never depend on the caller's thread-local ``decimal`` context (precision, traps).

Pure module: standard library and ``babel`` only, no Django.
"""

from __future__ import annotations

import copy
import decimal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cache, lru_cache

from babel import Locale
from babel.numbers import list_currencies

__all__ = [
    "CurrencyMismatch",
    "InvalidCurrency",
    "Money",
    "ROUND_HALF_UP",
    "minor_units",
    "sum_money",
]

# ISO 4217 exponents that differ from the default of 2. Kept here rather than taken from
# babel, because CLDR's "digits" are display conventions (e.g. IQD 0) and not ISO's.
_ZERO_DECIMALS = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX"]
_ZERO_DECIMALS += ["UYI", "VND", "VUV", "XAF", "XOF", "XPF"]
_MINOR_UNIT_EXCEPTIONS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMALS, 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_DEFAULT_MINOR_UNITS = 2

# Every rounding mode the decimal module knows; anything else is a caller bug.
_ROUNDING_MODES = frozenset(
    {
        decimal.ROUND_CEILING,
        decimal.ROUND_DOWN,
        decimal.ROUND_FLOOR,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_UP,
        decimal.ROUND_UP,
        decimal.ROUND_05UP,
    }
)


class CurrencyMismatch(ValueError):
    """Raised when two amounts in different currencies meet in arithmetic or ordering."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"currency mismatch: {left} vs {right}")
        self.left = left
        self.right = right


class InvalidCurrency(ValueError):
    """Raised for a code that is not a known ISO 4217 currency."""


@cache
def _known_currencies() -> frozenset[str]:
    # Babel ships the CLDR currency list (ISO 4217, including historical codes);
    # loaded lazily so importing this module stays cheap.
    return frozenset(list_currencies()) | frozenset(_MINOR_UNIT_EXCEPTIONS)


@lru_cache(maxsize=512)
def _normalize_currency(currency: str) -> str:
    if not isinstance(currency, str):
        raise InvalidCurrency(f"currency must be an ISO 4217 code string, got {currency!r}")
    code = currency.strip().upper()
    if code not in _known_currencies():
        raise InvalidCurrency(f"unknown ISO 4217 currency code: {currency!r}")
    return code


# Our own context for the fast paths, so results never depend on the caller's context
# (precision, traps): wide enough that amounts of money are always exact in it.
_EXACT = decimal.Context(prec=60, Emax=999, Emin=-999, traps=[decimal.InvalidOperation])


@lru_cache(maxsize=512)
def _quantum(exponent: int) -> Decimal:
    return Decimal(1).scaleb(-exponent)


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Return the ISO 4217 exponent of ``currency`` (2 for INR/USD, 0 for JPY, 3 for BHD)."""
    return _MINOR_UNIT_EXCEPTIONS.get(_normalize_currency(currency), _DEFAULT_MINOR_UNITS)


def _to_fraction(value: object, what: str) -> Fraction:
    """Convert an exact numeric input to a Fraction; floats are refused outright."""
    # bool is an int subclass; True as an amount or factor is almost certainly a bug.
    if isinstance(value, bool):
        raise TypeError(f"{what} must be Decimal, Fraction, int or str, got bool")
    if isinstance(value, float):
        raise TypeError(f"{what}: use Decimal or str, never float")
    if isinstance(value, Fraction | int):
        return Fraction(value)
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValueError(f"{what}: not a decimal number: {value!r}") from None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{what} must be finite, got {value}")
        return Fraction(value)  # exact: every finite Decimal is a rational
    raise TypeError(f"{what} must be Decimal, Fraction, int or str, got {type(value).__name__}")


def _round_to_int(value: Fraction, rounding: str) -> int:
    """Round a Fraction to an integer exactly, with ``decimal`` rounding-mode semantics."""
    if rounding not in _ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode: {rounding!r}")
    negative = value < 0
    num, den = abs(value.numerator), value.denominator
    quotient, remainder = divmod(num, den)  # work on the magnitude, then restore the sign
    if remainder == 0 or rounding == decimal.ROUND_DOWN:
        away = False
    elif rounding == decimal.ROUND_UP:
        away = True
    elif rounding == decimal.ROUND_CEILING:
        away = not negative
    elif rounding == decimal.ROUND_FLOOR:
        away = negative
    elif rounding == decimal.ROUND_05UP:
        # Away from zero only if truncation would leave a last digit of 0 or 5.
        away = quotient % 5 == 0
    else:
        twice = 2 * remainder
        if twice != den:
            away = twice > den
        elif rounding == decimal.ROUND_HALF_UP:
            away = True
        elif rounding == decimal.ROUND_HALF_DOWN:
            away = False
        else:  # ROUND_HALF_EVEN
            away = quotient % 2 == 1
    magnitude = quotient + 1 if away else quotient
    return -magnitude if negative else magnitude


def _decimal_from_minor(units: int, exponent: int) -> Decimal:
    # Built from a string so it is exact whatever the active decimal context says.
    return Decimal(f"{units}E-{exponent}")


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency, always quantized to that currency's minor unit."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        currency = _normalize_currency(self.currency)
        exponent = minor_units(currency)
        amount = self.amount
        if type(amount) is Decimal and amount.is_finite():
            # Fast path (billing builds many amounts): no more places than the currency has.
            places = amount.as_tuple().exponent
            if isinstance(places, int) and -exponent <= places <= 0:
                object.__setattr__(self, "currency", currency)
                object.__setattr__(
                    self, "amount", amount.quantize(_quantum(exponent), context=_EXACT)
                )
                return
        scaled = _to_fraction(self.amount, "amount") * 10**exponent
        if scaled.denominator != 1:
            # Silent rounding here would hide bugs; make the caller choose a mode.
            raise ValueError(
                f"{self.amount} has more decimal places than {currency} allows "
                f"({exponent}); use Money.rounded(value, currency, rounding) to round it"
            )
        # The frozen dataclass forbids normal assignment; normalising in place is the point.
        object.__setattr__(self, "currency", currency)
        object.__setattr__(self, "amount", _decimal_from_minor(scaled.numerator, exponent))

    # -- construction -----------------------------------------------------------------

    @classmethod
    def rounded(
        cls,
        value: Decimal | Fraction | int | str,
        currency: str,
        rounding: str = ROUND_HALF_UP,
    ) -> Money:
        """Round ``value`` to ``currency``'s minor unit with an explicit rounding mode.

        Fractions are rounded exactly (never through float), so ``Fraction(999 * 17, 31)``
        becomes 547.84 INR.
        """
        exponent = minor_units(currency)
        exact = _to_fraction(value, "value")
        return cls.from_minor_units(_round_to_int(exact * 10**exponent, rounding), currency)

    @classmethod
    def _exact(cls, amount: Decimal, currency: str) -> Money:
        # Sum or difference of two quantized amounts: exact while it fits _EXACT's 60
        # digits (amounts far beyond any invoice); otherwise the checked path.
        if len(amount.as_tuple().digits) < _EXACT.prec:
            result = object.__new__(cls)
            object.__setattr__(result, "amount", amount)
            object.__setattr__(result, "currency", currency)
            return result
        return cls(amount, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: str) -> Money:
        """Build from an integer count of minor units (paise, cents, fils...)."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"minor units must be int, got {type(units).__name__}")
        return cls(_decimal_from_minor(units, minor_units(currency)), currency)

    def to_minor_units(self) -> int:
        scaled = Fraction(self.amount) * 10 ** minor_units(self.currency)
        return scaled.numerator  # denominator is 1 by construction

    # -- arithmetic -------------------------------------------------------------------

    def _check_same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: object) -> Money:
        # Integer 0 is accepted so that builtin sum() works with its default start value.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other)
        return Money._exact(_EXACT.add(self.amount, other.amount), self.currency)

    __radd__ = __add__

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other)
        return Money._exact(_EXACT.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money.from_minor_units(-self.to_minor_units(), self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money.from_minor_units(abs(self.to_minor_units()), self.currency)

    def multiply(
        self, factor: Decimal | Fraction | int | str, rounding: str = ROUND_HALF_UP
    ) -> Money:
        """Multiply by ``factor`` and round explicitly (there is deliberately no ``*``)."""
        exact = Fraction(self.amount) * _to_fraction(factor, "factor")
        return Money.rounded(exact, self.currency, rounding)

    def allocate(self, weights: Sequence[int | Decimal | Fraction]) -> list[Money]:
        """Split by ``weights`` so the parts add back to exactly ``self``.

        Largest-remainder method on minor units: every part gets the floor of its exact
        share, and the leftover units go one each to the parts with the largest remainders
        (ties to the earlier part). Each part is within one minor unit of its exact share.
        """
        fractions = [_to_fraction(w, "weight") for w in weights]
        if not fractions:
            raise ValueError("allocate needs at least one weight")
        if any(w < 0 for w in fractions):
            raise ValueError("weights must be non-negative")
        total_weight = sum(fractions, Fraction(0))
        if total_weight <= 0:
            raise ValueError("weights must have a positive sum")

        units = self.to_minor_units()
        magnitude = abs(units)  # allocate the magnitude, then restore the sign
        shares = [magnitude * w / total_weight for w in fractions]
        parts = [share.numerator // share.denominator for share in shares]
        leftover = magnitude - sum(parts)
        # Sort is stable on (-remainder, index), so ties go to the earlier part.
        by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - parts[i]), i))
        for i in by_remainder[:leftover]:
            parts[i] += 1
        sign = -1 if units < 0 else 1
        return [Money.from_minor_units(sign * p, self.currency) for p in parts]

    def split(self, n: int) -> list[Money]:
        """Split into ``n`` parts as equal as possible; earlier parts take any extra unit."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"split needs a positive integer count, got {n!r}")
        return self.allocate([1] * n)

    # -- comparison -------------------------------------------------------------------
    # Ordering across currencies has no meaning, so it raises instead of returning False.
    # Equality is the dataclass one (both fields), so INR 5 != USD 5 without raising.

    def _ordering_key(self, other: object) -> tuple[Decimal, Decimal] | None:
        if not isinstance(other, Money):
            return None
        self._check_same_currency(other)
        return self.amount, other.amount

    def __lt__(self, other: object) -> bool:
        pair = self._ordering_key(other)
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __le__(self, other: object) -> bool:
        pair = self._ordering_key(other)
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __gt__(self, other: object) -> bool:
        pair = self._ordering_key(other)
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __ge__(self, other: object) -> bool:
        pair = self._ordering_key(other)
        return NotImplemented if pair is None else pair[0] >= pair[1]

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_negative(self) -> bool:
        return self.amount < 0

    def is_positive(self) -> bool:
        return self.amount > 0

    # -- display ----------------------------------------------------------------------

    def __str__(self) -> str:
        # Fixed-point with exactly the currency's minor units: "547.84", "1000", "1.000".
        return format(self.amount, "f")

    def format(self, locale: str = "en_IN") -> str:
        """Locale-aware display via babel, e.g. ``₹12,34,567.50`` for en_IN.

        The digit count is forced to the ISO minor units rather than CLDR's display digits
        (which differ for e.g. IQD), so the display never rounds a stored amount.
        """
        pattern = copy.copy(Locale.parse(locale).currency_formats["standard"])
        digits = minor_units(self.currency)
        pattern.frac_prec = (digits, digits)
        return pattern.apply(self.amount, locale, currency=self.currency, currency_digits=False)


def sum_money(items: Iterable[Money], currency: str) -> Money:
    """Total of ``items``; zero in ``currency`` when empty. Any other currency raises."""
    total = Money.zero(currency)
    for item in items:
        if not isinstance(item, Money):
            raise TypeError(f"sum_money expects Money items, got {type(item).__name__}")
        total = total + item
    return total
