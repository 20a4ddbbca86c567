"""Tests for octet.customers.validators (pure functions, no database needed)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.customers.validators import (
    EU_VAT_PATTERNS,
    INDIAN_STATES,
    InvalidValue,
    eu_vat_country,
    gstin_check_digit,
    gstin_state_code,
    validate_email_address,
    validate_eu_vat_id,
    validate_gstin,
    validate_indian_state_code,
    validate_phone,
)

GSTIN_ALPHABET = string.digits + string.ascii_uppercase
KNOWN_VALID_GSTINS = ["29AAACK1234A1Z6", "27AAPFU0939F1ZV", "29AAGCB7383J1Z4"]


# --- State codes ------------------------------------------------------------------------------


def test_state_list_covers_official_codes() -> None:
    assert INDIAN_STATES["01"] == "Jammu and Kashmir"
    assert INDIAN_STATES["29"] == "Karnataka"
    assert INDIAN_STATES["37"] == "Andhra Pradesh"
    assert INDIAN_STATES["38"] == "Ladakh"
    assert INDIAN_STATES["97"] == "Other Territory"
    assert INDIAN_STATES["99"] == "Centre Jurisdiction"
    assert set(INDIAN_STATES) == {f"{n:02d}" for n in range(1, 39)} | {"97", "99"}


def test_validate_indian_state_code_accepts_known() -> None:
    assert validate_indian_state_code("29") == "29"
    assert validate_indian_state_code("09") == "09"


@pytest.mark.parametrize("code", ["9", "029", "2A", "", " "])
def test_validate_indian_state_code_requires_two_digits(code: str) -> None:
    with pytest.raises(InvalidValue, match="two digits"):
        validate_indian_state_code(code)


@pytest.mark.parametrize("code", ["00", "40", "96", "98"])
def test_validate_indian_state_code_rejects_unknown(code: str) -> None:
    with pytest.raises(InvalidValue, match=f"State code {code}: not a known"):
        validate_indian_state_code(code)


# --- GSTIN ------------------------------------------------------------------------------------


@pytest.mark.parametrize("gstin", KNOWN_VALID_GSTINS)
def test_known_valid_gstins(gstin: str) -> None:
    assert validate_gstin(gstin) == gstin
    assert gstin_check_digit(gstin[:14]) == gstin[14]


def test_gstin_is_normalized() -> None:
    assert validate_gstin("  29aaack1234a1z6 \n") == "29AAACK1234A1Z6"


def test_gstin_state_code() -> None:
    assert gstin_state_code("27AAPFU0939F1ZV") == "27"
    with pytest.raises(InvalidValue):
        gstin_state_code("27AAPFU0939F1ZX")


def test_gstin_wrong_check_digit_message() -> None:
    with pytest.raises(InvalidValue) as exc_info:
        validate_gstin("29AAACK1234A1Z7")
    assert str(exc_info.value) == "GSTIN 29AAACK1234A1Z7: check digit should be 6"


@pytest.mark.parametrize("gstin", ["29AAACK1234A1Z", "29AAACK1234A1Z66", ""])
def test_gstin_wrong_length(gstin: str) -> None:
    with pytest.raises(InvalidValue, match=f"must be 15 characters, got {len(gstin)}"):
        validate_gstin(gstin)


@pytest.mark.parametrize("gstin", ["29AAACK1234A-Z6", "29AAACK 234A1Z6", "29AAACK1234A1Zé"])
def test_gstin_bad_characters(gstin: str) -> None:
    with pytest.raises(InvalidValue, match="invalid character"):
        validate_gstin(gstin)


def test_gstin_unknown_state_code() -> None:
    first14 = "40AAACK1234A1Z"
    gstin = first14 + gstin_check_digit(first14)  # checksum right, so only the state is wrong
    with pytest.raises(InvalidValue, match="unknown state code 40"):
        validate_gstin(gstin)


@pytest.mark.parametrize("pan", ["AAAC11234A", "AAACKK234A", "AAACK12345", "1AACK1234A"])
def test_gstin_bad_pan_shape(pan: str) -> None:
    first14 = f"29{pan}1Z"
    with pytest.raises(InvalidValue, match=f"PAN part {pan} should be 5 letters, 4 digits"):
        validate_gstin(first14 + gstin_check_digit(first14))


def test_gstin_entity_code_zero() -> None:
    first14 = "29AAACK1234A0Z"
    with pytest.raises(InvalidValue, match="entity code"):
        validate_gstin(first14 + gstin_check_digit(first14))


def test_gstin_non_z_fourteenth_character_accepted() -> None:
    # Position 14 is 'Z' for ordinary taxpayers but other values exist (TDS, NRI, ...).
    first14 = "29AAACK1234A1D"
    gstin = first14 + gstin_check_digit(first14)
    assert validate_gstin(gstin) == gstin


def test_gstin_check_digit_rejects_bad_input() -> None:
    with pytest.raises(InvalidValue, match="14 characters"):
        gstin_check_digit("29AAACK1234A1")
    with pytest.raises(InvalidValue, match="invalid character"):
        gstin_check_digit("29aaack1234a1z")


@pytest.mark.parametrize("gstin", KNOWN_VALID_GSTINS)
def test_every_single_substitution_of_known_gstins_is_rejected(gstin: str) -> None:
    # Exhaustive over positions x alphabet: the doubling step in Luhn mod 36 is a permutation
    # of 0..35, so any single changed character changes the checksum.
    for pos in range(len(gstin)):
        for ch in GSTIN_ALPHABET:
            if ch == gstin[pos]:
                continue
            mutated = gstin[:pos] + ch + gstin[pos + 1 :]
            with pytest.raises(InvalidValue):
                validate_gstin(mutated)


state_codes = st.sampled_from(sorted(INDIAN_STATES))
letters = st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=1)
pans = st.builds(
    lambda a, d, z: a + d + z,
    st.text(alphabet=string.ascii_uppercase, min_size=5, max_size=5),
    st.text(alphabet=string.digits, min_size=4, max_size=4),
    letters,
)
entity_codes = st.sampled_from("123456789" + string.ascii_uppercase)
gstin_prefixes = st.builds(lambda s, p, e: f"{s}{p}{e}Z", state_codes, pans, entity_codes)
valid_gstins = gstin_prefixes.map(lambda p: p + gstin_check_digit(p))

# Replacement characters: the GSTIN alphabet plus some junk. Lower-case letters are left out
# on purpose: validate_gstin upper-cases, so 'a' in place of 'A' is not a real change.
replacement_chars = st.sampled_from(GSTIN_ALPHABET + "-/ #.*")


@given(prefix=gstin_prefixes)
def test_property_generated_gstin_is_valid(prefix: str) -> None:
    gstin = prefix + gstin_check_digit(prefix)
    assert validate_gstin(gstin) == gstin
    assert gstin_state_code(gstin) == prefix[:2]


@given(gstin=valid_gstins, pos=st.integers(min_value=0, max_value=14), ch=replacement_chars)
def test_property_single_substitution_detected(gstin: str, pos: int, ch: str) -> None:
    if ch == gstin[pos]:
        return
    mutated = gstin[:pos] + ch + gstin[pos + 1 :]
    with pytest.raises(InvalidValue):
        validate_gstin(mutated)


@given(gstin=valid_gstins, pos=st.integers(min_value=2, max_value=13), data=st.data())
def test_property_substitution_keeping_format_fails_on_check_digit(
    gstin: str, pos: int, data: st.DataObject
) -> None:
    # Stronger than "invalid": a change that keeps the layout valid (same character class in
    # the PAN, non-zero entity code, any character at position 14) is caught by the checksum.
    if pos == 12:
        alphabet = "123456789" + string.ascii_uppercase
    elif pos == 13:
        alphabet = GSTIN_ALPHABET
    else:
        alphabet = string.ascii_uppercase if gstin[pos].isalpha() else string.digits
    ch = data.draw(st.sampled_from([c for c in alphabet if c != gstin[pos]]))
    mutated = gstin[:pos] + ch + gstin[pos + 1 :]
    with pytest.raises(InvalidValue, match="check digit should be"):
        validate_gstin(mutated)


# --- EU VAT -----------------------------------------------------------------------------------

VALID_VAT = {
    "DE": "DE123456789",
    "FR": "FRXX123456789",
    "NL": "NL123456789B01",
    "EL": "EL123456789",
    "IT": "IT12345678901",
    "ES": "ESA12345678",
    "IE": "IE1234567WA",
    "AT": "ATU12345678",
}
INVALID_VAT = {
    "DE": "DE12345678",  # 8 digits
    "FR": "FRIO123456789",  # I and O are never used in the key
    "NL": "NL123456789A01",  # 'B' missing
    "EL": "EL12345678A",
    "IT": "IT1234567890",  # 10 digits
    "ES": "ES123456789",  # all digits
    "IE": "IE12345678",  # no check letter
    "AT": "AT12345678",  # missing 'U'
}


@pytest.mark.parametrize("prefix", sorted(VALID_VAT))
def test_valid_eu_vat_ids(prefix: str) -> None:
    assert validate_eu_vat_id(VALID_VAT[prefix]) == VALID_VAT[prefix]


@pytest.mark.parametrize("prefix", sorted(INVALID_VAT))
def test_invalid_eu_vat_ids_name_country_and_shape(prefix: str) -> None:
    with pytest.raises(InvalidValue, match=f"VAT IDs are {prefix} followed by") as exc_info:
        validate_eu_vat_id(INVALID_VAT[prefix])
    assert INVALID_VAT[prefix] in str(exc_info.value)


@pytest.mark.parametrize(
    "raw",
    ["ESB1234567C", "ES12345678Z", "IE1X23456A", "IE1234567T", "IE1+23456A"],
)
def test_other_valid_spanish_and_irish_shapes(raw: str) -> None:
    assert validate_eu_vat_id(raw) == raw


def test_vat_normalization() -> None:
    assert validate_eu_vat_id(" de 123.456-789 ") == "DE123456789"
    assert validate_eu_vat_id("nl 8888.88.888.b01") == "NL888888888B01"


def test_greece_is_el_not_gr() -> None:
    with pytest.raises(InvalidValue, match="unknown EU country prefix 'GR'.*Greece uses EL"):
        validate_eu_vat_id("GR123456789")


@pytest.mark.parametrize(("raw", "prefix"), [("US123456789", "US"), ("GB123456789", "GB")])
def test_unknown_vat_prefix(raw: str, prefix: str) -> None:
    with pytest.raises(InvalidValue, match=f"unknown EU country prefix '{prefix}'"):
        validate_eu_vat_id(raw)


def test_empty_vat() -> None:
    with pytest.raises(InvalidValue, match="empty"):
        validate_eu_vat_id(" - ")


def test_vat_patterns_cover_all_member_states_and_xi() -> None:
    # fmt: off
    member_states = {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
    # fmt: on
    assert set(EU_VAT_PATTERNS) == member_states | {"XI"}
    # Patterns are anchored on the full ID, so a longer string never slips through.
    assert EU_VAT_PATTERNS["DE"].match("DE123456789")
    assert not EU_VAT_PATTERNS["DE"].match("DE1234567890")
    assert not EU_VAT_PATTERNS["DE"].search("XDE123456789")


@pytest.mark.parametrize("raw", ["XI123456789", "XI123456789012", "XIGD001", "XIHA500"])
def test_northern_ireland(raw: str) -> None:
    assert validate_eu_vat_id(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("EL123456789", "GR"), ("XI123456789", "XI"), ("de123456789", "DE"), ("ATU12345678", "AT")],
)
def test_eu_vat_country(raw: str, expected: str) -> None:
    assert eu_vat_country(raw) == expected


def test_eu_vat_country_unknown_prefix() -> None:
    with pytest.raises(InvalidValue, match="'US'"):
        eu_vat_country("US123")


# --- Phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("98450 12345", "+919845012345"),
        ("+91 98450-12345", "+919845012345"),
        ("+44 20 7946 0018", "+442079460018"),
    ],
)
def test_valid_phones(raw: str, expected: str) -> None:
    assert validate_phone(raw) == expected


def test_phone_default_region() -> None:
    assert validate_phone("020 7946 0018", default_region="GB") == "+442079460018"


@pytest.mark.parametrize("raw", ["12345", "+91 12345", "00000 00000"])
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(InvalidValue, match="not a valid number"):
        validate_phone(raw)


@pytest.mark.parametrize("raw", ["not a phone", "+"])
def test_unparseable_phones(raw: str) -> None:
    with pytest.raises(InvalidValue, match="Phone number"):
        validate_phone(raw)


def test_empty_phone() -> None:
    with pytest.raises(InvalidValue, match="empty"):
        validate_phone("   ")


# --- E-mail -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Asha.Rao@Example.CO.IN ", "Asha.Rao@example.co.in"),
        ("billing+isp@example.com", "billing+isp@example.com"),
    ],
)
def test_valid_emails(raw: str, expected: str) -> None:
    assert validate_email_address(raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty"),
        ("asha rao@example.com", "spaces"),
        ("asha.example.com", "exactly one '@'"),
        ("a@b@example.com", "exactly one '@'"),
        ("@example.com", "nothing before"),
        ("asha@localhost", "must contain a dot"),
        ("asha@example..com", "empty part"),
        ("asha@.example.com", "empty part"),
        ("asha@example.com.", "empty part"),
    ],
)
def test_invalid_emails(raw: str, problem: str) -> None:
    with pytest.raises(InvalidValue, match=problem):
        validate_email_address(raw)


def test_email_too_long() -> None:
    address = "a" * 64 + "@" + "b" * 186 + ".com"  # 255 characters
    with pytest.raises(InvalidValue, match="too long"):
        validate_email_address(address)
    assert validate_email_address(address[1:]) == address[1:]
