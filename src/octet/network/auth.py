"""Checking a subscriber's RADIUS credentials. Pure: no ORM.

PAP sends the password hidden with the shared secret (decoded by the server); CHAP sends
MD5(id + password + challenge) so the server needs the cleartext to compare (RFC 1994,
RFC 2865 §5.3). Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac


def verify_pap(stored: str, given: str | bytes) -> bool:
    if isinstance(given, str):
        given = given.encode()
    return hmac.compare_digest(stored.encode(), given)


def chap_response(chap_id: int, password: str, challenge: bytes) -> bytes:
    return hashlib.md5(bytes([chap_id]) + password.encode() + challenge).digest()  # noqa: S324 - RFC 1994


def verify_chap(stored: str, chap_password: bytes, challenge: bytes) -> bool:
    """``chap_password`` is the CHAP-Password attribute: 1 octet id + 16 octets response."""
    if len(chap_password) != 17:
        return False
    return hmac.compare_digest(
        chap_password[1:], chap_response(chap_password[0], stored, challenge)
    )
