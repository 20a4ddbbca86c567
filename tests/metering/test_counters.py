"""Tests for octet.metering.counters: worked examples first, then properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.metering.counters import (
    GIGAWORD,
    Advance,
    Counters,
    Reading,
    advance,
    octets64,
    split_at_boundaries,
    split_into_periods,
)

T0 = datetime(2025, 1, 31, 22, 0, tzinfo=UTC)
MIDNIGHT = datetime(2025, 2, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- octets64 and Counters ------------------------------------------------------------


def test_octets64_folds_gigawords():
    assert GIGAWORD == 2**32
    assert octets64(5) == 5
    assert octets64(5, 1) == 4294967301
    assert octets64(GIGAWORD - 1, GIGAWORD - 1) == 2**64 - 1


@pytest.mark.parametrize(
    ("octets", "gigawords"), [(-1, 0), (GIGAWORD, 0), (0, -1), (0, GIGAWORD), (2**40, 0)]
)
def test_octets64_rejects_out_of_range(octets, gigawords):
    with pytest.raises(ValueError):
        octets64(octets, gigawords)


def test_octets64_rejects_non_ints():
    with pytest.raises(TypeError):
        octets64(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        octets64(True)


def test_counters_basics():
    c = Counters(download=100, upload=10) + Counters(download=1, upload=2)
    assert c == Counters(101, 12) and c.total == 113 and not c.is_zero()
    assert Counters().is_zero() and Counters().total == 0
    with pytest.raises(ValueError):
        Counters(download=-1)
    with pytest.raises(TypeError):
        Counters(upload=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Counters() + 1  # type: ignore[operator]


def test_from_radius_maps_directions_from_the_subscribers_side():
    c = Counters.from_radius(input_octets=7, input_gigawords=2, output_octets=5, output_gigawords=1)
    # Output is what the NAS sent to the subscriber: their download.
    assert c == Counters(download=GIGAWORD + 5, upload=2 * GIGAWORD + 7)
    with pytest.raises(ValueError):
        Counters.from_radius(output_octets=GIGAWORD)


def test_naive_datetimes_rejected():
    naive = datetime(2025, 1, 1)
    with pytest.raises(ValueError):
        advance(None, Counters(), naive)
    with pytest.raises(ValueError):
        Reading(Counters(), naive)
    with pytest.raises(ValueError):
        split_at_boundaries(Counters(1), naive, naive, [])


# -- advance ------------------------------------------------------------------------------


def test_session_with_duplicate_and_out_of_order_packets_counts_exactly_once():
    packets = [
        (Counters(0, 0), at(0)),  # Start
        (Counters(100, 10), at(5)),  # Interim
        (Counters(100, 10), at(5)),  # duplicate (retransmission)
        (Counters(50, 5), at(2)),  # older Interim arriving late
        (Counters(300, 30), at(10)),  # Interim
        (Counters(400, 40), at(15)),  # Stop
    ]
    last, total, usages = None, Counters(), []
    for counters, when in packets:
        step = advance(last, counters, when)
        usages.append(step.usage)
        total += step.usage
        last = step.reading
    assert total == Counters(400, 40)
    assert usages == [
        Counters(0, 0),
        Counters(100, 10),
        Counters(),
        Counters(),
        Counters(200, 20),
        Counters(100, 10),
    ]
    assert last == Reading(Counters(400, 40), at(15))


def test_first_packet_counts_in_full():
    assert advance(None, Counters(70, 7), at(1)) == Advance(
        Counters(70, 7), Reading(Counters(70, 7), at(1))
    )


def test_duplicate_returns_the_reading_unchanged():
    last = Reading(Counters(100, 10), at(5))
    step = advance(last, Counters(100, 10), at(5))
    assert step.usage.is_zero() and step.reading is last


def test_out_of_order_packet_does_not_move_time_back_or_forward():
    last = Reading(Counters(100, 10), at(5))
    assert advance(last, Counters(50, 5), at(2)).reading is last
    # A stale packet stamped with a late receive time must not drag time forward either.
    assert advance(last, Counters(50, 5), at(9)).reading is last


def test_one_direction_moving_forward_on_an_older_packet_keeps_the_later_time():
    last = Reading(Counters(100, 10), at(5))
    step = advance(last, Counters(90, 20), at(3))
    assert step.usage == Counters(0, 10)
    assert step.reading == Reading(Counters(100, 20), at(5))


def test_counter_crossing_2_to_the_32_counts_the_right_difference():
    before = Counters.from_radius(output_octets=GIGAWORD - 10, input_octets=GIGAWORD - 1)
    # Octets wrap back to small values while Gigawords goes up by one.
    after = Counters.from_radius(
        output_octets=5, output_gigawords=1, input_octets=0, input_gigawords=1
    )
    step = advance(Reading(before, at(0)), after, at(5))
    assert step.usage == Counters(download=15, upload=1)


def test_aware_times_in_other_zones_compare_by_instant():
    kolkata = ZoneInfo("Asia/Kolkata")
    last = Reading(Counters(10), at(10))
    # 03:35 in Kolkata is 22:05 UTC: earlier than last.at, so time stays.
    earlier = datetime(2025, 2, 1, 3, 35, tzinfo=kolkata)
    assert advance(last, Counters(20), earlier).reading.at == at(10)


# -- split_at_boundaries / split_into_periods --------------------------------------------


def test_split_across_midnight_halves():
    start, end = MIDNIGHT - timedelta(hours=1), MIDNIGHT + timedelta(hours=1)
    pieces = split_at_boundaries(Counters(1000, 1000), start, end, [MIDNIGHT])
    assert pieces == [(0, Counters(500, 500)), (1, Counters(500, 500))]


def test_split_three_hours_two_before_one_after():
    start, end = MIDNIGHT - timedelta(hours=2), MIDNIGHT + timedelta(hours=1)
    pieces = split_at_boundaries(Counters(300, 0), start, end, [MIDNIGHT])
    assert pieces == [(0, Counters(200, 0)), (1, Counters(100, 0))]


def test_split_ties_go_to_the_later_piece():
    start, end = MIDNIGHT - timedelta(hours=1), MIDNIGHT + timedelta(hours=1)
    assert split_at_boundaries(Counters(1, 3), start, end, [MIDNIGHT]) == [
        (0, Counters(0, 1)),
        (1, Counters(1, 2)),
    ]


def test_split_without_inside_boundary_is_one_piece():
    start, end = MIDNIGHT, MIDNIGHT + timedelta(hours=1)
    usage = Counters(7, 3)
    # A boundary exactly at either end is not inside the span.
    assert split_at_boundaries(usage, start, end, [MIDNIGHT, end]) == [(0, usage)]
    assert split_at_boundaries(usage, start, start, [MIDNIGHT]) == [(0, usage)]
    assert split_at_boundaries(usage, start, end, []) == [(0, usage)]


def test_split_repeated_boundary_gives_a_zero_length_piece_zero():
    start, end = MIDNIGHT - timedelta(hours=1), MIDNIGHT + timedelta(hours=1)
    pieces = split_at_boundaries(Counters(11, 11), start, end, [MIDNIGHT, MIDNIGHT])
    assert pieces == [(0, Counters(5, 5)), (1, Counters()), (2, Counters(6, 6))]


def test_split_rejects_bad_input():
    with pytest.raises(ValueError):
        split_at_boundaries(Counters(1), MIDNIGHT, MIDNIGHT - timedelta(1), [])
    with pytest.raises(ValueError):
        split_at_boundaries(
            Counters(1), T0, MIDNIGHT + timedelta(1), [MIDNIGHT, MIDNIGHT - timedelta(hours=1)]
        )


def test_split_uses_elapsed_time_across_a_dst_change():
    berlin = ZoneInfo("Europe/Berlin")
    # 30 March 2025: clocks jump 02:00 CET -> 03:00 CEST, so 00:00 -> 04:00 is 3 real hours.
    start = datetime(2025, 3, 30, 0, 0, tzinfo=berlin)
    end = datetime(2025, 3, 30, 4, 0, tzinfo=berlin)
    boundary = datetime(2025, 3, 30, 3, 30, tzinfo=berlin)  # 2.5 real hours in
    pieces = split_at_boundaries(Counters(600), start, end, [boundary])
    assert pieces == [(0, Counters(500)), (1, Counters(100))]


def test_split_into_periods_keys_by_period_start():
    feb, mar = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    jan = datetime(2025, 1, 1, tzinfo=UTC)
    start, end = feb - timedelta(hours=1), feb + timedelta(hours=1)
    assert split_into_periods(Counters(1000, 10), start, end, [jan, feb, mar]) == [
        (jan, Counters(500, 5)),
        (feb, Counters(500, 5)),
    ]
    # Entirely inside one period: that period, everything.
    inside = split_into_periods(Counters(9), feb, feb + timedelta(days=2), [jan, feb, mar])
    assert inside == [(feb, Counters(9))]


def test_split_into_periods_drops_zero_pieces_but_keeps_one():
    jan, feb = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    start = feb - timedelta(microseconds=1)
    end = feb + timedelta(days=1)
    # One byte: the 1 µs piece before February rounds to zero and is dropped.
    assert split_into_periods(Counters(1), start, end, [jan, feb]) == [(feb, Counters(1))]
    # All zero: keep one piece, for the period the span ends in.
    assert split_into_periods(Counters(), start, end, [jan, feb]) == [(feb, Counters())]


def test_split_into_periods_requires_a_period_covering_start():
    feb = datetime(2025, 2, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        split_into_periods(Counters(1), feb - timedelta(hours=1), feb, [feb])
    with pytest.raises(ValueError):
        split_into_periods(Counters(1), feb, feb, [])


# -- properties ---------------------------------------------------------------------------

byte_counts = st.integers(min_value=0, max_value=2**64 - 1)
steps = st.tuples(
    st.integers(min_value=0, max_value=10 * GIGAWORD),  # download increment
    st.integers(min_value=0, max_value=10 * GIGAWORD),  # upload increment
    st.integers(min_value=0, max_value=3_600_000_000),  # microseconds since previous
)


def cumulative(increments: list[tuple[int, int, int]]) -> list[tuple[Counters, datetime]]:
    """A session's true packet stream: counters and time never go down."""
    down = up = 0
    when = T0
    out = [(Counters(), when)]  # Start
    for d, u, us in increments:
        down, up, when = down + d, up + u, when + timedelta(microseconds=us)
        out.append((Counters(down, up), when))
    return out


def replay(packets: list[tuple[Counters, datetime]]) -> tuple[Counters, Reading | None]:
    last: Reading | None = None
    total = Counters()
    for counters, when in packets:
        step = advance(last, counters, when)
        assert step.usage.download >= 0 and step.usage.upload >= 0
        if last is not None:
            # The reading never moves back, in counters or in time.
            assert step.reading.counters.download >= last.counters.download
            assert step.reading.counters.upload >= last.counters.upload
            assert step.reading.at >= last.at
        total += step.usage
        last = step.reading
    return total, last


@given(st.lists(steps, max_size=8), st.data())
def test_any_order_any_duplicates_counts_exactly_the_final_reading(increments, data):
    readings = cumulative(increments)
    extra = data.draw(st.lists(st.sampled_from(readings), max_size=10), label="duplicates")
    delivered = data.draw(st.permutations(readings + extra), label="delivery order")
    total, last = replay(delivered)
    final = readings[-1]
    assert total == final[0]
    assert last is not None and last.counters == final[0]
    # Time only moved with counters, so it never passes the latest packet.
    assert last.at <= final[1]


@given(st.lists(steps, max_size=8), st.data())
def test_lost_packets_never_overcount(increments, data):
    readings = cumulative(increments)
    # Any non-empty subset (the Stop may be lost), in any order, with repeats.
    delivered = data.draw(
        st.lists(st.sampled_from(readings), min_size=1, max_size=20), label="delivered"
    )
    total, _ = replay(delivered)
    assert total.download == max(c.download for c, _ in delivered)
    assert total.upload == max(c.upload for c, _ in delivered)
    assert total.download <= readings[-1][0].download
    assert total.upload <= readings[-1][0].upload


span_starts = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-2 * 86_400_000_000, max_value=5 * 86_400_000_000)


@given(
    st.builds(Counters, byte_counts, byte_counts),
    span_starts,
    st.integers(min_value=0, max_value=3 * 86_400_000_000),
    st.lists(offsets, max_size=8),
)
def test_split_pieces_are_exact_and_within_one_byte(usage, start, length_us, boundary_offsets):
    end = start + timedelta(microseconds=length_us)
    boundaries = sorted(start + timedelta(microseconds=o) for o in boundary_offsets)
    pieces = split_at_boundaries(usage, start, end, boundaries)

    inside = [b for b in boundaries if start < b < end]
    # One piece per inside boundary plus one; boundaries outside the span add none.
    assert [i for i, _ in pieces] == list(range(len(inside) + 1))
    assert sum((c for _, c in pieces), Counters()) == usage

    if not inside:
        assert pieces == [(0, usage)]
        return
    edges = [start, *inside, end]
    us = timedelta(microseconds=1)
    for (i, piece), (a, b) in zip(pieces, pairwise(edges), strict=True):
        share = Fraction((b - a) // us, (end - start) // us)
        for got, whole in ((piece.download, usage.download), (piece.upload, usage.upload)):
            assert abs(got - whole * share) < 1, (i, got, whole * share)
            if a == b:
                assert got == 0


@given(
    st.builds(Counters, byte_counts, byte_counts),
    span_starts,
    st.integers(min_value=0, max_value=3 * 86_400_000_000),
    st.lists(st.integers(min_value=1, max_value=86_400_000_000), min_size=1, max_size=8),
)
def test_split_into_periods_sums_and_keys_are_real_periods(usage, start, length_us, gaps):
    end = start + timedelta(microseconds=length_us)
    period_starts = [start - timedelta(hours=1)]
    for gap in gaps:
        period_starts.append(period_starts[-1] + timedelta(microseconds=gap))
    pieces = split_into_periods(usage, start, end, period_starts)
    assert pieces
    assert sum((c for _, c in pieces), Counters()) == usage
    keys = [p for p, _ in pieces]
    assert keys == sorted(set(keys))
    assert all(p in period_starts and p <= end for p in keys)
    assert all(not c.is_zero() for _, c in pieces) or len(pieces) == 1
