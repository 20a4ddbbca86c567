"""The one place Octet reads the time.

Services call ``now()`` instead of ``timezone.now()`` so the scenario runner can drive
the whole product, including the RADIUS server's threads, on a simulated clock. The
simulated time is process-wide on purpose: a scenario run is one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone

_frozen: datetime | None = None


def now() -> datetime:
    frozen = _frozen
    return frozen if frozen is not None else timezone.now()


def is_simulated() -> bool:
    return _frozen is not None


def set_time(moment: datetime | None) -> None:
    """Move the simulated clock (None returns to the real clock)."""
    global _frozen
    if moment is not None and timezone.is_naive(moment):
        raise ValueError("the simulated clock needs an aware datetime")
    _frozen = moment


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Run the block with ``now()`` fixed at ``moment`` (aware)."""
    if timezone.is_naive(moment):
        raise ValueError("the simulated clock needs an aware datetime")
    previous = _frozen
    set_time(moment)
    try:
        yield
    finally:
        set_time(previous)
