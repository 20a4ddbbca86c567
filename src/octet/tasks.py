"""Scheduled jobs as tasks of Django's Tasks API (the django-tasks backport on Django 5.2)
with its database backend (django-tasks-db).

The scheduler (:func:`enqueue_due`) asks each job of :data:`octet.jobs.JOBS` when it next
has work and enqueues a :func:`run_job` task for every job due; workers take tasks from the
database queue with ``SELECT … FOR UPDATE SKIP LOCKED``, so any number of ``octet worker``
processes, on any number of machines sharing one PostgreSQL, split the work. A job that is
already queued or running is not queued again; since every job is idempotent, the rare
duplicate two schedulers enqueue at the same instant only finds nothing left to do.
Results (and failures, with their traceback) stay in the task table for staff
(admin: Django Tasks DB) and are pruned after a week.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from octet import jobs
from octet.core import clock

log = logging.getLogger(__name__)

KEEP_RESULTS = timedelta(days=7)


def _json(value: Any) -> Any:
    """Job results as JSON (counts, dicts); anything else by its repr."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return repr(value)


@task()
def run_job(name: str, at: str) -> Any:
    """Run one scheduled job for everything due by ``at`` (ISO time)."""
    job = next((j for j in jobs.JOBS if j.name == name), None)
    if job is None:
        raise ValueError(f"no scheduled job named {name!r}")
    return _json(job.run(datetime.fromisoformat(at)))


_RUN_JOB_PATH = f"{run_job.func.__module__}.{run_job.func.__qualname__}"


def _queued_or_running() -> set[str]:
    rows = DBTaskResult.objects.filter(
        task_path=_RUN_JOB_PATH, status__in=["READY", "RUNNING"]
    ).values_list("args_kwargs", flat=True)
    return {row["args"][0] for row in rows if row.get("args")}


def enqueue_due(now: datetime) -> list[str]:
    """Queue a task for every job due by ``now`` that is not queued or running already."""
    busy = _queued_or_running()
    queued = []
    for job in jobs.JOBS:
        if job.name in busy:
            continue
        try:
            due = job.next_due(now)
        except Exception:  # one job's broken query must not stop the others' scheduling
            log.exception("could not tell when job %s is due", job.name)
            continue
        if due is not None and due <= now:
            run_job.enqueue(job.name, now.isoformat())
            queued.append(job.name)
    return queued


def prune_results(now: datetime) -> int:
    """Forget finished task results older than a week (failures included)."""
    deleted, _ = DBTaskResult.objects.filter(
        status__in=["SUCCESSFUL", "FAILED"], finished_at__lt=now - KEEP_RESULTS
    ).delete()
    return deleted


def run_queued(worker_id: str) -> int:
    """Run queued tasks until none is ready; return how many ran.

    django-tasks-db's own claim (an exclusive transaction on SQLite, SKIP LOCKED on
    PostgreSQL) and its run_task (result or traceback stored); not its Worker.run loop,
    which closes the database connection between tasks and so cannot run inside a thread
    that shares a transaction (tests) or a connection (octet serve).
    """
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.utils import exclusive_transaction

    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    ran = 0
    while True:
        with exclusive_transaction(DBTaskResult.objects.db):
            result = (
                DBTaskResult.objects.ready()
                .filter(backend_name="default", queue_name="default")
                .order_by("-priority", "enqueued_at")
                .get_locked()
            )
            if result is None:
                return ran
            result.claim(worker_id)
        worker.run_task(result)
        ran += 1


def work_forever(
    interval: float = 30.0, stop: threading.Event | None = None, *, in_thread: bool = False
) -> None:
    """The worker: schedule what is due, run queued tasks, sleep, repeat.

    ``in_thread``: the loop runs beside other threads (octet serve), where forking worker
    processes is unsafe, so billing runs in this process.
    """
    if in_thread:
        jobs.billing_workers = 1
    stop = stop or threading.Event()
    worker_id = f"octet-{uuid.uuid4().hex[:12]}"
    log.info(
        "worker %s started: jobs %s every %.0f s",
        worker_id,
        ", ".join(j.name for j in jobs.JOBS),
        interval,
    )
    last_prune = None
    while not stop.is_set():
        try:
            now = clock.now()
            enqueue_due(now)
            run_queued(worker_id)
            if last_prune is None or timezone.now() - last_prune > timedelta(hours=1):
                prune_results(timezone.now())
                last_prune = timezone.now()
        except Exception:
            log.exception("worker pass failed; retrying in %.0f s", interval)
        stop.wait(interval)
