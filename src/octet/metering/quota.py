"""Allowances and thresholds. Pure: no ORM.

A prorated period prorates its allowance the same way as its fee (FORMAT.md): allowance ×
days ÷ days in the period, rounded down to the byte; after a plan change within the period,
each plan contributes its share for its own days (the change day counts for the new plan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from octet.core.periods import BillingPeriod

THRESHOLDS = ((80, "usage_80"), (100, "usage_100"))


@dataclass(frozen=True, slots=True)
class PlanSegment:
    """A plan in force from ``start`` (inclusive) to ``end`` (exclusive), local dates."""

    allowance_bytes: int | None  # None: unlimited
    start: date
    end: date


def period_allowance(
    period: BillingPeriod, segments: Sequence[PlanSegment], proration: str = "daily"
) -> int | None:
    """The allowance of ``period`` given the plans in force in it (None: unlimited)."""
    inside = [s for s in segments if s.start < period.end and s.end > period.start]
    if not inside:
        return 0
    if any(s.allowance_bytes is None for s in inside):
        return None
    if proration != "daily":
        # Without proration the plan in force at the end of the period gives its allowance.
        return inside[-1].allowance_bytes
    total = 0
    for s in inside:
        days = (min(s.end, period.end) - max(s.start, period.start)).days
        total += s.allowance_bytes * days // period.days  # floor: rounded down to the byte
    return total


def metered_bytes(download: int, upload: int, counts: str) -> int:
    """The bytes an allowance is measured against: download only, or both directions."""
    return download + upload if counts == "total" else download


def thresholds_crossed(used: int, allowance: int | None) -> list[str]:
    """Kinds of every threshold reached at ``used`` bytes, lowest first."""
    if allowance is None:
        return []
    if allowance == 0:
        return [kind for _, kind in THRESHOLDS] if used > 0 else []
    return [kind for pct, kind in THRESHOLDS if used * 100 >= allowance * pct]
