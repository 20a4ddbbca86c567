"""Which channels a customer is told on, per kind of notification.

Without a stored choice the defaults apply: e-mail for every kind, and SMS too for the
urgent, service-affecting kinds (:data:`~octet.notifications.models.SMS_DEFAULT_KINDS`).
Invoices, credit notes and receipts are legal documents: they are always e-mailed when the
customer has an address, whatever the customer chose. Whether a channel can be used (an
address, a number, an SMS gateway) is decided at delivery, not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import transaction

from octet.core import audit, clock
from octet.core.errors import InvalidInput
from octet.customers.models import Customer
from octet.notifications.models import (
    LEGAL_KINDS,
    SMS_DEFAULT_KINDS,
    Channel,
    Kind,
    NotificationPreference,
)

__all__ = ["ChannelChoice", "default_choice", "get_preferences", "set_preferences", "wanted"]


@dataclass(frozen=True)
class ChannelChoice:
    kind: str
    email: bool
    sms: bool
    email_required: bool  # a legal document: e-mail cannot be turned off
    default: bool  # no stored choice: these are the defaults

    def channels(self) -> list[str]:
        return [c for c, on in ((Channel.EMAIL, self.email), (Channel.SMS, self.sms)) if on]


def default_choice(kind: str) -> ChannelChoice:
    return ChannelChoice(
        kind=kind,
        email=True,
        sms=kind in SMS_DEFAULT_KINDS,
        email_required=kind in LEGAL_KINDS,
        default=True,
    )


def _choice(kind: str, row: NotificationPreference | None) -> ChannelChoice:
    if row is None:
        return default_choice(kind)
    return ChannelChoice(
        kind=kind,
        email=row.email or kind in LEGAL_KINDS,
        sms=row.sms,
        email_required=kind in LEGAL_KINDS,
        default=False,
    )


def get_preferences(customer: Customer) -> dict[str, ChannelChoice]:
    """Every kind with the channels the customer gets it on (stored or default)."""
    rows = {p.kind: p for p in NotificationPreference.objects.filter(customer=customer)}
    return {kind: _choice(kind, rows.get(kind)) for kind in Kind.values}


def wanted(customer_ids: Iterable[int]) -> dict[tuple[int, str], ChannelChoice]:
    """Stored choices of many customers at once, keyed by (customer id, kind); a missing
    key means the defaults (see :func:`default_choice`)."""
    return {
        (p.customer_id, p.kind): _choice(p.kind, p)
        for p in NotificationPreference.objects.filter(customer_id__in=set(customer_ids))
    }


@transaction.atomic
def set_preferences(
    customer: Customer,
    changes: Mapping[str, Mapping[str, bool]],
    *,
    actor: str,
    reason: str = "preferences changed",
) -> dict[str, ChannelChoice]:
    """Change channels per kind, e.g. ``{"usage_80": {"sms": True}}``; returns them all.

    Channels not named keep their current value. Turning e-mail off for an invoice,
    credit note or receipt is refused: they are always e-mailed.
    """
    current = get_preferences(customer)
    for kind, channels in changes.items():
        if kind not in Kind.values:
            raise InvalidInput(f"unknown notification kind {kind!r}", field="kind")
        unknown = set(channels) - set(Channel.values)
        if unknown:
            raise InvalidInput(
                f"unknown channel {sorted(unknown)[0]!r} (use email or sms)", field="channel"
            )
        for channel, on in channels.items():
            if not isinstance(on, bool):
                raise InvalidInput(f"{kind}.{channel} must be true or false", field=channel)
        if kind in LEGAL_KINDS and channels.get(Channel.EMAIL) is False:
            raise InvalidInput(
                "invoices, credit notes and receipts are always e-mailed", field="email"
            )
        choice = current[kind]
        email = channels.get(Channel.EMAIL, choice.email)
        sms = channels.get(Channel.SMS, choice.sms)
        row = NotificationPreference.objects.filter(customer=customer, kind=kind).first()
        before = audit.snapshot(row) if row else None
        row = row or NotificationPreference(customer=customer, kind=kind)
        row.email, row.sms, row.updated_at = email, sms, clock.now()
        row.save()
        audit.record(
            actor=actor,
            action="notification_preference.updated" if before else "notification_preference.set",
            instance=row,
            reason=reason,
            before=before,
        )
    return get_preferences(customer)
