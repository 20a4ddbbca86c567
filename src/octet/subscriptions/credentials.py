"""RADIUS credential rules. Pure: no ORM."""

from __future__ import annotations

import re

# User-Name as NAS vendors accept it: letters, digits and . _ - @ (realm), 1–64 chars.
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class InvalidCredential(ValueError):
    pass


def normalize_username(value: str) -> str:
    value = (value or "").strip()
    if not USERNAME_RE.fullmatch(value):
        raise InvalidCredential(
            f"RADIUS username {value!r} must be 1-64 characters of letters, digits, '.', '_', "
            "'-' or '@', starting with a letter or digit"
        )
    return value


def check_password(value: str) -> str:
    # PAP carries at most 128 octets; CHAP needs the cleartext, so printable ASCII keeps
    # every NAS and every keyboard able to type it.
    if not value or len(value) < 6:
        raise InvalidCredential("RADIUS password must be at least 6 characters")
    if len(value) > 128:
        raise InvalidCredential("RADIUS password must be at most 128 characters")
    if not all(32 < ord(c) < 127 for c in value):
        raise InvalidCredential("RADIUS password must be printable ASCII without spaces")
    return value
