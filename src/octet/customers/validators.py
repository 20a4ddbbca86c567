"""Validators for customer identifiers: GSTIN, EU VAT IDs, phone numbers and e-mail addresses.

Deliberately framework-free (standard library + ``phonenumbers`` only) so models, forms,
services and import scripts can all share them without pulling in Django.

Every validator returns the normalized value and raises :class:`InvalidValue` on failure.
"""

from __future__ import annotations

import re

import phonenumbers

__all__ = [
    "EU_VAT_PATTERNS",
    "INDIAN_STATES",
    "InvalidValue",
    "eu_vat_country",
    "gstin_check_digit",
    "gstin_state_code",
    "validate_email_address",
    "validate_eu_vat_id",
    "validate_gstin",
    "validate_indian_state_code",
    "validate_phone",
]


class InvalidValue(ValueError):
    """A value failed validation; ``str(exc)`` is safe to show to the user as-is."""


# ---------------------------------------------------------------------------
# India: GST state codes and GSTIN
# ---------------------------------------------------------------------------

# Official GST state code list. 25 (Daman and Diu) is kept although it merged into 26 in 2020,
# because GSTINs issued under it are still in circulation.
INDIAN_STATES: dict[str, str] = {
    "01": "Jammu and Kashmir",
    "02": "Himachal Pradesh",
    "03": "Punjab",
    "04": "Chandigarh",
    "05": "Uttarakhand",
    "06": "Haryana",
    "07": "Delhi",
    "08": "Rajasthan",
    "09": "Uttar Pradesh",
    "10": "Bihar",
    "11": "Sikkim",
    "12": "Arunachal Pradesh",
    "13": "Nagaland",
    "14": "Manipur",
    "15": "Mizoram",
    "16": "Tripura",
    "17": "Meghalaya",
    "18": "Assam",
    "19": "West Bengal",
    "20": "Jharkhand",
    "21": "Odisha",
    "22": "Chhattisgarh",
    "23": "Madhya Pradesh",
    "24": "Gujarat",
    "25": "Daman and Diu",
    "26": "Dadra and Nagar Haveli and Daman and Diu",
    "27": "Maharashtra",
    "28": "Andhra Pradesh (Before Division)",
    "29": "Karnataka",
    "30": "Goa",
    "31": "Lakshadweep",
    "32": "Kerala",
    "33": "Tamil Nadu",
    "34": "Puducherry",
    "35": "Andaman and Nicobar Islands",
    "36": "Telangana",
    "37": "Andhra Pradesh",
    "38": "Ladakh",
    "97": "Other Territory",
    "99": "Centre Jurisdiction",
}

_GSTIN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_GSTIN_VALUES = {ch: i for i, ch in enumerate(_GSTIN_ALPHABET)}
_GSTIN_LENGTH = 15
_PAN_RE = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
_STATE_CODE_RE = re.compile(r"[0-9]{2}")


def validate_indian_state_code(code: str) -> str:
    """Return ``code`` if it is a known two-digit GST state code.

    "9" is rejected rather than padded to "09": a one-digit code usually means the data was
    mangled (e.g. a spreadsheet dropped the leading zero) and a human should look at it.
    """
    code = code.strip()
    if not _STATE_CODE_RE.fullmatch(code):
        raise InvalidValue(f"State code {code!r}: must be exactly two digits, e.g. '29'")
    if code not in INDIAN_STATES:
        raise InvalidValue(f"State code {code}: not a known GST state code")
    return code


def gstin_check_digit(first14: str) -> str:
    """Compute the GSTIN check character (Luhn mod 36) for the first 14 characters."""
    if len(first14) != _GSTIN_LENGTH - 1:
        raise InvalidValue(
            f"GSTIN prefix {first14!r}: need exactly 14 characters to compute a check digit"
        )
    total = 0
    for i, ch in enumerate(first14):
        try:
            value = _GSTIN_VALUES[ch]
        except KeyError:
            raise InvalidValue(
                f"GSTIN prefix {first14!r}: invalid character {ch!r} at position {i + 1}"
            ) from None
        product = value * (1 if i % 2 == 0 else 2)
        # Sum the two base-36 "digits" of the product, as Luhn does in base 10.
        total += product // 36 + product % 36
    return _GSTIN_ALPHABET[(36 - total % 36) % 36]


def validate_gstin(value: str) -> str:
    """Validate a GSTIN and return it stripped and upper-cased.

    Layout: 2-digit state code, 10-character PAN, entity code (1-9/A-Z), one character that is
    'Z' for ordinary taxpayers but differs for e.g. TDS/NRI registrations (so any 0-9/A-Z is
    accepted), and the check character.
    """
    gstin = value.strip().upper()
    if len(gstin) != _GSTIN_LENGTH:
        raise InvalidValue(f"GSTIN {gstin}: must be 15 characters, got {len(gstin)}")
    for i, ch in enumerate(gstin):
        if ch not in _GSTIN_VALUES:
            raise InvalidValue(
                f"GSTIN {gstin}: invalid character {ch!r} at position {i + 1}"
                " (only letters A-Z and digits are allowed)"
            )

    state = gstin[:2]
    if not _STATE_CODE_RE.fullmatch(state) or state not in INDIAN_STATES:
        raise InvalidValue(f"GSTIN {gstin}: unknown state code {state}")

    pan = gstin[2:12]
    if not _PAN_RE.fullmatch(pan):
        raise InvalidValue(
            f"GSTIN {gstin}: PAN part {pan} should be 5 letters, 4 digits and 1 letter"
        )

    entity = gstin[12]
    if entity == "0":
        raise InvalidValue(f"GSTIN {gstin}: entity code (13th character) cannot be 0")

    expected = gstin_check_digit(gstin[:14])
    if gstin[14] != expected:
        raise InvalidValue(f"GSTIN {gstin}: check digit should be {expected}")
    return gstin


def gstin_state_code(gstin: str) -> str:
    """Return the two-digit state code of a GSTIN (validating the GSTIN first)."""
    return validate_gstin(gstin)[:2]


# ---------------------------------------------------------------------------
# EU VAT identification numbers
# ---------------------------------------------------------------------------

# Format only (no per-country checksums). Each entry: (regex for the part after the prefix,
# human description of that part used in error messages).
_EU_VAT_FORMATS: dict[str, tuple[str, str]] = {
    "AT": (r"U\d{8}", "'U' followed by 8 digits"),
    "BE": (r"[01]\d{9}", "10 digits starting with 0 or 1"),
    "BG": (r"\d{9,10}", "9 or 10 digits"),
    "CY": (r"\d{8}[A-Z]", "8 digits followed by a letter"),
    "CZ": (r"\d{8,10}", "8 to 10 digits"),
    "DE": (r"\d{9}", "9 digits"),
    "DK": (r"\d{8}", "8 digits"),
    "EE": (r"\d{9}", "9 digits"),
    "EL": (r"\d{9}", "9 digits"),
    # Letter or digit at both ends, but not digits at both ends (that would be a DNI without
    # its control letter).
    "ES": (
        r"[A-Z]\d{7}[A-Z0-9]|\d{8}[A-Z]",
        "9 characters: a letter and 8 digits, 8 digits and a letter, or letter-7 digits-letter",
    ),
    "FI": (r"\d{8}", "8 digits"),
    # The two-character key never uses I or O (they look like 1 and 0).
    "FR": (r"[0-9A-HJ-NP-Z]{2}\d{9}", "2 letters or digits followed by 9 digits"),
    "HR": (r"\d{11}", "11 digits"),
    "HU": (r"\d{8}", "8 digits"),
    # Old style 1X23456X (second char may be a letter, '+' or '*'), new style 1234567X or
    # 1234567XA (second letter A-I, or W).
    "IE": (
        r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
        "7 digits and 1-2 letters, or digit-letter-5 digits-letter",
    ),
    "IT": (r"\d{11}", "11 digits"),
    "LT": (r"\d{9}|\d{12}", "9 or 12 digits"),
    "LU": (r"\d{8}", "8 digits"),
    "LV": (r"\d{11}", "11 digits"),
    "MT": (r"\d{8}", "8 digits"),
    "NL": (r"\d{9}B\d{2}", "9 digits, 'B', then 2 digits"),
    "PL": (r"\d{10}", "10 digits"),
    "PT": (r"\d{9}", "9 digits"),
    "RO": (r"\d{2,10}", "2 to 10 digits"),
    "SE": (r"\d{10}01", "12 digits ending in 01"),
    "SI": (r"\d{8}", "8 digits"),
    "SK": (r"\d{10}", "10 digits"),
    # Northern Ireland traders keep EU VAT treatment for goods under the Windsor Framework;
    # same shapes as GB: 9 or 12 digits, or government department (GD)/health authority (HA).
    "XI": (r"\d{9}|\d{12}|GD\d{3}|HA\d{3}", "9 or 12 digits, or GD/HA followed by 3 digits"),
}

# Patterns match the WHOLE normalized ID including its prefix (e.g. "DE123456789") and are
# anchored, so .match(), .fullmatch() and .search() all give the same answer.
EU_VAT_PATTERNS: dict[str, re.Pattern[str]] = {
    prefix: re.compile(rf"^{prefix}(?:{body})\Z") for prefix, (body, _) in _EU_VAT_FORMATS.items()
}

# VAT prefixes are ISO 3166-1 alpha-2 except these.
_VAT_PREFIX_TO_COUNTRY = {"EL": "GR"}

_EU_VAT_COUNTRY_NAMES = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "EE": "Estonia",
    "EL": "Greece",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "MT": "Malta",
    "NL": "Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SI": "Slovenia",
    "SK": "Slovakia",
    "XI": "Northern Ireland",
}

# People copy VAT IDs from invoices with all sorts of grouping punctuation.
_VAT_SEPARATORS_RE = re.compile(r"[\s.\-]+")


def _normalize_vat(value: str) -> str:
    return _VAT_SEPARATORS_RE.sub("", value).upper()


def validate_eu_vat_id(value: str) -> str:
    """Validate the format of an EU VAT ID and return it normalized, e.g. "DE123456789".

    Spaces, dots and dashes are removed and letters upper-cased. Only the shape is checked;
    whether the number is actually registered needs a VIES lookup.
    """
    vat_id = _normalize_vat(value)
    if not vat_id:
        raise InvalidValue("VAT ID is empty")
    prefix = vat_id[:2]
    pattern = EU_VAT_PATTERNS.get(prefix)
    if pattern is None:
        hint = " (Greece uses EL)" if prefix == "GR" else ""
        raise InvalidValue(f"VAT ID {vat_id}: unknown EU country prefix {prefix!r}{hint}")
    if not pattern.match(vat_id):
        shape = _EU_VAT_FORMATS[prefix][1]
        country = _EU_VAT_COUNTRY_NAMES[prefix]
        raise InvalidValue(f"VAT ID {vat_id}: {country} VAT IDs are {prefix} followed by {shape}")
    return vat_id


def eu_vat_country(vat_id: str) -> str:
    """Return the country code for a VAT ID's prefix.

    This is the ISO 3166-1 code except: "EL" -> "GR" (Greece); "XI" stays "XI" because Northern
    Ireland has no ISO code of its own and mapping it to "GB" would lose the distinction that
    matters for VAT.
    """
    prefix = _normalize_vat(vat_id)[:2]
    if prefix not in EU_VAT_PATTERNS:
        raise InvalidValue(f"VAT ID {vat_id}: unknown EU country prefix {prefix!r}")
    return _VAT_PREFIX_TO_COUNTRY.get(prefix, prefix)


# ---------------------------------------------------------------------------
# Phone numbers and e-mail
# ---------------------------------------------------------------------------


def validate_phone(value: str, default_region: str = "IN") -> str:
    """Parse a phone number and return it in E.164 form, e.g. "+919845012345".

    ``default_region`` is used when the number has no leading "+<country code>".
    """
    text = value.strip()
    if not text:
        raise InvalidValue("Phone number is empty")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue(f"Phone number {text}: could not be read as a phone number") from exc
    # is_valid_number (not just is_possible_number) so numbers outside allocated ranges fail.
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(
            f"Phone number {text}: not a valid number"
            f" (numbers without a country code are read as {default_region})"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_EMAIL_MAX_LENGTH = 254  # RFC 5321 path limit minus the angle brackets.


def validate_email_address(value: str) -> str:
    """Return the address stripped and with its domain lower-cased.

    Deliberately simple: the only real test of an address is sending mail to it. The local
    part keeps its case because it is case-sensitive by the RFC (even if few servers care).
    Quoted local parts containing "@" are rejected; they are not worth the support burden.
    """
    address = value.strip()
    if not address:
        raise InvalidValue("E-mail address is empty")
    if any(ch.isspace() for ch in address):
        raise InvalidValue(f"E-mail address {address!r}: must not contain spaces")
    if address.count("@") != 1:
        raise InvalidValue(f"E-mail address {address}: must contain exactly one '@'")
    local, domain = address.split("@")
    if not local:
        raise InvalidValue(f"E-mail address {address}: nothing before the '@'")
    domain = domain.lower()
    if "." not in domain:
        raise InvalidValue(f"E-mail address {address}: domain {domain!r} must contain a dot")
    if any(not label for label in domain.split(".")):
        raise InvalidValue(f"E-mail address {address}: domain {domain!r} has an empty part")
    normalized = f"{local}@{domain}"
    if len(normalized) > _EMAIL_MAX_LENGTH:
        raise InvalidValue(
            f"E-mail address is too long ({len(normalized)} characters, at most 254 allowed)"
        )
    return normalized
