"""Encryption at rest for secrets Octet must be able to read back.

RADIUS CHAP and MS-CHAP need the cleartext password on the server, so subscriber
RADIUS passwords cannot be hashed; they are encrypted with Fernet (AES-128-CBC + HMAC)
under OCTET_CREDENTIAL_KEY, or a key derived from the secret key when that is unset.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("octet-credentials:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _current() -> Fernet:
    return _fernet(settings.CREDENTIAL_KEY or settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # wrong key: say so, never show the token
        raise ValueError("stored credential cannot be decrypted with this key") from exc
