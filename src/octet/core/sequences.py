"""Gapless counters: the next value is taken under a row lock inside the caller's transaction."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from octet.core.models import Sequence


def next_value(name: str) -> int:
    """Return the next value of the named sequence.

    Must run inside a transaction: the row lock is held until it commits, so two
    concurrent callers never get the same number and a rollback leaves no gap.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sequences.next_value must be called inside transaction.atomic()")
    try:
        with transaction.atomic():
            Sequence.objects.get_or_create(name=name)
    except IntegrityError:
        pass  # another transaction created it first; the locked read below waits for it
    seq = Sequence.objects.select_for_update().get(name=name)
    seq.last_value += 1
    seq.save(update_fields=["last_value"])
    return seq.last_value
