"""Billing-period arithmetic.

Time is stored in UTC, but billing periods are runs of *local dates* in the operator's
time zone; convert with :func:`local_date` / :func:`local_midnight` at the edges.

Periods are half-open ``[start, end)``. Anniversary periods are always computed from the
anchor as ``anchor + k * interval`` with ``dateutil.relativedelta`` (which clamps to the
month's last day), never by stepping from the previous, already clamped, date. So a
31 Jan anchor gives 31 Jan, 28/29 Feb, 31 Mar, 30 Apr, ... and does not drift to the 28th.

Pure module: standard library and ``python-dateutil`` only, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

__all__ = [
    "Alignment",
    "BillingPeriod",
    "Interval",
    "indian_financial_year",
    "local_date",
    "local_midnight",
    "next_period",
    "period_containing",
    "periods_overlapping",
    "prorate",
]


class Interval(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def months(self) -> int:
        return _INTERVAL_MONTHS[self]


_INTERVAL_MONTHS = {Interval.MONTH: 1, Interval.QUARTER: 3, Interval.YEAR: 12}


class Alignment(StrEnum):
    CALENDAR = "calendar"  # periods start on the 1st (of the month/quarter/year)
    ANNIVERSARY = "anniversary"  # periods start on the anchor's day, clamped to month end


def _require_date(value: object, what: str) -> date:
    # datetime is a date subclass, but mixing the two silently drops the time and zone.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime.date (not datetime), got {value!r}")
    return value


def _zone(tz: tzinfo | str) -> tzinfo:
    if isinstance(tz, str):
        return ZoneInfo(tz)
    if isinstance(tz, tzinfo):
        return tz
    raise TypeError(f"tz must be a ZoneInfo, tzinfo or IANA zone name, got {tz!r}")


def local_date(moment: datetime, tz: tzinfo | str) -> date:
    """The local calendar date of an aware instant in ``tz``."""
    if not isinstance(moment, datetime):
        raise TypeError(f"moment must be a datetime, got {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive datetime has no defined instant; guessing a zone is how bills go wrong.
        raise ValueError("local_date needs an aware datetime (stored times are UTC)")
    return moment.astimezone(_zone(tz)).date()


def local_midnight(day: date, tz: tzinfo | str) -> datetime:
    """The first instant of local ``day`` in ``tz``, as an aware datetime in that zone.

    Round-tripping through UTC makes this DST-safe: where clocks jump at midnight (so 00:00
    does not exist, e.g. America/Sao_Paulo 2018-11-04) the result is the real first
    instant of the day (01:00 local), and an ambiguous 00:00 takes its first occurrence.
    A date skipped entirely (date-line moves, e.g. Pacific/Apia 2011-12-30) has no instant;
    the result is then the start of the following day.
    """
    zone = _zone(tz)
    naive_start = datetime.combine(_require_date(day, "day"), time())
    return naive_start.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


@dataclass(frozen=True, order=True)
class BillingPeriod:
    """A half-open run of local dates ``[start, end)``; ``end`` is exclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        _require_date(self.start, "start")
        _require_date(self.end, "end")
        if not self.start < self.end:
            raise ValueError(f"period start {self.start} must be before end {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        # Inclusive dates read better on invoices than the exclusive end.
        return f"{self.start.isoformat()}/{self.last_day.isoformat()}"

    def contains(self, day: date) -> bool:
        return self.start <= _require_date(day, "day") < self.end

    def start_at(self, tz: tzinfo | str) -> datetime:
        return local_midnight(self.start, tz)

    def end_at(self, tz: tzinfo | str) -> datetime:
        return local_midnight(self.end, tz)

    def clip(self, start: date | None = None, end: date | None = None) -> BillingPeriod:
        """Intersection with ``[start, end)``; either bound may be omitted."""
        new_start = self.start if start is None else max(self.start, _require_date(start, "start"))
        new_end = self.end if end is None else min(self.end, _require_date(end, "end"))
        if new_start >= new_end:
            raise ValueError(f"clipping {self.label} to [{start}, {end}) leaves nothing")
        return BillingPeriod(new_start, new_end)

    def fraction_from(self, day: date) -> Fraction:
        """Share of the period from ``day`` (counted in full) to the end.

        ``day`` may range from ``start`` (giving 1) to ``end`` (giving 0).
        """
        if not self.start <= _require_date(day, "day") <= self.end:
            raise ValueError(f"{day} is outside {self.label}")
        return Fraction((self.end - day).days, self.days)


def _calendar_start(day: date, interval: Interval) -> date:
    if interval is Interval.MONTH:
        return day.replace(day=1)
    if interval is Interval.QUARTER:
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)


@lru_cache(maxsize=65536)
def period_containing(
    day: date,
    interval: Interval | str,
    alignment: Alignment | str,
    anchor: date | None = None,
) -> BillingPeriod:
    """The billing period that contains local ``day`` (cached: periods are immutable and a
    billing run asks for the same few again and again).

    Calendar alignment ignores ``anchor``. Anniversary alignment requires it and yields
    ``[anchor + k*interval, anchor + (k+1)*interval)``, with ``k`` negative before the anchor.
    """
    day = _require_date(day, "day")
    interval = Interval(interval)
    alignment = Alignment(alignment)
    step = interval.months

    if alignment is Alignment.CALENDAR:
        start = _calendar_start(day, interval)
        return BillingPeriod(start, start + relativedelta(months=step))

    if anchor is None:
        raise ValueError("anniversary alignment needs an anchor date")
    anchor = _require_date(anchor, "anchor")

    def boundary(k: int) -> date:
        # Always from the anchor, so clamping (31st -> 28th) never accumulates.
        return anchor + relativedelta(months=k * step)

    # Month distance gives k exactly or one too many (when day-of-month is before the
    # clamped anchor day); the loops correct that without any per-period stepping.
    k = ((day.year - anchor.year) * 12 + (day.month - anchor.month)) // step
    while boundary(k) > day:
        k -= 1
    while boundary(k + 1) <= day:
        k += 1
    return BillingPeriod(boundary(k), boundary(k + 1))


def next_period(
    period: BillingPeriod,
    interval: Interval | str,
    alignment: Alignment | str,
    anchor: date | None = None,
) -> BillingPeriod:
    """The full period that starts at ``period.end``.

    Raises ValueError if ``period.end`` is not a period boundary for this schedule (e.g. a
    period clipped at its end), since no full period starts there.
    """
    following = period_containing(period.end, interval, alignment, anchor)
    if following.start != period.end:
        raise ValueError(f"{period.label} does not end on a period boundary")
    return following


def periods_overlapping(
    start: date,
    end: date,
    interval: Interval | str,
    alignment: Alignment | str,
    anchor: date | None = None,
) -> list[BillingPeriod]:
    """Every full period overlapping ``[start, end)``, in order and without gaps."""
    start = _require_date(start, "start")
    end = _require_date(end, "end")
    if not start < end:
        raise ValueError(f"range start {start} must be before end {end}")
    periods = [period_containing(start, interval, alignment, anchor)]
    while periods[-1].end < end:
        periods.append(next_period(periods[-1], interval, alignment, anchor))
    return periods


def indian_financial_year(day: date) -> str:
    """Indian FY label (April-March) used in GST invoice numbering: 15 Jan 2026 -> "25-26"."""
    day = _require_date(day, "day")
    first_year = day.year if day.month >= 4 else day.year - 1
    return f"{first_year % 100:02d}-{(first_year + 1) % 100:02d}"


def prorate(days: int, period: BillingPeriod) -> Fraction:
    """``days / period.days`` as an exact Fraction (0 to 1)."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days must be int, got {days!r}")
    if not 0 <= days <= period.days:
        raise ValueError(f"days must be between 0 and {period.days}, got {days}")
    return Fraction(days, period.days)
