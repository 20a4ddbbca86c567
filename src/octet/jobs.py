"""Scheduled jobs: what runs by itself, and when.

One list for the worker (``octet worker``, also started by ``octet serve``) and for the
scenario simulation, so a scenario exercises exactly what production runs. Each job says
when it next has work (``next_due``) and does all work due by a moment (``run``); every job
is idempotent, so several workers on one PostgreSQL may run the same job at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    next_due: Callable[[datetime], datetime | None]
    run: Callable[[datetime], Any]


def _next_plan_change(after: datetime) -> datetime | None:
    from octet.subscriptions.lifecycle import State
    from octet.subscriptions.models import PlanChange, PlanChangeStatus, Subscription

    change = (
        PlanChange.objects.filter(status=PlanChangeStatus.PENDING)
        .order_by("effective_at")
        .values_list("effective_at", flat=True)
        .first()
    )
    cancel = (
        Subscription.objects.filter(cancel_at__isnull=False)
        .exclude(state=State.TERMINATED)
        .order_by("cancel_at")
        .values_list("cancel_at", flat=True)
        .first()
    )
    due = [t for t in (change, cancel) if t is not None]
    return min(due) if due else None


def _apply_plan_changes(at: datetime) -> Any:
    from octet.subscriptions import services

    return services.apply_due_changes(at)


def _next_restore(after: datetime) -> datetime | None:
    from octet.network import services

    return services.next_restore_due(after)


def _restore(at: datetime) -> Any:
    from octet.network import services

    return services.restore_throttled(at)


def _next_billing(after: datetime) -> datetime | None:
    from octet.billing import services

    return services.next_billing_due(after)


# Set by the process that runs the jobs: 1 inside a multi-threaded server (no fork there).
billing_workers: int | None = None


def _bill(at: datetime) -> Any:
    from django.conf import settings

    from octet.billing import services

    workers = billing_workers or settings.OCTET_BILLING_WORKERS
    return services.run_billing(at, workers=workers)


def _next_auto_pay(after: datetime) -> datetime | None:
    from octet.gateways import services

    return services.next_auto_pay_due(after)


def _auto_pay(at: datetime) -> Any:
    from dataclasses import asdict

    from octet.gateways import services

    return asdict(services.run_auto_pay(at))


def _next_dunning(after: datetime) -> datetime | None:
    from octet.dunning import services

    return services.next_dunning_due(after)


def _dun(at: datetime) -> Any:
    from octet.dunning import services

    return services.run_dunning(at)


def _next_prepaid_notice(after: datetime) -> datetime | None:
    from octet.dunning import prepaid

    return prepaid.next_prepaid_notice(after)


def _prepaid_notices(at: datetime) -> Any:
    from octet.dunning import prepaid

    return prepaid.send_prepaid_notices(at)


def _next_stale_session(after: datetime) -> datetime | None:
    from django.conf import settings

    from octet.network.models import RadiusSession

    oldest = (
        RadiusSession.objects.filter(stopped_at__isnull=True)
        .order_by("updated_at")
        .values_list("updated_at", flat=True)
        .first()
    )
    return None if oldest is None else oldest + timedelta(seconds=settings.RADIUS_STALE_AFTER + 1)


def _close_stale_sessions(at: datetime) -> Any:
    from octet.network import services

    return services.close_stale_sessions(at)


def _next_notification(after: datetime) -> datetime | None:
    from octet.notifications import delivery

    return delivery.next_due(after)


def _deliver_notifications(at: datetime) -> Any:
    from dataclasses import asdict

    from octet.notifications import delivery

    return asdict(delivery.run_pass(at))


# In list order when due at the same moment: plan changes before the bill they affect.
JOBS: list[ScheduledJob] = [
    ScheduledJob("plan_changes", _next_plan_change, _apply_plan_changes),
    ScheduledJob("restore_throttled", _next_restore, _restore),
    ScheduledJob("billing", _next_billing, _bill),
    ScheduledJob("auto_pay", _next_auto_pay, _auto_pay),  # after billing: charges its invoices
    ScheduledJob("dunning", _next_dunning, _dun),  # after auto-pay: it may have paid
    ScheduledJob("prepaid_notices", _next_prepaid_notice, _prepaid_notices),
    ScheduledJob("stale_sessions", _next_stale_session, _close_stale_sessions),
    # Last: sends what the jobs before it queued at the same moment.
    ScheduledJob("notifications", _next_notification, _deliver_notifications),
]


def next_due(
    until: datetime, done: set[tuple[str, datetime]] | frozenset = frozenset()
) -> tuple[datetime, ScheduledJob] | None:
    """The earliest job due at or before ``until`` (ties: list order), or None.

    ``done`` holds (job, time) pairs already run: a job whose work failed stays due at the
    same time, and is left for the next pass rather than retried at once.
    """
    due = [(job.next_due(until), n, job) for n, job in enumerate(JOBS)]
    ready = [
        (t, n, job)
        for t, n, job in due
        if t is not None and t <= until and (job.name, t) not in done
    ]
    if not ready:
        return None
    t, _, job = min(ready, key=lambda item: (item[0], item[1]))
    return t, job


def run_due(until: datetime, *, on_each: Callable[[datetime], None] | None = None) -> int:
    """Run every job due up to ``until``, each at its own time; returns how many ran.

    ``on_each`` is called with the job's time before it runs (the simulation moves its
    clock there). A job that fails is logged and retried at the next pass.
    """
    done: set[tuple[str, datetime]] = set()
    while (item := next_due(until, done)) is not None:
        moment, job = item
        done.add((job.name, moment))
        if on_each is not None:
            on_each(moment)
        job.run(moment if on_each is not None else until)
    return len(done)


def work_forever(
    interval: float = 30.0, stop: threading.Event | None = None, *, in_thread: bool = False
) -> None:
    """The worker loop, on Django's Tasks API (see :mod:`octet.tasks`)."""
    from octet import tasks

    tasks.work_forever(interval, stop, in_thread=in_thread)
