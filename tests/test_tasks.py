"""Scheduled jobs as database-queued tasks (Django's Tasks API, django-tasks-db)."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from octet import jobs, tasks
from octet.billing.models import Invoice
from octet.core import clock
from octet.subscriptions import services as subscriptions

IST = ZoneInfo("Asia/Kolkata")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.set_time(None)


@pytest.fixture
def due_for_billing(fiber100, asha):
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    clock.set_time(at(2026, 2, 1, 0, 5))


def statuses() -> dict[str, str]:
    return {
        row.args_kwargs["args"][0]: row.status
        for row in DBTaskResult.objects.filter(task_path=tasks._RUN_JOB_PATH)
    }


def test_due_jobs_are_queued_once_and_run_by_the_worker(due_for_billing):
    assert "billing" in tasks.enqueue_due(clock.now())
    assert "billing" not in tasks.enqueue_due(clock.now())  # queued already: not twice
    assert statuses()["billing"] == "READY"
    tasks.run_queued("test-worker")
    assert statuses()["billing"] == "SUCCESSFUL"
    assert Invoice.objects.count() == 2  # activation, then 1 Feb
    result = DBTaskResult.objects.get(args_kwargs__args__0="billing")
    assert result.worker_ids == ["test-worker"]
    assert "billing" not in tasks.enqueue_due(clock.now())  # nothing due any more


def test_a_failing_job_is_recorded_and_the_others_still_run(due_for_billing, monkeypatch):
    def broken(moment):
        raise RuntimeError("disk full")

    failing = jobs.ScheduledJob("broken", lambda after: after, broken)
    monkeypatch.setattr(jobs, "JOBS", [failing, *jobs.JOBS])
    queued = tasks.enqueue_due(clock.now())
    assert queued[0] == "broken" and "billing" in queued
    tasks.run_queued("w")
    assert statuses()["broken"] == "FAILED"
    assert statuses()["billing"] == "SUCCESSFUL"
    failed = DBTaskResult.objects.get(args_kwargs__args__0="broken")
    assert "disk full" in str(failed.traceback or failed.exception_class_path or "")


def test_unknown_job_name_fails_the_task_not_the_worker(db):
    tasks.run_job.enqueue("no_such_job", at(2026, 1, 1).isoformat())
    tasks.run_queued("w")
    assert DBTaskResult.objects.get().status == "FAILED"


def test_old_results_are_pruned(due_for_billing):
    tasks.enqueue_due(clock.now())
    tasks.run_queued("w")
    from django.utils import timezone

    finished = DBTaskResult.objects.count()
    assert finished >= 1
    assert tasks.prune_results(timezone.now()) == 0
    assert tasks.prune_results(timezone.now() + tasks.KEEP_RESULTS * 2) == finished
    assert not DBTaskResult.objects.exists()


def test_the_worker_loop_stops_when_told(due_for_billing):
    stop = threading.Event()
    stop.set()
    tasks.work_forever(0.01, stop)  # returns at once
    assert Invoice.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_workers_at_once_run_each_task_once(operator, gst18, fiber100, asha):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL (SQLite serialises whole transactions)")
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    clock.set_time(at(2026, 2, 1, 0, 5))
    tasks.enqueue_due(clock.now())
    errors = []

    def work(n: int) -> None:
        try:
            tasks.run_queued(f"w{n}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = list(DBTaskResult.objects.all())
    assert all(row.status == "SUCCESSFUL" and len(row.worker_ids) == 1 for row in rows)
    assert Invoice.objects.count() == 2
