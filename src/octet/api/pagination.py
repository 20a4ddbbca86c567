"""Cursor pagination: lists are in id order; ``next`` is an opaque cursor for the page after.

A cursor is the URL-safe base64 of ``v1:<last id>``. Clients pass it back unchanged as
``cursor``; rows added meanwhile are never skipped or shown twice, unlike offsets.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from octet.core.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_MAX_ID = 2**63 - 1

M = TypeVar("M", bound=Model)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    bad = InvalidInput(
        "cursor is not valid: pass back the 'next' of the previous page", field="cursor"
    )
    if len(cursor) > 40:
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    version, _, number = text.partition(":")
    if version != "v1" or not number.isdigit() or not 0 <= int(number) <= _MAX_ID:
        raise bad
    return int(number)


def paginate(
    qs: QuerySet[M], *, limit: int, cursor: str | None, item: Callable[[M], Any]
) -> dict[str, Any]:
    """One page of ``qs`` in id order: ``{"items": [...], "next": cursor or None}``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}", field="limit")
    if cursor:
        qs = qs.filter(pk__gt=decode_cursor(cursor))
    rows = list(qs.order_by("pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [item(row) for row in rows],
        "next": encode_cursor(rows[-1].pk) if more else None,
    }
