"""Queueing notifications. Delivery (e-mail, SMS) reads this outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from octet.core import clock
from octet.notifications.models import Channel, Notification


def notify(
    customer_id: int,
    kind: str,
    *,
    context: dict[str, Any] | None = None,
    at: datetime | None = None,
    dedupe_key: str | None = None,
    channel: str = Channel.EMAIL,
) -> Notification | None:
    """Queue a notification in the caller's transaction; None if the dedupe key was used."""
    try:
        with transaction.atomic():
            return Notification.objects.create(
                customer_id=customer_id,
                kind=kind,
                channel=channel,
                at=at or clock.now(),
                context=context or {},
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        if dedupe_key and Notification.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        raise
