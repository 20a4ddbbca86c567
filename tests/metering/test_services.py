"""Metering use cases straight through record_accounting (no RADIUS): batches, sessions,
usage per billing period, prorated allowances and the plan timeline behind them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from octet.catalog import services as catalog
from octet.catalog.models import GB
from octet.core import clock
from octet.core.periods import BillingPeriod
from octet.metering.accounting import AccountingRecord, Status
from octet.metering.counters import Counters
from octet.metering.models import QuotaEvent, UsagePeriod
from octet.metering.services import record_accounting, usage_for
from octet.network import services as network
from octet.network.models import RadiusSession
from octet.notifications.models import Notification
from octet.subscriptions import services as subscriptions

pytestmark = pytest.mark.django_db

IST = ZoneInfo("Asia/Kolkata")
UTC = ZoneInfo("UTC")
SUBSCRIBED_AT = datetime(2026, 1, 15, 9, 0, tzinfo=IST)
FEB_5 = datetime(2026, 2, 5, 20, 0, tzinfo=IST)
FEB_10_NOON = datetime(2026, 2, 10, 12, 0, tzinfo=IST)
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


@pytest.fixture
def nas(operator):
    return network.create_nas(
        name="core-1", address="10.0.0.1", secret="testing123", vendor="mikrotik", actor="test"
    )


@pytest.fixture
def sub(asha, fiber100):
    with clock.frozen_at(SUBSCRIBED_AT):
        return subscriptions.subscribe(
            asha, fiber100, username="asha", password="s3cret-Pass", actor="test"
        )


@pytest.fixture
def air50(operator, gst18):
    return catalog.create_plan(
        code="AIR50",
        name="AirFiber 50",
        terms={
            "price": "599.00",
            "interval": "month",
            "alignment": "anniversary",
            "allowance_bytes": 300 * GB,
            "fair_use_down_kbps": 5_000,
            "fair_use_up_kbps": 5_000,
            "down_kbps": 50_000,
            "up_kbps": 20_000,
            "tax_category": gst18,
        },
        actor="test",
    )


def rec(nas, status, at, session="s-1", down=0, up=0, username="asha", **more):
    return AccountingRecord(
        nas_id=nas.pk,
        status=status,
        at=at,
        session_id=session,
        username=username,
        counters=Counters(download=down, upload=up),
        **more,
    )


def usage(sub) -> dict[date, tuple[int, int]]:
    return {
        row.period_start: (row.download_bytes, row.upload_bytes)
        for row in UsagePeriod.objects.filter(subscription=sub)
    }


def allowances(sub) -> dict[date, int | None]:
    return dict(
        UsagePeriod.objects.filter(subscription=sub).values_list("period_start", "allowance_bytes")
    )


# -- batches ------------------------------------------------------------------------------


def test_duplicates_in_one_batch_count_once(nas, sub):
    t = FEB_5
    result = record_accounting(
        [
            rec(nas, Status.START, t),
            rec(nas, Status.INTERIM, t + timedelta(minutes=5), down=1_000, up=100),
            rec(nas, Status.INTERIM, t + timedelta(minutes=5), down=1_000, up=100),
            rec(nas, Status.INTERIM, t + timedelta(minutes=3), down=500, up=50),  # late, older
            rec(nas, Status.START, t),  # retransmitted Start
        ]
    )
    assert (result.records, result.sessions_opened, result.sessions_closed) == (5, 1, 0)
    assert (result.download_bytes, result.upload_bytes) == (1_000, 100)
    assert usage(sub) == {FEB: (1_000, 100)}
    session = RadiusSession.objects.get()
    assert (session.download_bytes, session.upload_bytes) == (1_000, 100)
    assert session.updated_at == t + timedelta(minutes=5)
    # The same batch once more (the NAS retransmits it all): nothing new.
    record_accounting([rec(nas, Status.INTERIM, t + timedelta(minutes=5), down=1_000, up=100)])
    assert usage(sub) == {FEB: (1_000, 100)}


def test_start_and_stop_of_one_session_in_one_batch(nas, sub):
    result = record_accounting(
        [
            rec(nas, Status.START, FEB_5, framed_ip="100.64.0.5"),
            rec(
                nas,
                Status.STOP,
                FEB_5 + timedelta(minutes=10),
                down=5_000,
                up=600,
                session_time=600,
                terminate_cause="Idle-Timeout",
            ),
        ]
    )
    assert (result.sessions_opened, result.sessions_closed) == (1, 1)
    session = RadiusSession.objects.get()
    assert session.started_at == FEB_5
    assert session.stopped_at == FEB_5 + timedelta(minutes=10)
    assert session.terminate_cause == "Idle-Timeout"
    assert session.framed_ip == "100.64.0.5"
    assert (session.download_bytes, session.upload_bytes) == (5_000, 600)
    assert usage(sub) == {FEB: (5_000, 600)}


def test_stop_before_its_start_in_one_batch(nas, sub):
    record_accounting(
        [
            rec(nas, Status.STOP, FEB_5 + timedelta(minutes=10), down=5_000, session_time=600),
            rec(nas, Status.START, FEB_5),
        ]
    )
    session = RadiusSession.objects.get()
    assert (session.started_at, session.stopped_at) == (FEB_5, FEB_5 + timedelta(minutes=10))
    assert usage(sub) == {FEB: (5_000, 0)}


def test_stop_without_a_start_counts_from_zero(nas, sub):
    """A lost Start: the Stop's counters began at zero at its start (less session time)."""
    record_accounting(
        [rec(nas, Status.STOP, FEB_5, down=7_000, session_time=3_600, terminate_cause="")]
    )
    session = RadiusSession.objects.get()
    assert session.started_at == FEB_5 - timedelta(hours=1)
    assert session.terminate_cause == "User-Request"
    assert usage(sub) == {FEB: (7_000, 0)}


def test_unknown_username_is_stored_without_subscription_or_usage(nas, sub):
    result = record_accounting(
        [
            rec(nas, Status.START, FEB_5, session="g-1", username="ghost"),
            rec(nas, Status.INTERIM, FEB_5 + timedelta(minutes=5), "g-1", 9_000, username="ghost"),
        ]
    )
    session = RadiusSession.objects.get(acct_session_id="g-1")
    assert session.subscription_id is None
    assert session.username == "ghost"
    assert session.download_bytes == 9_000  # the session itself is kept up to date
    assert (result.download_bytes, result.upload_bytes) == (0, 0)
    assert not UsagePeriod.objects.exists()
    assert not QuotaEvent.objects.exists()


def test_terminated_subscriptions_username_counts_no_usage(nas, sub):
    subscriptions.terminate(sub, actor="test")
    record_accounting([rec(nas, Status.STOP, FEB_5, down=9_000, session_time=60)])
    assert RadiusSession.objects.get().subscription_id is None
    assert not UsagePeriod.objects.exists()


def test_same_session_id_on_two_nas_are_two_sessions(nas, sub):
    other = network.create_nas(name="core-2", address="10.0.0.2", secret="testing456", actor="t")
    record_accounting(
        [
            rec(nas, Status.START, FEB_5),
            rec(other, Status.START, FEB_5),
            rec(nas, Status.INTERIM, FEB_5 + timedelta(minutes=5), down=1_000),
            rec(other, Status.INTERIM, FEB_5 + timedelta(minutes=5), down=2_000),
        ]
    )
    assert RadiusSession.objects.count() == 2
    assert usage(sub) == {FEB: (3_000, 0)}


def test_accounting_on_in_a_batch_closes_only_that_nas(nas, sub):
    other = network.create_nas(name="core-2", address="10.0.0.2", secret="testing456", actor="t")
    reboot = FEB_5 + timedelta(minutes=30)
    record_accounting(
        [
            rec(nas, Status.START, FEB_5, session="a"),
            rec(other, Status.START, FEB_5, session="b"),
            rec(nas, Status.ACCOUNTING_ON, reboot, session=""),
            rec(nas, Status.START, reboot + timedelta(minutes=1), session="a"),
        ]
    )
    sessions = list(
        RadiusSession.objects.order_by("nas_id", "started_at").values_list(
            "nas_id", "acct_session_id", "stopped_at", "terminate_cause"
        )
    )
    assert sessions == [
        (nas.pk, "a", reboot, "NAS-Reboot"),
        (nas.pk, "a", None, ""),
        (other.pk, "b", None, ""),
    ]


def test_times_in_any_zone_are_stored_as_the_same_instants(nas, sub):
    """Raw SQL writes: a local-time record and a UTC one are the same instant, so stale
    detection (a comparison in SQL) agrees whichever zone the caller used."""
    record_accounting([rec(nas, Status.START, FEB_5)])
    record_accounting([rec(nas, Status.INTERIM, FEB_5 + timedelta(minutes=5), down=10)])
    session = RadiusSession.objects.get()
    assert session.updated_at == FEB_5 + timedelta(minutes=5)
    last = FEB_5 + timedelta(minutes=5)
    fresh = last + timedelta(seconds=900)  # RADIUS_STALE_AFTER: not stale yet
    assert network.close_stale_sessions(now=fresh.astimezone(UTC)) == 0
    assert network.close_stale_sessions(now=fresh) == 0
    stale = last + timedelta(seconds=901)
    assert network.close_stale_sessions(now=stale.astimezone(UTC)) == 1
    session.refresh_from_db()
    assert session.stopped_at == last
    assert RadiusSession.objects.filter(updated_at__lt=last + timedelta(seconds=1)).count() == 1
    assert RadiusSession.objects.filter(updated_at__gt=last - timedelta(seconds=1)).count() == 1


def test_local_now_closes_stale_sessions_like_utc_now(nas, sub):
    record_accounting([rec(nas, Status.START, FEB_5.astimezone(UTC))])
    assert network.close_stale_sessions(now=FEB_5 + timedelta(seconds=901)) == 1


# -- allowances -----------------------------------------------------------------------------


def test_first_partial_period_allowance_is_prorated(nas, sub):
    """Active 15-31 Jan: 17 of 31 days of 500 GB, rounded down to the byte."""
    record_accounting(
        [rec(nas, Status.STOP, datetime(2026, 1, 31, 23, 0, tzinfo=IST), down=1, session_time=0)]
    )
    assert allowances(sub) == {JAN: 274_193_548_387}
    assert 500 * GB * 17 // 31 == 274_193_548_387
    assert usage_for(sub, BillingPeriod(FEB, MAR)).allowance_bytes == 500 * GB


def test_allowance_after_a_plan_change_now_is_the_sum_of_both_plans(nas, sub, fiber300):
    """Scenario 01's February: Fiber 100 for 1-9 Feb, Fiber 300 from the 10th (the change
    day counts for the new plan): 500 GB × 9/28 + 1000 GB × 19/28."""
    record_accounting([rec(nas, Status.STOP, FEB_5, down=300 * GB, session_time=0)])
    assert allowances(sub) == {FEB: 500 * GB}
    with clock.frozen_at(FEB_10_NOON):
        subscriptions.change_plan(sub, fiber300, when="now", actor="test")
    expected = 500 * GB * 9 // 28 + 1000 * GB * 19 // 28
    assert expected == 839_285_714_285
    assert allowances(sub) == {FEB: 839_285_714_285}  # the existing row was refreshed


def test_allowance_after_a_plan_change_now_for_a_new_row(nas, sub, fiber300):
    with clock.frozen_at(FEB_10_NOON):
        subscriptions.change_plan(sub, fiber300, when="now", actor="test")
    with clock.frozen_at(datetime(2026, 2, 27, 20, 0, tzinfo=IST)):
        result = record_accounting(
            [
                rec(
                    nas,
                    Status.STOP,
                    datetime(2026, 2, 27, 20, 0, tzinfo=IST),
                    down=700 * GB,
                    up=30 * GB,
                    session_time=0,
                )
            ]
        )
    assert allowances(sub) == {FEB: 839_285_714_285}
    # 700 GB of 839 GB: 80 % crossed, 100 % not (it would be against 500 GB).
    assert result.quota_events == [(sub.pk, "usage_80")]
    assert list(
        Notification.objects.filter(kind__startswith="usage").values_list("kind", flat=True)
    ) == ["usage_80"]


def test_quota_thresholds_are_recorded_once_per_period(nas, sub):
    record_accounting([rec(nas, Status.START, FEB_5)])
    results = [
        record_accounting([rec(nas, Status.INTERIM, FEB_5 + timedelta(minutes=m), down=d)])
        for m, d in ((1, 399 * GB), (2, 400 * GB), (3, 450 * GB), (4, 500 * GB), (5, 600 * GB))
    ]
    assert [r.quota_events for r in results] == [
        [],
        [(sub.pk, "usage_80")],
        [],
        [(sub.pk, "usage_100")],
        [],
    ]
    event = QuotaEvent.objects.get(kind="usage_100")
    assert event.action == "none"  # overage is billed: nothing done to the line
    assert Notification.objects.filter(kind__startswith="usage").count() == 2


# -- the plan timeline ----------------------------------------------------------------------


def test_timeline_without_changes(sub):
    (segment,) = subscriptions.plan_timeline(sub)
    assert (segment.start, segment.end, segment.anchor) == (
        date(2026, 1, 15),
        None,
        date(2026, 1, 15),
    )
    assert subscriptions.period_at(sub, date(2026, 1, 15)) == BillingPeriod(JAN, FEB)


def test_moving_to_an_anniversary_plan_reanchors_on_the_change_day(nas, sub, air50):
    with clock.frozen_at(FEB_10_NOON):
        subscriptions.change_plan(sub, air50, when="now", actor="test")
    sub.refresh_from_db()
    assert sub.anchor_date == date(2026, 2, 10)
    old, new = subscriptions.plan_timeline(sub)
    assert (old.version.plan.code, old.start, old.end, old.anchor) == (
        "FIBER100",
        date(2026, 1, 15),
        date(2026, 2, 10),
        date(2026, 1, 15),
    )
    assert (new.version.plan.code, new.start, new.end, new.anchor) == (
        "AIR50",
        date(2026, 2, 10),
        None,
        date(2026, 2, 10),
    )
    period_at = subscriptions.period_at
    assert period_at(sub, date(2026, 1, 20)) == BillingPeriod(JAN, FEB)
    assert period_at(sub, date(2026, 2, 9)) == BillingPeriod(FEB, MAR)  # the calendar plan's
    assert period_at(sub, date(2026, 2, 10)) == BillingPeriod(date(2026, 2, 10), date(2026, 3, 10))
    assert period_at(sub, date(2026, 3, 9)) == BillingPeriod(date(2026, 2, 10), date(2026, 3, 10))
    assert period_at(sub, date(2026, 3, 10)) == BillingPeriod(date(2026, 3, 10), date(2026, 4, 10))
    assert subscriptions.billing_period(sub, FEB_10_NOON).start == date(2026, 2, 10)
    # Usage after the change is metered in the new, re-anchored periods.
    record_accounting(
        [rec(nas, Status.STOP, datetime(2026, 2, 12, 8, 0, tzinfo=IST), down=1_000, session_time=0)]
    )
    row = UsagePeriod.objects.get(subscription=sub)
    assert (row.period_start, row.period_end) == (date(2026, 2, 10), date(2026, 3, 10))


def test_a_change_at_period_end_to_an_anniversary_plan_anchors_on_that_day(sub, air50):
    with clock.frozen_at(FEB_10_NOON):
        subscriptions.change_plan(sub, air50, when="period_end", actor="test")
    # Not yet applied: still one calendar segment.
    assert len(subscriptions.plan_timeline(sub)) == 1
    subscriptions.apply_due_changes(datetime(2026, 3, 1, 0, 0, tzinfo=IST))
    sub.refresh_from_db()
    assert sub.anchor_date == MAR
    assert [(s.start, s.end, s.anchor) for s in subscriptions.plan_timeline(sub)] == [
        (date(2026, 1, 15), MAR, date(2026, 1, 15)),
        (MAR, None, MAR),
    ]
    assert subscriptions.period_at(sub, date(2026, 2, 28)) == BillingPeriod(FEB, MAR)
    assert subscriptions.period_at(sub, date(2026, 3, 31)) == BillingPeriod(MAR, date(2026, 4, 1))
    assert subscriptions.period_at(sub, date(2026, 4, 1)) == BillingPeriod(
        date(2026, 4, 1), date(2026, 5, 1)
    )


def test_anniversary_to_anniversary_keeps_the_anchor(asha, air50, gst18):
    air100 = catalog.create_plan(
        code="AIR100",
        name="AirFiber 100",
        terms={
            "price": "799.00",
            "interval": "month",
            "alignment": "anniversary",
            "down_kbps": 100_000,
            "up_kbps": 50_000,
            "tax_category": gst18,
        },
        actor="test",
    )
    with clock.frozen_at(SUBSCRIBED_AT):
        sub = subscriptions.subscribe(
            asha, air50, username="asha", password="s3cret-Pass", actor="test"
        )
    with clock.frozen_at(FEB_10_NOON):
        subscriptions.change_plan(sub, air100, when="now", actor="test")
    sub.refresh_from_db()
    assert sub.anchor_date == date(2026, 1, 15)
    assert [s.anchor for s in subscriptions.plan_timeline(sub)] == [date(2026, 1, 15)] * 2
    assert subscriptions.period_at(sub, date(2026, 2, 10)) == BillingPeriod(
        date(2026, 1, 15), date(2026, 2, 15)
    )


def test_usage_stamped_before_a_reanchoring_change_stays_in_the_old_period(nas, sub, air50):
    """A late packet (stamped 9 Feb) recorded after the move to the anniversary plan on
    10 Feb: it belongs to the period that 9 Feb was in, 1 Feb - 1 Mar."""
    with clock.frozen_at(FEB_10_NOON):
        subscriptions.change_plan(sub, air50, when="now", actor="test")
    record_accounting(
        [rec(nas, Status.STOP, datetime(2026, 2, 9, 20, 0, tzinfo=IST), down=1_000, session_time=0)]
    )
    row = UsagePeriod.objects.get(subscription=sub)
    assert subscriptions.period_at(sub, date(2026, 2, 9)) == BillingPeriod(FEB, MAR)
    assert (row.period_start, row.period_end) == (FEB, MAR)
