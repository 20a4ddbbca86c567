"""Recording every change to customers, plans, subscriptions and money."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import models

from octet.core import clock
from octet.core.models import AuditEntry

# Never copied into the audit log: the log is read by many staff.
SECRET_FIELDS = frozenset({"password", "password_encrypted", "secret", "shared_secret"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).isoformat()  # one zone in the log, whatever the caller
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The instance's own fields as JSON-safe values, secrets left out."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in SECRET_FIELDS:
            continue
        data[field.attname] = _plain(getattr(instance, field.attname))
    return data


def entry(
    *,
    actor: str,
    action: str,
    instance: models.Model,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """An unsaved audit entry, for writers that save many at once (``bulk_create``)."""
    if after is None:
        after = snapshot(instance)
    if before is not None:
        # Keep only what changed so the history stays readable.
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        before = {k: before.get(k) for k in sorted(changed)}
        after = {k: after.get(k) for k in sorted(changed)}
    return AuditEntry(
        at=clock.now(),
        actor=actor or "system",
        action=action,
        entity=instance._meta.label_lower,
        entity_id=str(instance.pk),
        reason=reason,
        before=before,
        after=_plain(after),
    )


def record(
    *,
    actor: str,
    action: str,
    instance: models.Model,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit entry; call inside the transaction that makes the change."""
    item = entry(
        actor=actor, action=action, instance=instance, reason=reason, before=before, after=after
    )
    item.save()
    return item


def history(instance: models.Model) -> models.QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(entity=instance._meta.label_lower, entity_id=str(instance.pk))
