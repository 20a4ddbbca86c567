"""RADIUS accounting counters turned into usage, counted exactly once.

RADIUS counters are cumulative for the life of a session and 64 bits wide once the
Gigawords attribute is folded in. Usage is therefore the *difference* from the last
counters seen for that session, never the counters themselves. Accounting runs over UDP,
so packets are retransmitted, duplicated and reordered; :func:`advance` keeps the
per-direction maximum seen so far, which makes any such packet add nothing.

Usage that spans a billing-period boundary is split at the boundary in proportion to the
time between the two updates (:func:`split_at_boundaries`, :func:`split_into_periods`),
with integer arithmetic so the pieces add back to exactly the bytes measured.

All datetimes must be aware. They are compared and subtracted in UTC, because Python
compares and subtracts two datetimes sharing one ``tzinfo`` by wall clock, which is wrong
across a daylight-saving change.

Pure module: standard library only, no Django.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

__all__ = [
    "GIGAWORD",
    "Advance",
    "Counters",
    "Reading",
    "advance",
    "octets64",
    "split_at_boundaries",
    "split_into_periods",
]

GIGAWORD = 2**32
_MICROSECOND = timedelta(microseconds=1)


def octets64(octets: int, gigawords: int = 0) -> int:
    """Fold an Acct-*-Octets value and its Acct-*-Gigawords into one 64-bit count."""
    for name, value in (("octets", octets), ("gigawords", gigawords)):
        # bool is an int subclass; a True here is a parsing bug, not a count.
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if not 0 <= value < GIGAWORD:
            raise ValueError(f"{name} must be in [0, 2**32), got {value}")
    return gigawords * GIGAWORD + octets


@dataclass(frozen=True, slots=True)
class Counters:
    """Byte counts seen from the subscriber's side.

    ``download`` is Acct-Output-Octets (+Gigawords): what the NAS sent to the subscriber.
    ``upload`` is Acct-Input-Octets (+Gigawords): what the NAS received from them.
    The same type holds cumulative session counters and usage deltas.
    """

    download: int = 0
    upload: int = 0

    def __post_init__(self) -> None:
        for name in ("download", "upload"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            # Neither cumulative counters nor usage can be negative.
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    def __add__(self, other: object) -> Counters:
        if not isinstance(other, Counters):
            return NotImplemented
        return Counters(self.download + other.download, self.upload + other.upload)

    @property
    def total(self) -> int:
        return self.download + self.upload

    def is_zero(self) -> bool:
        return self.download == 0 and self.upload == 0

    @classmethod
    def from_radius(
        cls,
        input_octets: int = 0,
        input_gigawords: int = 0,
        output_octets: int = 0,
        output_gigawords: int = 0,
    ) -> Counters:
        """Build from the raw attributes; "input"/"output" are from the NAS's side."""
        return cls(
            download=octets64(output_octets, output_gigawords),
            upload=octets64(input_octets, input_gigawords),
        )


@dataclass(frozen=True, slots=True)
class Reading:
    """The last state kept per session: the highest counters seen and when."""

    counters: Counters
    at: datetime  # aware; Event-Timestamp of the packet, or its receive time

    def __post_init__(self) -> None:
        _utc(self.at, "at")


@dataclass(frozen=True, slots=True)
class Advance:
    """What one accounting packet adds, and the session's reading after it."""

    usage: Counters  # never negative
    reading: Reading


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def advance(last: Reading | None, counters: Counters, at: datetime) -> Advance:
    """Account one packet carrying cumulative ``counters`` stamped ``at``.

    The first packet of a session (``last is None``) counts in full: sessions start at zero.
    Afterwards each direction adds ``max(0, new - last)`` and the reading keeps the
    per-direction maximum, so a retransmission, duplicate or late older packet adds nothing
    and cannot lower the reading. ``reading.at`` moves to ``max(last.at, at)`` only when some
    counter moved forward: a stale packet (possibly stamped with a late receive time) must
    not drag time forward, and an older one must not drag it back. Otherwise ``last`` is
    returned unchanged. A counter that goes *down* (e.g. a NAS reusing a session id after a
    reboot) is therefore ignored until it passes the old value: this never overcounts.
    """
    at_utc = _utc(at, "at")
    if last is None:
        return Advance(usage=counters, reading=Reading(counters, at))
    old = last.counters
    usage = Counters(
        download=max(0, counters.download - old.download),
        upload=max(0, counters.upload - old.upload),
    )
    if usage.is_zero():
        return Advance(usage=usage, reading=last)
    reading = Reading(
        Counters(max(old.download, counters.download), max(old.upload, counters.upload)),
        at if at_utc > last.at.astimezone(UTC) else last.at,
    )
    return Advance(usage=usage, reading=reading)


def _apportion(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` by integer ``weights`` (sum > 0), largest remainder, exact total.

    Each share is ``floor(amount * w / W)`` plus at most one leftover unit; leftovers go to
    the largest remainders, and on equal remainders to the *later* piece, so the newest
    period absorbs the rounding. A zero weight has zero remainder and never gets a leftover
    (there are always more positive remainders than leftover units).
    """
    whole = sum(weights)
    shares = [amount * w // whole for w in weights]
    remainders = [amount * w % whole for w in weights]
    leftover = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (remainders[i], i), reverse=True)
    for i in order[:leftover]:
        shares[i] += 1
    return shares


def _check_sorted(values: Sequence[datetime], name: str) -> list[datetime]:
    utc = [_utc(v, name) for v in values]
    if any(b < a for a, b in pairwise(utc)):
        raise ValueError(f"{name} must be sorted")
    return utc


def split_at_boundaries(
    usage: Counters, start: datetime, end: datetime, boundaries: Sequence[datetime]
) -> list[tuple[int, Counters]]:
    """Cut usage accrued over ``[start, end]`` at every boundary strictly inside it.

    Returns ``(index, counters)`` for each piece in time order; piece 0 lies before the
    first inside boundary, so there are ``1 + (boundaries inside)`` pieces and boundaries
    outside the span produce none. Each direction is split in proportion to the pieces'
    durations (integer microseconds) by the largest-remainder method, so the pieces add back
    exactly to ``usage`` and each is within one byte of its exact share; ties go to the later
    piece (the newest period). Zero-length pieces (repeated boundaries) get zero. If
    ``start == end`` or no boundary falls inside, the single piece carries everything.
    """
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    if end_utc < start_utc:
        raise ValueError(f"end {end!r} is before start {start!r}")
    inside = [b for b in _check_sorted(boundaries, "boundaries") if start_utc < b < end_utc]
    if not inside:
        return [(0, usage)]
    edges = [start_utc, *inside, end_utc]
    weights = [(b - a) // _MICROSECOND for a, b in pairwise(edges)]
    downloads = _apportion(usage.download, weights)
    uploads = _apportion(usage.upload, weights)
    return [(i, Counters(d, u)) for i, (d, u) in enumerate(zip(downloads, uploads, strict=True))]


def split_into_periods(
    usage: Counters, start: datetime, end: datetime, period_starts: Sequence[datetime]
) -> list[tuple[datetime, Counters]]:
    """Like :func:`split_at_boundaries`, keyed by the period each piece falls in.

    ``period_starts`` are sorted; the period of an instant is the last start ``<=`` it, and
    ``period_starts[0] <= start`` is required. Pieces that come out zero are dropped; when
    usage is all zero one piece is kept, for the period the span ends in (the newest, as
    with ties). The returned keys are the caller's own ``period_starts`` objects.
    """
    starts_utc = _check_sorted(period_starts, "period_starts")
    if not starts_utc or starts_utc[0] > _utc(start, "start"):
        raise ValueError("period_starts must begin at or before start")
    pieces = split_at_boundaries(usage, start, end, period_starts)
    # Piece 0 begins at start; piece i > 0 begins at the i-th boundary inside the span.
    start_utc = start.astimezone(UTC)
    piece_starts = [start_utc, *(b for b in starts_utc if start_utc < b < end.astimezone(UTC))]
    keyed: list[tuple[datetime, Counters]] = []
    for index, counters in pieces:
        period = period_starts[bisect_right(starts_utc, piece_starts[index]) - 1]
        if keyed and keyed[-1][0] is period:
            keyed[-1] = (period, keyed[-1][1] + counters)  # defensive; pieces rarely share one
        else:
            keyed.append((period, counters))
    nonzero = [(p, c) for p, c in keyed if not c.is_zero()]
    return nonzero or keyed[-1:]
