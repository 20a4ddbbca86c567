"""Amounts in words: known values, and every number reads back to itself."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.billing.words import amount_in_words, indian_words, international_words

ONES = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten"]
ONES += ["Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen"]
ONES += ["Eighteen", "Nineteen"]
SMALL = {word: n for n, word in enumerate(ONES)}
TENS = {"Twenty": 20, "Thirty": 30, "Forty": 40, "Fifty": 50}
TENS |= {"Sixty": 60, "Seventy": 70, "Eighty": 80, "Ninety": 90}
INDIAN = {"Hundred": 100, "Thousand": 10**3, "Lakh": 10**5, "Crore": 10**7}
INTERNATIONAL = {
    "Hundred": 100,
    "Thousand": 10**3,
    "Million": 10**6,
    "Billion": 10**9,
    "Trillion": 10**12,
    "Quadrillion": 10**15,
}


def read_back(text: str, scales: dict[str, int]) -> int:
    """Words -> number, independently of the module: a scale multiplies everything smaller
    written since the last larger scale ("One Lakh Crore" = 10**12)."""
    stack: list[int] = []
    for word in text.split():
        if word in scales:
            scale, smaller = scales[word], 0
            while stack and stack[-1] < scale:
                smaller += stack.pop()
            assert smaller, f"scale {word} with nothing before it in {text!r}"
            stack.append(smaller * scale)
        else:
            tens, _, ones = word.partition("-")
            value = TENS[tens] + SMALL[ones] if ones else TENS.get(word, SMALL.get(word))
            assert value is not None, f"unknown word {word!r} in {text!r}"
            stack.append(value)
    return sum(stack)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "Zero"),
        (7, "Seven"),
        (19, "Nineteen"),
        (40, "Forty"),
        (85, "Eighty-Five"),
        (100, "One Hundred"),
        (101, "One Hundred One"),
        (1485, "One Thousand Four Hundred Eighty-Five"),
        (100_000, "One Lakh"),
        (250_000, "Two Lakh Fifty Thousand"),
        (1_000_000, "Ten Lakh"),
        (12_345_678, "One Crore Twenty-Three Lakh Forty-Five Thousand Six Hundred Seventy-Eight"),
        (1_000_000_000, "One Hundred Crore"),
        (10**12, "One Lakh Crore"),
    ],
)
def test_indian_words(n, words):
    assert indian_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1_000_000, "One Million"),
        (12_345_678, "Twelve Million Three Hundred Forty-Five Thousand Six Hundred Seventy-Eight"),
        (2_000_000_001, "Two Billion One"),
    ],
)
def test_international_words(n, words):
    assert international_words(n) == words


@pytest.mark.parametrize(
    ("amount", "currency", "words"),
    [
        ("1485.62", "INR", "Rupees One Thousand Four Hundred Eighty-Five and Paise Sixty-Two Only"),
        ("1000.00", "INR", "Rupees One Thousand Only"),
        ("646.46", "INR", "Rupees Six Hundred Forty-Six and Paise Forty-Six Only"),
        ("0.01", "INR", "Rupees Zero and Paise One Only"),
        ("150000", "INR", "Rupees One Lakh Fifty Thousand Only"),
        ("-20", "INR", "Minus Rupees Twenty Only"),
        ("1234.50", "EUR", "One Thousand Two Hundred Thirty-Four Euros and Fifty Cents"),
        ("1.01", "USD", "One US Dollar and One Cent"),
        ("2", "GBP", "Two British Pounds"),
        ("0.02", "GBP", "Zero British Pounds and Two Pence"),
        ("1500", "JPY", "One Thousand Five Hundred Japanese Yen"),
        ("12.345", "BHD", "Twelve Bahraini Dinars and 345/1000"),
    ],
)
def test_amount_in_words(amount, currency, words):
    assert amount_in_words(Decimal(amount), currency) == words


def test_more_digits_than_the_currency_has_are_refused():
    with pytest.raises(ValueError, match="decimal places"):
        amount_in_words(Decimal("1.005"), "INR")


@pytest.mark.parametrize("bad", [-1, 1.5, True, "12"])
def test_numbers_must_be_whole_and_not_negative(bad):
    with pytest.raises((TypeError, ValueError)):
        indian_words(bad)


# Below 10**14 the crore count has no crore of its own ("One Crore One Lakh Crore" would
# read two ways): far beyond any invoice.
@given(st.integers(min_value=0, max_value=10**14 - 1))
def test_indian_words_read_back(n):
    assert read_back(indian_words(n), INDIAN) == n


@given(st.integers(min_value=0, max_value=10**18))
def test_international_words_read_back(n):
    assert read_back(international_words(n), INTERNATIONAL) == n


@given(st.integers(min_value=0, max_value=10**12))
def test_rupees_and_paise_read_back(paise):
    amount = Decimal(paise) / 100
    text = amount_in_words(amount, "INR")
    match = re.fullmatch(r"Rupees (.+?)(?: and Paise (.+))? Only", text)
    assert match, text
    rupees = read_back(match[1], INDIAN)
    fraction = read_back(match[2], INDIAN) if match[2] else 0
    assert 0 < fraction < 100 or match[2] is None
    assert rupees * 100 + fraction == paise
