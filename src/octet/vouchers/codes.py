"""Voucher codes: generation, the check character, normalising what a person typed, hashing.

Pure: standard library and Django's crypto helpers, no database.

A code is 16 characters from a 32-letter alphabet without the look-alikes 0/O and 1/I,
printed in groups of four (``K7QM-3XHD-9TWA-PC4R``): 15 random characters (75 bits from
:mod:`secrets`) and a Luhn mod 32 check character. The check character catches every
single mistyped character and most swapped neighbours before the database is asked, so a
typo gets "that code has a typo" instead of "no such voucher".

Only a keyed hash of a code is ever stored (HMAC-SHA256 with the Django secret key, salted
for this purpose); the codes themselves exist only in what :func:`generate` returns, once,
for printing. Rotating the secret key: keep the old one in ``SECRET_KEY_FALLBACKS`` until
the vouchers generated under it have expired, or their codes stop being recognised.
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

from octet.core.errors import InvalidInput

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "check_character",
    "code_hashes",
    "format_code",
    "generate",
    "hash_code",
    "is_valid",
    "normalise",
]

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0, O, 1, I
CODE_LENGTH = 16  # 15 random characters and the check character
_N = len(ALPHABET)
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_SEPARATORS = re.compile(r"[\s\-‐-―−_.]+")  # spaces, dashes of every kind
_HASH_SALT = "octet.vouchers.code"


def _luhn_sum(chars: str, *, start_factor: int) -> int:
    factor = start_factor
    total = 0
    for ch in reversed(chars):
        addend = factor * _INDEX[ch]
        factor = 1 if factor == 2 else 2
        total += addend // _N + addend % _N
    return total


def check_character(payload: str) -> str:
    """The Luhn mod 32 check character for ``payload`` (characters of :data:`ALPHABET`)."""
    remainder = _luhn_sum(payload, start_factor=2) % _N
    return ALPHABET[(_N - remainder) % _N]


def is_valid(code: str) -> bool:
    """True when a normalised code has the right length, alphabet and check character."""
    if len(code) != CODE_LENGTH or any(ch not in _INDEX for ch in code):
        return False
    return _luhn_sum(code, start_factor=1) % _N == 0


def generate() -> str:
    """A new random code, normalised (no dashes)."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH - 1))
    return payload + check_character(payload)


def format_code(code: str) -> str:
    """``K7QM3XHD9TWAPC4R`` -> ``K7QM-3XHD-9TWA-PC4R``, as printed on the card."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise(typed: object) -> str:
    """What a person typed as a code, without spaces or dashes and in capitals.

    Raises :class:`InvalidInput` ("that code has a typo ...") when it cannot be a code. The
    message never repeats the input: codes are not to end up in logs or error reports.
    """
    if not isinstance(typed, str):
        raise InvalidInput("enter the voucher code printed on the card", field="code")
    code = _SEPARATORS.sub("", typed).upper()
    if not code:
        raise InvalidInput("enter the voucher code printed on the card", field="code")
    if any(ch in "0O1I" for ch in code):
        raise InvalidInput(
            "that code has a typo: voucher codes never contain 0, O, 1 or I", field="code"
        )
    if any(ch not in _INDEX for ch in code):
        raise InvalidInput(
            "that code has a typo: it has a character voucher codes never contain", field="code"
        )
    if len(code) != CODE_LENGTH:
        raise InvalidInput(
            f"that code has a typo: a voucher code has {CODE_LENGTH} characters "
            f"(4 groups of 4), this one has {len(code)}",
            field="code",
        )
    if not is_valid(code):
        raise InvalidInput("that code has a typo: please check it against the card", field="code")
    return code


def hash_code(code: str, secret: str | bytes | None = None) -> str:
    """The stored form of a normalised code: hex HMAC-SHA256 keyed with the secret key."""
    return salted_hmac(
        _HASH_SALT, code, secret=secret or settings.SECRET_KEY, algorithm="sha256"
    ).hexdigest()


def code_hashes(code: str) -> list[str]:
    """The hash under the current secret key and under each fallback key (for look-ups)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return list(dict.fromkeys(hash_code(code, key) for key in keys))
