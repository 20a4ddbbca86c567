"""Metering use cases: accounting batches, usage per period, quotas, CSV import.

``record_accounting`` is the RADIUS server's hot path: a whole batch of packets in one
transaction with a handful of queries, so the server can acknowledge them all once it
returns (never before: the caller sends Accounting-Responses only after the commit).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction

from octet.core import clock
from octet.core.models import Operator
from octet.core.periods import Alignment, BillingPeriod, Interval, local_date, period_containing
from octet.metering import quota
from octet.metering.accounting import AccountingRecord, Status
from octet.metering.counters import Counters, Reading, advance, split_into_periods
from octet.metering.models import QuotaEvent, UsagePeriod
from octet.subscriptions.lifecycle import State
from octet.subscriptions.models import Subscription

log = logging.getLogger("octet.metering")


@dataclass
class BatchResult:
    records: int = 0
    sessions_opened: int = 0
    sessions_closed: int = 0
    download_bytes: int = 0
    upload_bytes: int = 0
    quota_events: list[tuple[int, str]] = field(default_factory=list)  # (subscription, kind)


@dataclass(frozen=True, slots=True)
class _Terms:
    """What the hot path needs of a subscription and its plan."""

    id: int
    customer_id: int
    interval: Interval
    alignment: Alignment
    anchor: date | None
    allowance_counts: str

    def period(self, day: date) -> BillingPeriod:
        if self.alignment is Alignment.ANNIVERSARY and self.anchor and day < self.anchor:
            # Before the anchor: a late packet from before a re-anchoring plan change
            # belongs to the period of the plan in force that day (rare: not the hot path).
            from octet.subscriptions.services import period_at

            return period_at(Subscription.objects.get(pk=self.id), day)
        calendar = self.alignment is Alignment.CALENDAR  # the anchor plays no part then
        return _period(day, self.interval, self.alignment, None if calendar else self.anchor or day)


@lru_cache(maxsize=16384)
def _period(
    day: date, interval: Interval, alignment: Alignment, anchor: date | None
) -> BillingPeriod:
    """period_containing, memoised: a batch asks the same few questions thousands of times."""
    return period_containing(day, interval, alignment, anchor)


def _load_terms(ids: set[int]) -> dict[int, _Terms]:
    if not ids:
        return {}
    # Plain tuples: building model instances cost more than the query on the hot path.
    rows = Subscription.objects.filter(id__in=ids).values_list(
        "id",
        "customer_id",
        "anchor_date",
        "plan_version__interval",
        "plan_version__alignment",
        "plan_version__allowance_counts",
    )
    return {
        sub_id: _Terms(
            id=sub_id,
            customer_id=customer_id,
            interval=Interval(interval),
            alignment=Alignment(alignment),
            anchor=anchor,
            allowance_counts=counts,
        )
        for sub_id, customer_id, anchor, interval, alignment, counts in rows
    }


def _live_subscription_ids(usernames: set[str]) -> dict[str, int]:
    if not usernames:
        return {}
    rows = (
        Subscription.objects.filter(username__in=usernames)
        .exclude(state=State.TERMINATED)
        .values_list("username", "id")
    )
    return dict(rows)


def period_boundaries(
    terms: _Terms, start: datetime, end: datetime, tz: ZoneInfo
) -> list[datetime]:
    """Starts (aware) of the subscription's billing periods from the one containing ``start``
    to the one containing ``end``."""
    period = terms.period(local_date(start, tz))
    last_day = local_date(end, tz)
    starts = [period.start_at(tz)]
    while period.end <= last_day:
        period = terms.period(period.end)
        starts.append(period.start_at(tz))
    return starts


class _Usage:
    """Usage deltas per (subscription, period start) accumulated over a batch."""

    def __init__(self) -> None:
        self.deltas: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
        self.periods: dict[tuple[int, date], BillingPeriod] = {}

    def add(self, terms: _Terms, period: BillingPeriod, usage: Counters) -> None:
        key = (terms.id, period.start)
        self.periods[key] = period
        delta = self.deltas[key]
        delta[0] += usage.download
        delta[1] += usage.upload


def record_accounting(records: Sequence[AccountingRecord]) -> BatchResult:
    """Store a batch of accounting records in one transaction. Idempotent per packet."""
    result = BatchResult(records=len(records))
    if not records:
        return result
    with transaction.atomic():
        operator = Operator.current()
        tz = ZoneInfo(operator.time_zone)
        now = clock.now()
        _process(records, tz, now, result)
    return result


def _process(
    records: Sequence[AccountingRecord], tz: ZoneInfo, now: datetime, result: BatchResult
) -> None:
    from octet.network.models import RadiusSession  # network depends on metering, not back

    session_ids = {r.session_id for r in records if r.session_id}
    sessions: dict[tuple[int, str], RadiusSession] = {}
    stored = RadiusSession.objects.filter(acct_session_id__in=session_ids)
    if connection.features.has_select_for_update:
        # Several RADIUS servers may get packets of one session (a NAS fails over and
        # retransmits): lock the sessions so each delta is computed against the counters
        # the other server committed. Locks are taken in id order, so batches cannot deadlock.
        # One query: lock and read in id order, then order as below in Python.
        rows = sorted(stored.select_for_update().order_by("id"), key=lambda s: (s.started_at, s.id))
    else:
        rows = stored.order_by("started_at", "id")
    for s in rows:
        key = (s.nas_id, s.acct_session_id)
        held = sessions.get(key)
        # Prefer the open session; among closed ones the latest.
        if held is None or held.stopped_at is not None:
            sessions[key] = s
    by_username = _live_subscription_ids(
        {
            r.username
            for r in records
            if r.username and r.status in (Status.START, Status.INTERIM, Status.STOP)
        }
    )
    terms = _load_terms(
        set(by_username.values())
        | {s.subscription_id for s in sessions.values() if s.subscription_id}
    )
    usage = _Usage()
    new_sessions: list[RadiusSession] = []
    dirty: dict[int, RadiusSession] = {}
    periods: dict[tuple[int, date], BillingPeriod] = {}  # (subscription, local day): period

    def period_of(t: _Terms, day: date) -> BillingPeriod:
        key = (t.id, day)
        period = periods.get(key)
        if period is None:
            period = periods[key] = t.period(day)
        return period

    for record in records:
        if record.status in (Status.ACCOUNTING_ON, Status.ACCOUNTING_OFF):
            _flush_sessions(new_sessions, dirty)
            new_sessions, dirty = [], {}
            closed = RadiusSession.objects.filter(
                nas_id=record.nas_id, stopped_at__isnull=True
            ).update(
                stopped_at=record.at,
                terminate_cause="NAS-Reboot"
                if record.status == Status.ACCOUNTING_ON
                else "NAS-Request",
            )
            result.sessions_closed += closed
            for key, s in list(sessions.items()):
                if key[0] == record.nas_id and s.stopped_at is None:
                    s.stopped_at = record.at
            continue
        key = (record.nas_id, record.session_id)
        session = sessions.get(key)
        if session is None or (
            session.stopped_at is not None
            and record.status == Status.START
            and record.at > session.stopped_at
        ):
            # A new session (a lost Start is fine: counters began at zero at its start).
            started = record.at - timedelta(seconds=record.session_time or 0)
            session = RadiusSession(
                nas_id=record.nas_id,
                acct_session_id=record.session_id,
                username=record.username,
                subscription_id=by_username.get(record.username),
                started_at=started,
                updated_at=started,
                download_bytes=0,
                upload_bytes=0,
                framed_ip=record.framed_ip,
                calling_station_id=record.calling_station_id,
                nas_port_id=record.nas_port_id,
            )
            sessions[key] = session
            new_sessions.append(session)
            result.sessions_opened += 1
        last = Reading(Counters(session.download_bytes, session.upload_bytes), session.updated_at)
        step = advance(last, record.counters, record.at)
        if step.reading != last:
            session.download_bytes = step.reading.counters.download
            session.upload_bytes = step.reading.counters.upload
            session.updated_at = step.reading.at
            if record.framed_ip and not session.framed_ip:
                session.framed_ip = record.framed_ip
            if session.pk:
                dirty[session.pk] = session
        if record.status == Status.STOP and session.stopped_at is None:
            session.stopped_at = record.at
            session.terminate_cause = record.terminate_cause or "User-Request"
            result.sessions_closed += 1
            if session.pk:
                dirty[session.pk] = session
        if step.usage.is_zero() or session.subscription_id is None:
            continue
        t = terms.get(session.subscription_id)
        if t is None:
            continue
        span_end = max(record.at, last.at)
        period = period_of(t, local_date(last.at, tz))
        if local_date(span_end, tz) < period.end:
            # The common case: the whole span lies in one period (what the split gives then).
            usage.add(t, period, step.usage)
        else:
            boundaries = period_boundaries(t, last.at, span_end, tz)
            for period_start_at, piece in split_into_periods(
                step.usage, last.at, span_end, boundaries
            ):
                usage.add(t, period_of(t, local_date(period_start_at, tz)), piece)
        result.download_bytes += step.usage.download
        result.upload_bytes += step.usage.upload

    _flush_sessions(new_sessions, dirty)
    touched = _store_usage(usage, now, tz)
    result.quota_events = _check_quotas(touched, terms, tz, now)


def _flush_sessions(new_sessions: list, dirty: dict) -> None:
    from octet.network.models import RadiusSession

    if new_sessions:
        RadiusSession.objects.bulk_create(new_sessions)
    if not dirty:
        return
    table = RadiusSession._meta.db_table
    changed = [dirty[pk] for pk in sorted(dirty)]  # one lock order for every server
    if connection.vendor == "postgresql":
        # One statement for the whole batch: PostgreSQL would otherwise parse, plan and run
        # one UPDATE per session, which costs more than everything else in the batch.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS s SET download_bytes = v.down, upload_bytes = v.up, "  # noqa: S608
                "updated_at = v.updated, stopped_at = v.stopped, terminate_cause = v.cause, "
                "framed_ip = v.ip FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], "
                "%s::timestamptz[], %s::timestamptz[], %s::text[], %s::inet[]) "
                "AS v(id, down, up, updated, stopped, cause, ip) WHERE s.id = v.id",
                [
                    [s.pk for s in changed],
                    [s.download_bytes for s in changed],
                    [s.upload_bytes for s in changed],
                    [s.updated_at for s in changed],
                    [s.stopped_at for s in changed],
                    [s.terminate_cause for s in changed],
                    [s.framed_ip for s in changed],
                ],
            )
        return
    # Raw SQL: adapt datetimes as the ORM does (on SQLite: text in naive UTC).
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET download_bytes = %s, upload_bytes = %s, updated_at = %s, "  # noqa: S608
            "stopped_at = %s, terminate_cause = %s, framed_ip = %s WHERE id = %s",
            [
                (
                    s.download_bytes,
                    s.upload_bytes,
                    adapt(s.updated_at),
                    adapt(s.stopped_at),
                    s.terminate_cause,
                    s.framed_ip,
                    s.pk,
                )
                for s in changed
            ],
        )


def _store_usage(usage: _Usage, now: datetime, tz: ZoneInfo) -> list[UsagePeriod]:
    """Add the batch's deltas to the usage rows (creating missing ones) and return them."""
    if not usage.deltas:
        return []
    keys = sorted(usage.deltas)  # one lock order for every server
    if connection.vendor == "postgresql":
        rows = _add_usage_returning(keys, usage, now)
        missing = [key for key in keys if key not in rows]
        if missing:
            _create_usage_periods(missing, usage, now, tz)
            rows.update(_add_usage_returning(missing, usage, now))
        return list(rows.values())
    sub_ids = {k[0] for k in keys}
    starts = {k[1] for k in keys}
    existing = set(
        UsagePeriod.objects.filter(subscription_id__in=sub_ids, period_start__in=starts)
        .values_list("subscription_id", "period_start")
        .iterator()
    )
    missing = [key for key in keys if key not in existing]
    if missing:
        _create_usage_periods(missing, usage, now, tz)
    table = UsagePeriod._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET download_bytes = download_bytes + %s, "  # noqa: S608
            "upload_bytes = upload_bytes + %s, updated_at = %s "
            "WHERE subscription_id = %s AND period_start = %s",
            [
                (
                    usage.deltas[key][0],
                    usage.deltas[key][1],
                    connection.ops.adapt_datetimefield_value(now),
                    key[0],
                    key[1],
                )
                for key in keys
            ],
        )
    return list(
        UsagePeriod.objects.filter(subscription_id__in=sub_ids, period_start__in=starts).only(
            "id",
            "subscription_id",
            "period_start",
            "download_bytes",
            "upload_bytes",
            "allowance_bytes",
        )
    )


def _add_usage_returning(
    keys: list[tuple[int, date]], usage: _Usage, now: datetime
) -> dict[tuple[int, date], UsagePeriod]:
    """PostgreSQL: add the deltas of ``keys`` in one statement; the rows it updated."""
    table = UsagePeriod._meta.db_table
    fields = UsagePeriod._meta.concrete_fields  # in model order, as from_db wants them
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS u SET download_bytes = u.download_bytes + v.down, "  # noqa: S608
            "upload_bytes = u.upload_bytes + v.up, updated_at = %s "
            "FROM unnest(%s::bigint[], %s::date[], %s::bigint[], %s::bigint[]) "
            "AS v(sub, start, down, up) "
            "WHERE u.subscription_id = v.sub AND u.period_start = v.start RETURNING "
            + ", ".join(f"u.{f.column}" for f in fields),
            [
                now,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [usage.deltas[k][0] for k in keys],
                [usage.deltas[k][1] for k in keys],
            ],
        )
        names = [f.attname for f in fields]
        rows = [UsagePeriod.from_db(connection.alias, names, r) for r in cursor]
    return {(r.subscription_id, r.period_start): r for r in rows}


def _create_usage_periods(
    keys: list[tuple[int, date]], usage: _Usage, now: datetime, tz: ZoneInfo
) -> None:
    """Create the missing usage rows of a batch in one insert, each with its allowance.

    What :func:`ensure_usage_period` does row by row; at the start of a calendar period every
    subscriber's first packet lands here. A row another server created meanwhile is kept."""
    from octet.subscriptions.models import PlanChange, PlanChangeStatus

    ids = {k[0] for k in keys}
    subs = Subscription.objects.select_related("plan_version").in_bulk(ids)
    changed = set(
        PlanChange.objects.filter(
            subscription_id__in=ids, status=PlanChangeStatus.APPLIED
        ).values_list("subscription_id", flat=True)
    )
    rows = []
    for sub_id, start in keys:
        sub, period = subs[sub_id], usage.periods[(sub_id, start)]
        if (
            sub_id not in changed
            and sub.activated_at is not None
            and sub.terminated_at is None
            and local_date(sub.activated_at, tz) <= period.start
        ):
            # On one plan version for the whole period: allowance_for gives that version's
            # allowance (one full segment), without its three queries per subscription.
            allowance = sub.plan_version.allowance_bytes
        else:
            allowance = allowance_for(sub, period)
        rows.append(
            UsagePeriod(
                subscription_id=sub_id,
                period_start=period.start,
                period_end=period.end,
                allowance_bytes=allowance,
                updated_at=now,
            )
        )
    UsagePeriod.objects.bulk_create(rows, ignore_conflicts=True)


def ensure_usage_period(subscription_id: int, period: BillingPeriod, now: datetime) -> UsagePeriod:
    """The usage row of this period, created with its allowance if missing."""
    row = UsagePeriod.objects.filter(
        subscription_id=subscription_id, period_start=period.start
    ).first()
    if row is not None:
        return row
    sub = Subscription.objects.select_related("plan_version").get(pk=subscription_id)
    try:
        with transaction.atomic():
            return UsagePeriod.objects.create(
                subscription_id=subscription_id,
                period_start=period.start,
                period_end=period.end,
                allowance_bytes=allowance_for(sub, period),
                updated_at=now,
            )
    except IntegrityError:  # another RADIUS server created it first
        return UsagePeriod.objects.get(subscription_id=subscription_id, period_start=period.start)


def allowance_for(subscription: Subscription, period: BillingPeriod) -> int | None:
    from octet.subscriptions.services import plan_segments

    segments = plan_segments(subscription, period)
    if not segments:
        return subscription.plan_version.allowance_bytes
    return quota.period_allowance(
        period,
        [quota.PlanSegment(v.allowance_bytes, start, end) for v, start, end in segments],
        segments[-1][0].proration,
    )


def _check_quotas(
    rows: list[UsagePeriod], terms: dict[int, _Terms], tz: ZoneInfo, now: datetime
) -> list[tuple[int, str]]:
    crossed: list[tuple[int, str]] = []
    for row in rows:
        t = terms.get(row.subscription_id)
        if t is None:
            continue
        used = quota.metered_bytes(row.download_bytes, row.upload_bytes, t.allowance_counts)
        for kind in quota.thresholds_crossed(used, row.allowance_bytes):
            if _quota_event(row, t, kind, now):
                crossed.append((row.subscription_id, kind))
    return crossed


def _quota_event(row: UsagePeriod, terms: _Terms, kind: str, now: datetime) -> bool:
    """Record a crossed threshold once per period; act on it the first time only."""
    from octet.network import services as network
    from octet.notifications.services import notify

    try:
        with transaction.atomic():
            event = QuotaEvent.objects.create(
                subscription_id=row.subscription_id,
                period_start=row.period_start,
                kind=kind,
                at=now,
            )
    except IntegrityError:
        return False
    notify(
        terms.customer_id,
        kind,
        at=now,
        context={
            "period_start": row.period_start.isoformat(),
            "used": row.download_bytes,
            "allowance": row.allowance_bytes,
        },
        dedupe_key=f"{kind}:{row.subscription_id}:{row.period_start.isoformat()}",
    )
    if kind == "usage_100":
        event.action = network.enforce_quota(row.subscription_id)
        event.save(update_fields=["action"])
    return True


def refresh_allowance(subscription: Subscription, at: datetime | None = None) -> None:
    """Recompute the current period's allowance after a plan change."""
    from octet.subscriptions.services import billing_period

    period = billing_period(subscription, at)
    row = UsagePeriod.objects.filter(subscription=subscription, period_start=period.start).first()
    if row is not None:
        row.allowance_bytes = allowance_for(subscription, period)
        row.save(update_fields=["allowance_bytes"])


def usage_for(subscription: Subscription, period: BillingPeriod) -> UsagePeriod:
    """The usage row of a period (an unsaved zero row with its allowance if none yet)."""
    row = UsagePeriod.objects.filter(subscription=subscription, period_start=period.start).first()
    if row is not None:
        return row
    return UsagePeriod(
        subscription=subscription,
        period_start=period.start,
        period_end=period.end,
        allowance_bytes=allowance_for(subscription, period),
        updated_at=clock.now(),
    )


def check_quotas(rows: list[UsagePeriod], now: datetime, tz: ZoneInfo) -> list[tuple[int, str]]:
    """Raise the threshold events these usage rows have reached (once per period each)."""
    return _check_quotas(rows, _load_terms({r.subscription_id for r in rows}), tz, now)
