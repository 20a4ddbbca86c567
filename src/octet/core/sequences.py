"""Gapless counters: the next value is taken under a row lock inside the caller's transaction."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from octet.core.models import Sequence


def next_block(name: str, count: int) -> int:
    """Reserve ``count`` consecutive values of the named sequence; return the first.

    Same guarantees as :func:`next_value` (row lock until commit, no gap on rollback), for
    a billing run that numbers a batch of documents with one lock.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sequences.next_block must be called inside transaction.atomic()")
    try:
        with transaction.atomic():
            Sequence.objects.get_or_create(name=name)
    except IntegrityError:
        pass  # another transaction created it first; the locked read below waits for it
    seq = Sequence.objects.select_for_update().get(name=name)
    first = seq.last_value + 1
    seq.last_value += count
    seq.save(update_fields=["last_value"])
    return first


def next_value(name: str) -> int:
    """Return the next value of the named sequence.

    Must run inside a transaction: the row lock is held until it commits, so two
    concurrent callers never get the same number and a rollback leaves no gap.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sequences.next_value must be called inside transaction.atomic()")
    return next_block(name, 1)
