"""Tests for octet.core.periods: worked calendars first, then general properties."""

import calendar
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.core.periods import (
    Alignment,
    BillingPeriod,
    Interval,
    indian_financial_year,
    local_date,
    local_midnight,
    next_period,
    period_containing,
    periods_overlapping,
    prorate,
)

CAL, ANNIV = Alignment.CALENDAR, Alignment.ANNIVERSARY
MONTH, QUARTER, YEAR = Interval.MONTH, Interval.QUARTER, Interval.YEAR


def P(start: str, end: str) -> BillingPeriod:
    return BillingPeriod(date.fromisoformat(start), date.fromisoformat(end))


# -- enums and the period value ---------------------------------------------------------


def test_enums():
    assert [i.months for i in Interval] == [1, 3, 12]
    assert Interval("quarter") is QUARTER and str(YEAR) == "year"
    assert Alignment("anniversary") is ANNIV


def test_billing_period_basics():
    p = P("2026-01-15", "2026-02-01")
    assert p.days == 17
    assert p.last_day == date(2026, 1, 31)
    assert p.label == "2026-01-15/2026-01-31"
    assert p.contains(date(2026, 1, 15)) and p.contains(date(2026, 1, 31))
    assert not p.contains(date(2026, 2, 1))  # end is exclusive
    assert not p.contains(date(2026, 1, 14))
    assert P("2026-01-01", "2026-02-01") < P("2026-02-01", "2026-03-01")  # ordered by start


@pytest.mark.parametrize(
    ("start", "end"), [("2026-01-01", "2026-01-01"), ("2026-02-01", "2026-01-01")]
)
def test_start_must_precede_end(start, end):
    with pytest.raises(ValueError):
        P(start, end)


def test_datetimes_are_not_dates():
    with pytest.raises(TypeError):
        BillingPeriod(datetime(2026, 1, 1, tzinfo=UTC), date(2026, 2, 1))


def test_clip():
    month = P("2026-01-01", "2026-02-01")
    assert month.clip(start=date(2026, 1, 15)) == P("2026-01-15", "2026-02-01")
    assert month.clip(end=date(2026, 1, 10)) == P("2026-01-01", "2026-01-10")
    assert month.clip(date(2025, 12, 1), date(2026, 3, 1)) == month
    with pytest.raises(ValueError):
        month.clip(start=date(2026, 2, 1))


def test_fraction_from_counts_the_day_in_full():
    # Activated 15 Jan: 15..31 Jan is 17 of 31 days.
    month = P("2026-01-01", "2026-02-01")
    assert month.fraction_from(date(2026, 1, 15)) == Fraction(17, 31)
    assert month.fraction_from(date(2026, 1, 1)) == 1
    assert month.fraction_from(date(2026, 2, 1)) == 0
    with pytest.raises(ValueError):
        month.fraction_from(date(2026, 2, 2))


def test_prorate():
    feb = P("2026-02-01", "2026-03-01")
    assert prorate(19, feb) == Fraction(19, 28)
    assert prorate(0, feb) == 0
    with pytest.raises(ValueError):
        prorate(29, feb)


# -- calendar alignment -----------------------------------------------------------------


def test_calendar_periods():
    day = date(2026, 1, 15)
    assert period_containing(day, MONTH, CAL) == P("2026-01-01", "2026-02-01")
    assert period_containing(day, QUARTER, CAL) == P("2026-01-01", "2026-04-01")
    assert period_containing(date(2026, 5, 20), QUARTER, CAL) == P("2026-04-01", "2026-07-01")
    assert period_containing(date(2026, 12, 31), QUARTER, CAL) == P("2026-10-01", "2027-01-01")
    assert period_containing(day, YEAR, CAL) == P("2026-01-01", "2027-01-01")
    # Strings work, and an anchor is ignored for calendar alignment.
    assert period_containing(day, "month", "calendar", date(2025, 3, 9)).start == date(2026, 1, 1)


def test_next_period_calendar_from_clipped_first_period():
    first = period_containing(date(2026, 1, 15), MONTH, CAL).clip(start=date(2026, 1, 15))
    assert next_period(first, MONTH, CAL) == P("2026-02-01", "2026-03-01")
    with pytest.raises(ValueError, match="boundary"):
        next_period(P("2026-01-01", "2026-01-20"), MONTH, CAL)


# -- anniversary alignment --------------------------------------------------------------


def test_month_end_anchor_clamps_without_drift():
    anchor = date(2026, 1, 31)
    starts = [p.start for p in periods_overlapping(anchor, date(2026, 7, 1), MONTH, ANNIV, anchor)]
    assert starts == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),  # back to the 31st, not stuck on the 28th
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
    ]
    leap_feb = period_containing(date(2028, 2, 15), MONTH, ANNIV, anchor)
    assert leap_feb == P("2028-01-31", "2028-02-29")
    assert next_period(leap_feb, MONTH, ANNIV, anchor) == P("2028-02-29", "2028-03-31")


def test_anniversary_before_anchor():
    anchor = date(2026, 1, 31)
    assert period_containing(date(2025, 12, 15), MONTH, ANNIV, anchor) == P(
        "2025-11-30", "2025-12-31"
    )
    assert period_containing(date(2026, 1, 30), MONTH, ANNIV, anchor) == P(
        "2025-12-31", "2026-01-31"
    )


def test_leap_day_yearly_anchor():
    anchor = date(2024, 2, 29)
    periods = periods_overlapping(anchor, date(2028, 3, 1), YEAR, ANNIV, anchor)
    assert [p.start for p in periods] == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]
    assert periods[0].days == 365 and periods[3].days == 366


def test_quarterly_anniversary():
    anchor = date(2025, 11, 30)
    periods = periods_overlapping(anchor, date(2026, 12, 1), QUARTER, ANNIV, anchor)
    assert [p.start.isoformat() for p in periods] == [
        "2025-11-30",
        "2026-02-28",
        "2026-05-30",
        "2026-08-30",
        "2026-11-30",
    ]


def test_anniversary_needs_anchor():
    with pytest.raises(ValueError, match="anchor"):
        period_containing(date(2026, 1, 1), MONTH, ANNIV)


def test_periods_overlapping_bad_range():
    with pytest.raises(ValueError):
        periods_overlapping(date(2026, 2, 1), date(2026, 2, 1), MONTH, CAL)


# -- time zones -------------------------------------------------------------------------


def test_start_at_kolkata_is_1830_utc_previous_day():
    jan = P("2026-01-01", "2026-02-01")
    start = jan.start_at("Asia/Kolkata")
    assert start.tzinfo is not None
    assert (start.hour, start.minute) == (0, 0)
    assert start.astimezone(UTC) == datetime(2025, 12, 31, 18, 30, tzinfo=UTC)
    assert jan.end_at(ZoneInfo("Asia/Kolkata")).astimezone(UTC) == datetime(
        2026, 1, 31, 18, 30, tzinfo=UTC
    )


def test_berlin_dst_day_is_23_hours():
    # Clocks go 02:00 -> 03:00 on 29 March 2026; both midnights must still be right.
    day = P("2026-03-29", "2026-03-30")
    start, end = day.start_at("Europe/Berlin"), day.end_at("Europe/Berlin")
    assert start.astimezone(UTC) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    # Subtract in UTC: same-tzinfo subtraction would ignore the offset change.
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    assert (start.hour, end.hour) == (0, 0)


def test_midnight_that_does_not_exist():
    # Sao Paulo skipped 00:00-01:00 on 4 Nov 2018; the day starts at 01:00 local.
    start = local_midnight(date(2018, 11, 4), "America/Sao_Paulo")
    assert start.astimezone(UTC) == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)
    assert start.hour == 1
    assert local_date(start, "America/Sao_Paulo") == date(2018, 11, 4)
    # Step back in UTC: arithmetic on a zoned datetime is wall-clock arithmetic.
    just_before = start.astimezone(UTC) - timedelta(microseconds=1)
    assert local_date(just_before, "America/Sao_Paulo") == date(2018, 11, 3)


def test_local_date():
    moment = datetime(2026, 1, 31, 19, 0, tzinfo=UTC)  # 00:30 on 1 Feb in India
    assert local_date(moment, "Asia/Kolkata") == date(2026, 2, 1)
    assert local_date(moment, timezone(timedelta(hours=-5))) == date(2026, 1, 31)
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 1, 31, 19, 0), "Asia/Kolkata")


# -- financial year ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "label"),
    [
        (date(2026, 1, 15), "25-26"),
        (date(2026, 3, 31), "25-26"),
        (date(2026, 4, 1), "26-27"),
        (date(1999, 12, 1), "99-00"),
    ],
)
def test_indian_financial_year(day, label):
    assert indian_financial_year(day) == label


# -- properties -------------------------------------------------------------------------

DAY_BOUNDS = {"min_value": date(1900, 1, 1), "max_value": date(2200, 12, 31)}
DAY_RANGES = {Interval.MONTH: (28, 31), Interval.QUARTER: (89, 92), Interval.YEAR: (365, 366)}

days = st.dates(**DAY_BOUNDS)


@st.composite
def month_end_heavy_dates(draw):
    # Anchors on the 28th-31st are where clamping bugs live; draw them often.
    year = draw(st.integers(min_value=1900, max_value=2200))
    month = draw(st.integers(min_value=1, max_value=12))
    day = draw(st.integers(min_value=28, max_value=31))
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


anchors = st.one_of(days, month_end_heavy_dates())
intervals = st.sampled_from(list(Interval))
alignments = st.sampled_from(list(Alignment))


def month_length(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


@given(day=days, interval=intervals, alignment=alignments, anchor=anchors)
def test_period_containing_contains_and_is_contiguous(day, interval, alignment, anchor):
    period = period_containing(day, interval, alignment, anchor)
    assert period.contains(day)
    low, high = DAY_RANGES[interval]
    assert low <= period.days <= high

    following = next_period(period, interval, alignment, anchor)
    assert following.start == period.end
    # Recomputing from any day inside the period gives the same period back.
    assert period_containing(period.last_day, interval, alignment, anchor) == period
    assert period_containing(following.start, interval, alignment, anchor) == following


@given(day=days, interval=intervals, anchor=anchors)
def test_anniversary_start_day_is_clamped_anchor_day(day, interval, anchor):
    period = period_containing(day, interval, ANNIV, anchor)
    for start in (period.start, period.end):
        assert start.day == min(anchor.day, month_length(start))
        assert (start.month - anchor.month) % interval.months == 0


@given(day=days, interval=intervals)
def test_calendar_starts_on_first(day, interval):
    period = period_containing(day, interval, CAL)
    assert period.start.day == 1
    assert (period.start.month - 1) % interval.months == 0


@given(
    start=days,
    length=st.integers(min_value=1, max_value=1000),
    interval=intervals,
    alignment=alignments,
    anchor=anchors,
)
def test_periods_overlapping_covers_range_without_gaps(start, length, interval, alignment, anchor):
    end = start + timedelta(days=length)
    periods = periods_overlapping(start, end, interval, alignment, anchor)
    assert periods[0].start <= start
    assert periods[-1].end >= end
    for earlier, later in zip(periods, periods[1:], strict=False):
        assert earlier.end == later.start
    for period in periods:
        assert period.start < end and period.end > start  # each one really overlaps


@given(day=days, zone=st.sampled_from(["Asia/Kolkata", "Europe/Berlin", "America/Sao_Paulo"]))
def test_local_midnight_round_trips(day, zone):
    start = local_midnight(day, zone)
    assert local_date(start, zone) == day
    just_before = start.astimezone(UTC) - timedelta(microseconds=1)
    assert local_date(just_before, zone) == day - timedelta(days=1)
