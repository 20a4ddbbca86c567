"""Renewal notices for prepaid plans: ``prepaid_expiring`` some days before the validity
ends, ``prepaid_expired`` when it has ended without a renewal.

Each notice is sent once per expiry: the subscription remembers which expiry it was sent
for, so a renewal (which moves the expiry) makes both due again for the new date. The RADIUS
server itself refuses an expired prepaid subscriber (network.auth), whatever this job does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from octet.core import clock
from octet.notifications.services import notify
from octet.subscriptions.lifecycle import State
from octet.subscriptions.models import Subscription

__all__ = ["next_prepaid_notice", "send_prepaid_notices"]


def _lead() -> timedelta:
    return timedelta(days=settings.OCTET_PREPAID_NOTICE_DAYS)


def _pending_expiring():
    return Subscription.objects.filter(
        prepaid_expires_at__isnull=False, state__in=[State.ACTIVE, State.SUSPENDED]
    ).filter(
        Q(prepaid_expiring_notice_for__isnull=True)
        | ~Q(prepaid_expiring_notice_for=F("prepaid_expires_at"))
    )


def _pending_expired():
    return Subscription.objects.filter(
        prepaid_expires_at__isnull=False, state__in=[State.ACTIVE, State.SUSPENDED]
    ).filter(
        Q(prepaid_expired_notice_for__isnull=True)
        | ~Q(prepaid_expired_notice_for=F("prepaid_expires_at"))
    )


def next_prepaid_notice(after: datetime) -> datetime | None:
    """When the next notice is due (the scheduler runs :func:`send_prepaid_notices` then)."""
    times = []
    first = (
        _pending_expiring()
        .order_by("prepaid_expires_at")
        .values_list("prepaid_expires_at", flat=True)
        .first()
    )
    if first is not None:
        times.append(first - _lead())
    first = (
        _pending_expired()
        .order_by("prepaid_expires_at")
        .values_list("prepaid_expires_at", flat=True)
        .first()
    )
    if first is not None:
        times.append(first)
    return min(times) if times else None


def send_prepaid_notices(until: datetime) -> dict[str, int]:
    """Queue every notice due by ``until``; each subscription row is updated once."""
    sent = {"prepaid_expiring": 0, "prepaid_expired": 0}
    now = clock.now()
    for kind, pending, field, due_at in (
        ("prepaid_expired", _pending_expired(), "prepaid_expired_notice_for", until),
        ("prepaid_expiring", _pending_expiring(), "prepaid_expiring_notice_for", until + _lead()),
    ):
        for sub_id in pending.filter(prepaid_expires_at__lte=due_at).values_list("pk", flat=True):
            with transaction.atomic():
                sub = Subscription.objects.select_for_update().get(pk=sub_id)
                expires = sub.prepaid_expires_at
                if expires is None or getattr(sub, field) == expires:
                    continue  # renewed meanwhile, or another worker sent it
                if kind == "prepaid_expiring" and expires <= now:
                    # Already over (the worker was down): the expired notice says it all.
                    setattr(sub, field, expires)
                    sub.save(update_fields=[field])
                    continue
                notify(
                    sub.customer_id,
                    kind,
                    at=now,
                    context={
                        "subscription_id": sub.pk,
                        "username": sub.username,
                        "expires_at": expires.isoformat(),
                    },
                    dedupe_key=f"{kind}:{sub.pk}:{expires.isoformat()}",
                )
                setattr(sub, field, expires)
                sub.save(update_fields=[field])
                sent[kind] += 1
    return sent
