"""Dunning policy and the steps it schedules for one due date.

Pure: no Django, no database. A policy says, relative to an invoice's due date, when to
remind the customer, when to charge a late fee, when to suspend and when to terminate. The
service plans these steps when an invoice is issued and carries out each at its time if
the invoice is still unpaid then (docs/dunning.md).

Times are local to the operator: reminders at ``reminder_time`` (09:00 by default) on their
day, suspension, late fee and termination at 00:00 at the start of their day, as
../shared/scenarios/FORMAT.md describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["REMIND", "REMIND_AFTER", "SUSPEND", "LATE_FEE", "TERMINATE", "Policy", "Step"]

REMIND = "remind"  # before (or on) the due date
REMIND_AFTER = "remind_after"
LATE_FEE = "late_fee"
SUSPEND = "suspend"
TERMINATE = "terminate"
KINDS = (REMIND, REMIND_AFTER, LATE_FEE, SUSPEND, TERMINATE)
# Steps a promise to pay holds back (reminders before the due date still go out).
HELD_BY_PROMISE = frozenset({REMIND_AFTER, LATE_FEE, SUSPEND, TERMINATE})


@dataclass(frozen=True, order=True)
class Step:
    at: datetime
    kind: str
    offset: int  # days from the due date: negative before, positive after


def _days(value: Any, what: str, *, low: int) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValueError(f"{what} must be a list of days")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < low or item > 365:
            raise ValueError(f"{what}: {item!r} is not a whole number of days from {low} to 365")
        out.append(item)
    return tuple(sorted(set(out)))


def _day(value: Any, what: str, *, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or value > 365:
        raise ValueError(f"{what}: {value!r} is not a whole number of days from {low} to 365")
    return value


def _decimal(value: Any, what: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what}: {value!r} must be zero or more")
    return amount


@dataclass(frozen=True)
class Policy:
    remind_days_before_due: tuple[int, ...] = (3,)
    remind_days_after_due: tuple[int, ...] = ()
    suspend_days_after_due: int | None = 7
    terminate_days_after_due: int | None = None
    late_fee_days_after_due: int | None = None
    late_fee_amount: Decimal | None = None  # fixed, tax excluded
    late_fee_percent: Decimal | None = None  # of what is overdue on that due date
    reminder_time: time = time(9, 0)
    # Overdue amounts below this do not suspend (a few paise left by a rounding slip).
    min_overdue: Decimal = Decimal(0)

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> Policy:
        """From the operator's or a group's settings (JSON); unknown keys are refused."""
        known = {
            "remind_days_before_due",
            "remind_days_after_due",
            "suspend_days_after_due",
            "terminate_days_after_due",
            "late_fee_days_after_due",
            "late_fee_amount",
            "late_fee_percent",
            "reminder_time",
            "min_overdue",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown dunning settings: {', '.join(sorted(unknown))}")
        reminder = data.get("reminder_time") or "09:00"
        try:
            reminder_time = time.fromisoformat(str(reminder))
        except ValueError:
            raise ValueError(f"reminder_time {reminder!r} is not a time like 09:00") from None
        policy = cls(
            remind_days_before_due=_days(
                data.get("remind_days_before_due", []), "remind_days_before_due", low=0
            ),
            remind_days_after_due=_days(
                data.get("remind_days_after_due", []), "remind_days_after_due", low=1
            ),
            # Not on the due date itself: the customer may pay all of that day.
            suspend_days_after_due=_day(
                data.get("suspend_days_after_due"), "suspend_days_after_due", low=1
            ),
            terminate_days_after_due=_day(
                data.get("terminate_days_after_due"), "terminate_days_after_due", low=1
            ),
            late_fee_days_after_due=_day(
                data.get("late_fee_days_after_due"), "late_fee_days_after_due", low=1
            ),
            late_fee_amount=_decimal(data.get("late_fee_amount"), "late_fee_amount"),
            late_fee_percent=_decimal(data.get("late_fee_percent"), "late_fee_percent"),
            reminder_time=reminder_time,
            min_overdue=_decimal(data.get("min_overdue"), "min_overdue") or Decimal(0),
        )
        policy.check()
        return policy

    def check(self) -> None:
        if (
            self.terminate_days_after_due is not None
            and self.suspend_days_after_due is not None
            and self.terminate_days_after_due <= self.suspend_days_after_due
        ):
            raise ValueError("termination must come after suspension")
        fee = self.late_fee_amount is not None or self.late_fee_percent is not None
        if fee != (self.late_fee_days_after_due is not None):
            raise ValueError("a late fee needs both its day (late_fee_days_after_due) and amount")
        if self.late_fee_amount is not None and self.late_fee_percent is not None:
            raise ValueError("a late fee is either an amount or a percent, not both")
        if self.late_fee_percent is not None and self.late_fee_percent > 100:
            raise ValueError("late_fee_percent must be at most 100")

    def steps(self, due: date, tz: ZoneInfo) -> list[Step]:
        """Every step this policy schedules for invoices due on ``due``, in time order."""

        def at(day: date, moment: time) -> datetime:
            return datetime.combine(day, moment, tzinfo=tz)

        midnight = time(0, 0)
        out = [
            Step(at(due - timedelta(days=n), self.reminder_time), REMIND, -n)
            for n in self.remind_days_before_due
        ]
        out += [
            Step(at(due + timedelta(days=n), self.reminder_time), REMIND_AFTER, n)
            for n in self.remind_days_after_due
        ]
        for kind, days in (
            (LATE_FEE, self.late_fee_days_after_due),
            (SUSPEND, self.suspend_days_after_due),
            (TERMINATE, self.terminate_days_after_due),
        ):
            if days is not None:
                out.append(Step(at(due + timedelta(days=days), midnight), kind, days))
        return sorted(out)

    def late_fee(self, overdue: Decimal) -> Decimal:
        """The fee (tax excluded, not yet rounded to the currency) for ``overdue`` unpaid."""
        if self.late_fee_amount is not None:
            return self.late_fee_amount
        if self.late_fee_percent is not None:
            return overdue * self.late_fee_percent / 100
        return Decimal(0)


def held_until(promise_until: date | None, step: Step, tz: ZoneInfo) -> datetime | None:
    """When a step held back by a promise to pay (until and including ``promise_until``)
    may run instead, or None if the promise does not hold it."""
    if promise_until is None or step.kind not in HELD_BY_PROMISE:
        return None
    resume = datetime.combine(promise_until + timedelta(days=1), time(0, 0), tzinfo=tz)
    return resume if step.at < resume else None
