"""Amounts in words, as printed on invoices. Pure: standard library and babel only.

Indian rupees use the Indian numbering system (thousand, lakh, crore) in the style Indian
tax invoices print:

    >>> amount_in_words(Decimal("1485.62"), "INR")
    'Rupees One Thousand Four Hundred Eighty-Five and Paise Sixty-Two Only'

Every other currency uses the international system (thousand, million, billion...):

    >>> amount_in_words(Decimal("1234.50"), "EUR")
    'One Thousand Two Hundred Thirty-Four Euros and Fifty Cents'
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_name

from octet.core.money import Money, minor_units

__all__ = ["amount_in_words", "indian_words", "international_words"]

_ONES = (
    "Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten",
    "Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen",
    "Nineteen",
)  # fmt: skip
_TENS = ("", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety")

# (value, name), largest first.
_INDIAN_SCALES = ((10**7, "Crore"), (10**5, "Lakh"), (10**3, "Thousand"), (100, "Hundred"))
_INTERNATIONAL_SCALES = (
    (10**15, "Quadrillion"),
    (10**12, "Trillion"),
    (10**9, "Billion"),
    (10**6, "Million"),
    (10**3, "Thousand"),
    (100, "Hundred"),
)

# Names of the minor unit (singular, plural) for the currencies an ISP is likely to bill in.
# Others print their fraction as digits ("and 50/100").
_MINOR_NAMES: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        ["EUR", "USD", "AUD", "CAD", "NZD", "SGD", "HKD", "ZAR", "LKR", "NPR", "MYR"],
        ("Cent", "Cents"),
    ),
    "GBP": ("Penny", "Pence"),
    "INR": ("Paisa", "Paise"),
    "CHF": ("Rappen", "Rappen"),
    "AED": ("Fils", "Fils"),
    "BDT": ("Poisha", "Poisha"),
    "PKR": ("Paisa", "Paisa"),
}


def _below_hundred(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def _words(n: int, scales: tuple[tuple[int, str], ...]) -> list[str]:
    """Words of 1 <= n, the largest scale's multiple spelled recursively (1000 Crore)."""
    for value, name in scales:
        if n >= value:
            head, rest = divmod(n, value)
            return [*_words(head, scales), name, *(_words(rest, scales) if rest else [])]
    return [_below_hundred(n)]


def _check(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"expected an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"expected a number >= 0, got {n}")


def indian_words(n: int) -> str:
    """12345678 -> 'One Crore Twenty-Three Lakh Forty-Five Thousand Six Hundred Seventy-Eight'."""
    _check(n)
    return " ".join(_words(n, _INDIAN_SCALES)) if n else "Zero"


def international_words(n: int) -> str:
    """12345678 -> 'Twelve Million Three Hundred Forty-Five Thousand Six Hundred Seventy-Eight'."""
    _check(n)
    return " ".join(_words(n, _INTERNATIONAL_SCALES)) if n else "Zero"


def _title(text: str) -> str:
    # "US dollars" -> "US Dollars" (str.title would give "Us Dollars").
    return " ".join(word[:1].upper() + word[1:] for word in text.split())


def amount_in_words(amount: Decimal, currency: str) -> str:
    """The amount spelled out for the 'amount in words' line of an invoice.

    ``amount`` must fit the currency's minor unit (it goes through :class:`Money`, which
    refuses silent rounding). Negative amounts start with "Minus".
    """
    money = Money(amount, currency)
    exponent = minor_units(money.currency)
    minor_total = abs(money.to_minor_units())
    major, minor = divmod(minor_total, 10**exponent)
    sign = "Minus " if money.is_negative() else ""

    if money.currency == "INR":
        text = f"Rupees {indian_words(major)}"
        if minor:
            text += f" and Paise {indian_words(minor)}"
        return f"{sign}{text} Only"

    name = _title(get_currency_name(money.currency, count=major, locale="en"))
    text = f"{international_words(major)} {name}"
    if minor:
        singular, plural = _MINOR_NAMES.get(money.currency, ("", ""))
        if singular and exponent == 2:
            text += f" and {international_words(minor)} {singular if minor == 1 else plural}"
        else:
            text += f" and {minor:0{exponent}d}/{10**exponent}"
    return sign + text
