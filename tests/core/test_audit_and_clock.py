"""The audit log's snapshots, the simulated clock and gapless sequences."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from octet.core import audit, clock, sequences
from octet.core.models import AuditEntry, Sequence

IST = ZoneInfo("Asia/Kolkata")


# -- audit -----------------------------------------------------------------------------------


def test_snapshot_leaves_out_secret_fields(asha, fiber100):
    from octet.subscriptions.services import subscribe

    sub = subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="test")
    data = audit.snapshot(sub)
    assert "password_encrypted" not in data
    assert sub.password_encrypted not in str(data)
    assert data["username"] == "asha"
    assert data["customer_id"] == asha.pk
    assert data["state"] == "active"


def test_snapshot_of_a_staff_user_leaves_out_the_password_hash(django_user_model, db):
    user = django_user_model.objects.create_user("meera", password="Corr3ct-horse-battery")
    data = audit.snapshot(user)
    assert "password" not in data
    assert user.password not in str(data)
    assert data["username"] == "meera"


def test_snapshot_is_json_safe(fiber100):
    version = fiber100.current_version
    data = audit.snapshot(version)
    assert data["price"] == "999.00"
    assert data["overage_price_per_gb"] == "10.00"
    assert isinstance(data["created_at"], str)
    assert datetime.fromisoformat(data["created_at"]) == version.created_at
    assert data["plan_id"] == fiber100.pk


def test_record_keeps_only_changed_fields_and_the_clock_time(operator):
    at = datetime(2026, 1, 15, 9, 0, tzinfo=IST)
    before = audit.snapshot(operator)
    operator.name = "Kaveri Fibernet Pvt Ltd"
    operator.save()
    with clock.frozen_at(at):
        entry = audit.record(
            actor="", action="operator.updated", instance=operator, reason="rename", before=before
        )
    entry.refresh_from_db()
    assert entry.actor == "system"
    assert entry.at == at
    assert entry.entity == "core.operator"
    assert entry.entity_id == "1"
    assert entry.before == {"name": "Kaveri Fibernet"}
    assert entry.after == {"name": "Kaveri Fibernet Pvt Ltd"}
    assert list(audit.history(operator)) == [entry]


def test_record_never_copies_secrets_even_when_asked_for_a_full_snapshot(asha, fiber100):
    from octet.subscriptions.services import subscribe

    sub = subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="test")
    entry = audit.record(actor="test", action="subscription.viewed", instance=sub)
    assert "password_encrypted" not in entry.after
    assert AuditEntry.objects.filter(after__has_key="password_encrypted").count() == 0


# -- clock -----------------------------------------------------------------------------------


def test_frozen_at_fixes_now_and_restores_the_real_clock():
    moment = datetime(2026, 2, 10, 12, 0, tzinfo=IST)
    with clock.frozen_at(moment):
        assert clock.now() == moment
        assert clock.now() == clock.now()
        inner = datetime(2026, 3, 1, tzinfo=UTC)
        with clock.frozen_at(inner):
            assert clock.now() == inner
        assert clock.now() == moment
    real = clock.now()
    assert real.tzinfo is not None
    assert abs((real - datetime.now(UTC)).total_seconds()) < 60


def test_frozen_at_restores_the_clock_after_an_error():
    moment = datetime(2026, 2, 10, 12, 0, tzinfo=IST)
    with pytest.raises(RuntimeError), clock.frozen_at(moment):
        raise RuntimeError("boom")
    assert clock.now() != moment


def test_frozen_at_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="aware"), clock.frozen_at(datetime(2026, 2, 10, 12, 0)):
        pytest.fail("the block must not run")


def test_set_time_refuses_a_naive_datetime_and_none_returns_to_the_real_clock():
    with pytest.raises(ValueError, match="aware"):
        clock.set_time(datetime(2026, 2, 10, 12, 0))
    moment = datetime(2026, 2, 10, 12, 0, tzinfo=IST)
    try:
        clock.set_time(moment)
        assert clock.now() == moment
    finally:
        clock.set_time(None)
    assert clock.now() != moment


# -- sequences -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_next_value_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="transaction"):
        sequences.next_value("invoice")
    assert not Sequence.objects.filter(name="invoice").exists()


@pytest.mark.django_db(transaction=True)
def test_next_value_counts_up_per_name_and_a_rollback_leaves_no_gap():
    with transaction.atomic():
        assert [sequences.next_value("invoice") for _ in range(3)] == [1, 2, 3]
        assert sequences.next_value("credit_note") == 1
    with transaction.atomic():
        assert sequences.next_value("invoice") == 4

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        assert sequences.next_value("invoice") == 5
        raise Abort
    with transaction.atomic():
        assert sequences.next_value("invoice") == 5
    assert Sequence.objects.get(name="invoice").last_value == 5
    assert Sequence.objects.get(name="credit_note").last_value == 1
