"""Subscription use cases: activation, credentials, transitions, plan changes, cancellation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import AuditEntry
from octet.subscriptions import services
from octet.subscriptions.models import PlanChange, StateChange, Subscription

IST = ZoneInfo("Asia/Kolkata")
PASSWORD = "s3cret-Pass"
SUBSCRIBED_AT = datetime(2026, 1, 15, 9, 0, tzinfo=IST)
FEB_10_NOON = datetime(2026, 2, 10, 12, 0, tzinfo=IST)
MARCH_1 = datetime(2026, 3, 1, 0, 0, tzinfo=IST)


@pytest.fixture
def ravi(operator):
    from octet.customers.services import create_customer

    return create_customer(
        {"name": "Ravi Kumar", "phone": "9900011223", "state_code": "29"}, actor="test"
    )


@pytest.fixture
def sub(asha, fiber100):
    with clock.frozen_at(SUBSCRIBED_AT):
        return services.subscribe(asha, fiber100, username="asha", password=PASSWORD, actor="ops")


def _counts():
    return (
        Subscription.objects.count(),
        StateChange.objects.count(),
        AuditEntry.objects.count(),
        PlanChange.objects.count(),
    )


def _history(subscription):
    return list(
        StateChange.objects.filter(subscription=subscription).values_list(
            "from_state", "to_state", "reason", "actor"
        )
    )


def _audit_json():
    return json.dumps(list(AuditEntry.objects.values("before", "after", "reason")))


# -- subscribe ---------------------------------------------------------------------------


def test_subscribe_activates_with_history_and_audit(sub, fiber100):
    sub.refresh_from_db()
    assert sub.state == "active"
    assert sub.plan_version == fiber100.current_version
    assert sub.activated_at == SUBSCRIBED_AT
    assert sub.anchor_date.isoformat() == "2026-01-15"
    assert _history(sub) == [
        ("", "pending", "ordered", "ops"),
        ("pending", "active", "subscribed", "ops"),
    ]
    assert StateChange.objects.filter(subscription=sub).last().at == SUBSCRIBED_AT
    entries = AuditEntry.objects.filter(entity="subscriptions.subscription", entity_id=str(sub.pk))
    assert sorted(entries.values_list("action", "actor", "reason")) == [
        ("subscription.active", "ops", "subscribed"),
        ("subscription.created", "ops", "subscribed"),
    ]
    activation = entries.get(action="subscription.active")
    assert activation.before["state"] == "pending"
    assert activation.after["state"] == "active"


def test_subscribe_without_activation_stays_pending(asha, fiber100):
    sub = services.subscribe(
        asha, fiber100, username="asha", password=PASSWORD, actor="ops", activate=False
    )
    assert sub.state == "pending"
    assert sub.activated_at is None
    assert _history(sub) == [("", "pending", "ordered", "ops")]


def test_password_is_encrypted_and_never_audited(sub):
    sub = Subscription.objects.get(pk=sub.pk)
    assert sub.password_encrypted
    assert sub.password_encrypted != PASSWORD
    assert PASSWORD not in sub.password_encrypted
    assert sub.radius_password() == PASSWORD
    dumped = _audit_json()
    assert AuditEntry.objects.count() >= 2
    assert PASSWORD not in dumped
    assert sub.password_encrypted not in dumped
    assert "password_encrypted" not in dumped


@pytest.mark.parametrize(
    ("username", "password"),
    [("bad name", PASSWORD), ("-asha", PASSWORD), ("asha", "short"), ("asha", "with space")],
)
def test_bad_credentials_are_refused(asha, fiber100, username, password):
    before = _counts()
    with pytest.raises(InvalidInput):
        services.subscribe(asha, fiber100, username=username, password=password, actor="ops")
    assert _counts() == before


def test_taken_username_is_a_conflict_and_changes_nothing(sub, ravi, fiber300):
    before = _counts()
    with pytest.raises(Conflict) as info:
        services.subscribe(ravi, fiber300, username="asha", password="0ther-Pass", actor="ops")
    assert info.value.field == "username"
    assert _counts() == before
    assert not Subscription.objects.filter(customer=ravi).exists()


def test_username_is_free_again_after_termination(sub, ravi, fiber100):
    services.terminate(sub, actor="ops", reason="moved away")
    again = services.subscribe(ravi, fiber100, username="asha", password="0ther-Pass", actor="ops")
    assert again.state == "active"
    assert again.customer == ravi
    assert Subscription.objects.filter(username="asha").count() == 2
    assert Subscription.objects.get(pk=sub.pk).state == "terminated"
    # ...but only once: the new holder is live.
    with pytest.raises(Conflict):
        services.subscribe(ravi, fiber100, username="asha", password="0ther-Pass", actor="ops")


# -- transitions ---------------------------------------------------------------------------


def test_suspend_and_reconnect(sub):
    at = SUBSCRIBED_AT + timedelta(days=20)
    with clock.frozen_at(at):
        services.suspend(sub, reason="non_payment", actor="billing", note="invoice 1 unpaid")
    sub.refresh_from_db()
    assert sub.state == "suspended"
    assert sub.suspend_reason == "non_payment"
    services.reconnect(sub, actor="billing")
    sub.refresh_from_db()
    assert sub.state == "active"
    assert sub.suspend_reason == ""
    assert _history(sub)[2:] == [
        ("active", "suspended", "non_payment", "billing"),
        ("suspended", "active", "reconnected", "billing"),
    ]
    entry = AuditEntry.objects.get(action="subscription.suspended")
    assert entry.reason == "non_payment: invoice 1 unpaid"
    assert entry.at == at


def _assert_refused(sub, fn, **kwargs):
    before = _counts()
    state = Subscription.objects.get(pk=sub.pk).state
    with pytest.raises(Conflict) as info:
        fn(sub, **kwargs)
    assert info.value.field == "state"
    assert _counts() == before
    assert Subscription.objects.get(pk=sub.pk).state == state
    return info.value


def test_reconnecting_an_active_subscription_is_refused(sub):
    err = _assert_refused(sub, services.reconnect, actor="ops")
    assert "already active" in str(err)


def test_suspending_a_pending_subscription_is_refused(asha, fiber100):
    sub = services.subscribe(
        asha, fiber100, username="asha", password=PASSWORD, actor="ops", activate=False
    )
    _assert_refused(sub, services.suspend, reason="staff", actor="ops")


@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [
        (services.activate, {}),
        (services.reconnect, {}),
        (services.suspend, {"reason": "staff"}),
        (services.terminate, {}),
        (services.cancel, {"when": "period_end"}),
        (services.cancel, {"when": "now"}),
    ],
)
def test_nothing_leaves_terminated(sub, fn, kwargs):
    services.terminate(sub, actor="ops")
    _assert_refused(sub, fn, actor="ops", **kwargs)


def test_no_plan_change_once_terminated(sub, fiber300):
    services.terminate(sub, actor="ops")
    _assert_refused(sub, services.change_plan, plan=fiber300, when="now", actor="ops")


def test_suspend_needs_a_known_reason(sub):
    before = _counts()
    with pytest.raises(InvalidInput, match="unknown suspension reason"):
        services.suspend(sub, reason="bored", actor="ops")
    assert _counts() == before
    assert Subscription.objects.get(pk=sub.pk).state == "active"


# -- plan changes ----------------------------------------------------------------------------


def test_change_plan_now_switches_at_once(sub, fiber100, fiber300):
    with clock.frozen_at(FEB_10_NOON):
        change = services.change_plan(sub, fiber300, when="now", actor="ops", reason="upgrade")
    sub.refresh_from_db()
    assert sub.plan_version == fiber300.current_version
    change.refresh_from_db()
    assert change.status == "applied"
    assert change.when == "now"
    assert change.from_version == fiber100.current_version
    assert change.to_version == fiber300.current_version
    assert change.effective_at == FEB_10_NOON
    assert change.requested_at == FEB_10_NOON
    entry = AuditEntry.objects.get(action="subscription.plan_changed")
    assert entry.before == {"plan_version_id": fiber100.current_version.pk}
    assert entry.after == {"plan_version_id": fiber300.current_version.pk}
    # Nothing is left to apply later.
    assert services.apply_due_changes(MARCH_1 + timedelta(days=40)) == 0


def test_change_to_the_same_plan_is_a_conflict(sub, fiber100):
    before = _counts()
    with pytest.raises(Conflict):
        services.change_plan(sub, fiber100, when="now", actor="ops")
    assert _counts() == before


def test_change_plan_needs_a_known_when(sub, fiber300):
    with pytest.raises(InvalidInput) as info:
        services.change_plan(sub, fiber300, when="tomorrow", actor="ops")
    assert info.value.field == "when"


def test_change_plan_at_period_end_waits_for_local_midnight_of_next_month(sub, fiber100, fiber300):
    with clock.frozen_at(FEB_10_NOON):
        change = services.change_plan(sub, fiber300, when="period_end", actor="ops")
    change.refresh_from_db()
    assert change.status == "pending"
    assert change.when == "period_end"
    assert change.effective_at == MARCH_1
    assert change.effective_at.astimezone(IST).isoformat() == "2026-03-01T00:00:00+05:30"
    sub.refresh_from_db()
    assert sub.plan_version == fiber100.current_version

    # One microsecond before local midnight: not yet.
    assert services.apply_due_changes(MARCH_1 - timedelta(microseconds=1)) == 0
    with clock.frozen_at(datetime(2026, 2, 28, 23, 59, 59, tzinfo=IST)):
        assert services.apply_due_changes() == 0
    sub.refresh_from_db()
    assert sub.plan_version == fiber100.current_version
    assert PlanChange.objects.get(pk=change.pk).status == "pending"

    with clock.frozen_at(MARCH_1):
        assert services.apply_due_changes() == 1
    sub.refresh_from_db()
    assert sub.plan_version == fiber300.current_version
    assert PlanChange.objects.get(pk=change.pk).status == "applied"
    assert sub.state == "active"

    # Idempotent: running again (later, or at the same time) does nothing more.
    audit_count = AuditEntry.objects.count()
    assert services.apply_due_changes(MARCH_1) == 0
    assert services.apply_due_changes(MARCH_1 + timedelta(days=3)) == 0
    assert AuditEntry.objects.count() == audit_count


def test_period_end_in_utc_terms(sub, fiber300):
    # 1 Mar 00:00 in Kolkata is 28 Feb 18:30 UTC: the boundary is local, not UTC, midnight.
    with clock.frozen_at(datetime(2026, 2, 28, 20, 0, tzinfo=ZoneInfo("UTC"))):
        # 1 Mar 01:30 local: already the March period, so its end is 1 Apr.
        change = services.change_plan(sub, fiber300, when="period_end", actor="ops")
    assert change.effective_at == datetime(2026, 4, 1, 0, 0, tzinfo=IST)


def test_a_newer_plan_change_replaces_a_pending_one(sub, fiber100, fiber300):
    with clock.frozen_at(FEB_10_NOON):
        first = services.change_plan(sub, fiber300, when="period_end", actor="ops")
        services.change_plan(sub, fiber300, when="now", actor="ops")
    assert PlanChange.objects.get(pk=first.pk).status == "cancelled"
    assert services.apply_due_changes(MARCH_1) == 0


def test_cancel_at_period_end_then_apply_due_changes_terminates(sub):
    with clock.frozen_at(FEB_10_NOON):
        services.cancel(sub, when="period_end", actor="ops", reason="moving away")
    sub.refresh_from_db()
    assert sub.cancel_at == MARCH_1
    assert sub.state == "active"
    assert AuditEntry.objects.filter(action="subscription.cancel_scheduled").count() == 1

    assert services.apply_due_changes(MARCH_1 - timedelta(microseconds=1)) == 0
    assert Subscription.objects.get(pk=sub.pk).state == "active"

    with clock.frozen_at(MARCH_1):
        assert services.apply_due_changes() == 1
    sub.refresh_from_db()
    assert sub.state == "terminated"
    assert sub.terminated_at == MARCH_1
    assert _history(sub)[-1] == ("active", "terminated", "cancelled", "scheduler")
    assert StateChange.objects.filter(subscription=sub).last().at == MARCH_1

    counts = _counts()
    assert services.apply_due_changes(MARCH_1 + timedelta(days=1)) == 0
    assert _counts() == counts


def test_termination_cancels_a_pending_plan_change(sub, fiber300):
    with clock.frozen_at(FEB_10_NOON):
        change = services.change_plan(sub, fiber300, when="period_end", actor="ops")
        services.cancel(sub, when="now", actor="ops")
    assert PlanChange.objects.get(pk=change.pk).status == "cancelled"
    assert services.apply_due_changes(MARCH_1) == 0


# -- credentials -----------------------------------------------------------------------------


def test_set_radius_password_audits_the_fact_not_the_password(sub):
    new_password = "N3w-secret!"
    services.set_radius_password(sub, new_password, actor="support", reason="forgot it")
    sub = Subscription.objects.get(pk=sub.pk)
    assert sub.radius_password() == new_password
    entry = AuditEntry.objects.get(action="subscription.password_reset")
    assert entry.actor == "support"
    assert entry.reason == "forgot it"
    assert entry.after == {"password": "changed"}
    assert entry.before == {"password": None}
    dumped = _audit_json()
    assert new_password not in dumped
    assert PASSWORD not in dumped
    assert sub.password_encrypted not in dumped


def test_weak_radius_password_is_refused(sub):
    before = _counts()
    with pytest.raises(InvalidInput) as info:
        services.set_radius_password(sub, "abc", actor="support")
    assert info.value.field == "password"
    assert _counts() == before
    assert Subscription.objects.get(pk=sub.pk).radius_password() == PASSWORD
