"""The one place Octet reads the time.

Services call ``now()`` instead of ``timezone.now()`` so the scenario runner can drive
the whole product on a simulated clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone

_frozen: ContextVar[datetime | None] = ContextVar("octet_clock", default=None)


def now() -> datetime:
    frozen = _frozen.get()
    return frozen if frozen is not None else timezone.now()


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Run the block with ``now()`` fixed at ``moment`` (aware)."""
    if timezone.is_naive(moment):
        raise ValueError("the simulated clock needs an aware datetime")
    token = _frozen.set(moment)
    try:
        yield
    finally:
        _frozen.reset(token)


def set_time(moment: datetime | None) -> None:
    """Move the simulated clock (None returns to the real clock)."""
    if moment is not None and timezone.is_naive(moment):
        raise ValueError("the simulated clock needs an aware datetime")
    _frozen.set(moment)
