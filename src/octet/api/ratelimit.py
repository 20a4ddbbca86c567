"""Per-token rate limits: a fixed-window counter in the database.

Every process (web threads, several servers) counts in the same row, so the limit holds
across them. One statement per request, atomic on SQLite and PostgreSQL alike:
``INSERT … ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import connection

from octet.api.models import ApiToken, RateCounter
from octet.core import clock

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    limit: int
    retry_after: int  # seconds until the window ends (at least 1)


def _table() -> str:
    return connection.ops.quote_name(RateCounter._meta.db_table)


def hit(token: ApiToken) -> Verdict:
    """Count one request of ``token`` in the current window and say if it may go on."""
    now = clock.now().timestamp()
    slot = int(now // WINDOW_SECONDS)
    q = connection.ops.quote_name
    table, token_id, slot_, count_ = _table(), q("token_id"), q("slot"), q("count")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({token_id}, {slot_}, {count_}) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT ({token_id}, {slot_}) DO UPDATE SET {count_} = {table}.{count_} + 1 "
            f"RETURNING {count_}",
            [token.pk, slot],
        )
        count = cursor.fetchone()[0]
    if count == 1:
        # First request of a window: drop the token's old windows, note when it was used.
        RateCounter.objects.filter(token=token, slot__lt=slot).delete()
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=clock.now())
    retry_after = max(1, math.ceil((slot + 1) * WINDOW_SECONDS - now))
    return Verdict(count <= token.rate_limit, count, token.rate_limit, retry_after)
