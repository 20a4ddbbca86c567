"""Voucher codes: alphabet, check character, normalising what people type, hashing."""

from __future__ import annotations

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from octet.core.errors import InvalidInput
from octet.vouchers import codes

payloads = st.text(alphabet=codes.ALPHABET, min_size=15, max_size=15)


def test_generated_codes_are_16_unambiguous_characters_with_a_valid_check():
    seen = {codes.generate() for _ in range(2000)}
    assert len(seen) == 2000
    for code in seen:
        assert len(code) == codes.CODE_LENGTH
        assert not set(code) & set("0O1I")
        assert codes.is_valid(code)
        assert codes.normalise(codes.format_code(code)) == code


@given(payloads)
def test_every_single_mistyped_character_is_caught(payload):
    code = payload + codes.check_character(payload)
    assert codes.is_valid(code)
    for i, original in enumerate(code):
        for other in codes.ALPHABET:
            if other != original:
                assert not codes.is_valid(code[:i] + other + code[i + 1 :])


def test_most_swapped_neighbours_are_caught():
    caught = total = 0
    for _ in range(300):
        code = codes.generate()
        for i in range(len(code) - 1):
            if code[i] == code[i + 1]:
                continue
            total += 1
            caught += not codes.is_valid(code[:i] + code[i + 1] + code[i] + code[i + 2 :])
    assert caught / total > 0.95


def test_typing_is_forgiven_spaces_dashes_and_case():
    code = codes.generate()
    printed = codes.format_code(code)
    assert printed.count("-") == 3 and len(printed) == 19
    for typed in [
        printed,
        printed.lower(),
        f"  {code[:8]} {code[8:]} ",
        printed.replace("-", " – "),
    ]:
        assert codes.normalise(typed) == code


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "enter the voucher code"),
        ("ABCD-EFGH-JKLM-NPQ0", "never contain 0, O, 1 or I"),
        ("ABCD-EFGH-JKLM-NPQ!", "a character voucher codes never contain"),
        ("ABCD-EFGH-JKLM", "has 16 characters"),
    ],
)
def test_typos_are_explained_without_repeating_the_code(typed, message):
    with pytest.raises(InvalidInput, match=message) as err:
        codes.normalise(typed)
    assert "that code has a typo" in str(err.value) or not typed
    if typed:
        assert typed not in str(err.value)


def test_a_wrong_check_character_is_a_typo():
    code = codes.generate()
    wrong = code[:-1] + next(c for c in codes.ALPHABET if c != code[-1])
    with pytest.raises(InvalidInput, match="that code has a typo: please check it"):
        codes.normalise(wrong)


def test_only_a_keyed_hash_is_stored_and_old_keys_still_find_codes():
    code = codes.generate()
    with override_settings(SECRET_KEY="old-key-" + "x" * 40):
        old = codes.hash_code(code)
    with override_settings(SECRET_KEY="new-key-" + "y" * 40):
        new = codes.hash_code(code)
        assert len(new) == 64 and code not in new and new != old
        assert codes.code_hashes(code) == [new]
    with override_settings(
        SECRET_KEY="new-key-" + "y" * 40, SECRET_KEY_FALLBACKS=["old-key-" + "x" * 40]
    ):
        assert codes.code_hashes(code) == [new, old]
