"""Delivering the outbox: one delivery per channel, claimed, sent, logged and retried.

:func:`deliver_due` is the scheduled job's work (``notifications`` in :mod:`octet.jobs`):

1. **Plan.** Each pending notification that is due and has no delivery yet gets one
   :class:`~octet.notifications.models.NotificationDelivery` per channel the customer's
   preferences ask for. A channel that cannot be used (no address, no number, no SMS
   gateway, every channel turned off) gets a ``skipped`` delivery with the reason, so the
   log always says why a customer heard nothing. The unique (notification, channel) pair
   makes planning safe for several workers at once. On a simulated clock (``octet
   simulate``, the demo's catch-up) every notification is skipped: nothing is rendered or
   sent for events replayed in the past.
2. **Claim.** Pending deliveries due by ``now`` are marked ``sending`` (attempts + 1) in a
   short transaction; on PostgreSQL the rows are picked with ``SELECT ... FOR UPDATE SKIP
   LOCKED``, so two workers never claim the same row. SQLite runs one writer at a time
   (``BEGIN IMMEDIATE``), which gives the same guarantee.
3. **Send,** outside any transaction (an SMTP or HTTP call may take seconds), then record
   ``sent`` or the failure. A failure is retried after each of :data:`RETRY_DELAYS` and
   then ``failed`` for good; a refusal that cannot change (no such mailbox, an invalid
   number, a broken template) fails at once. Staff can "retry now" from the admin.

**At least once.** A delivery still ``sending`` :data:`SENDING_LEASE` after its claim was
interrupted (the worker died between the provider taking it and our write): it may or may
not have gone out. It is retried like a failure, with "interrupted" in its log, so a crash
can cause one duplicate message but never a silent loss; the log says which deliveries
this happened to. (For invoices and payment reminders a lost message costs more than a
repeated one.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Min

from octet.core import audit, clock
from octet.customers.models import Customer
from octet.notifications import mail, rendering, sms
from octet.notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationDelivery,
    Status,
)
from octet.notifications.preferences import default_choice, wanted

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_ATTEMPTS",
    "RETRY_DELAYS",
    "SENDING_LEASE",
    "DeliveryReport",
    "deliver_due",
    "next_due",
    "plan_deliveries",
    "retry_now",
    "run_pass",
]

log = logging.getLogger(__name__)

# Wait after the 1st, 2nd, ... failed attempt; after the last one the delivery has failed.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Longer than any one send can take (SMTP and HTTP time out after 30 s).
SENDING_LEASE = timedelta(minutes=15)
DEFAULT_LIMIT = 50
# One job pass sends at most this many, so other jobs get their turn after a big billing run.
MAX_PER_PASS = 1000
_ERROR_LENGTH = 500

INTERRUPTED = "interrupted while sending (worker stopped?); it may have gone out already"
SIMULATED = "written on a simulated clock (octet simulate, octet demo): not sent"


@dataclass
class DeliveryReport:
    planned: int = 0  # deliveries created (pending or skipped)
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    claimed: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class _Outcome:
    status: str  # sent, skipped or failed
    to: str = ""
    provider_message_id: str = ""
    error: str = ""
    permanent: bool = False


# -- planning ---------------------------------------------------------------------------


def _sms_state() -> tuple[bool, str]:
    try:
        gateway = sms.gateway()
    except sms.SmsError:
        return True, ""  # misconfigured: planned, and each attempt reports the error
    return gateway.enabled, gateway.disabled_reason


def _skipped(notification: Notification, reason: str, now: datetime) -> NotificationDelivery:
    return NotificationDelivery(
        notification=notification,
        channel=Channel.EMAIL,
        status=DeliveryStatus.SKIPPED,
        last_error=reason,
        created_at=now,
    )


def _deliveries_for(
    notification: Notification,
    customer: Customer,
    channels: list[str],
    sms_state: tuple[bool, str],
    now: datetime,
) -> list[NotificationDelivery]:
    def row(channel: str, to: str = "", reason: str = "") -> NotificationDelivery:
        return NotificationDelivery(
            notification=notification,
            channel=channel,
            to=to,
            status=DeliveryStatus.SKIPPED if reason else DeliveryStatus.PENDING,
            next_attempt_at=None if reason else now,
            last_error=reason,
            created_at=now,
        )

    if not channels:
        off = f"the customer turned off every channel for {notification.kind}"
        return [_skipped(notification, off, now)]
    rows = []
    if Channel.EMAIL in channels:
        email = customer.email.strip()
        rows.append(row(Channel.EMAIL, email, "" if email else "the customer has no e-mail"))
    if Channel.SMS in channels:
        phone = customer.phone.strip()
        enabled, why = sms_state
        if not phone:
            rows.append(row(Channel.SMS, reason="the customer has no phone number"))
        elif not enabled:
            rows.append(row(Channel.SMS, phone, why))
        else:
            rows.append(row(Channel.SMS, phone))
    return rows


def plan_deliveries(now: datetime, *, limit: int = DEFAULT_LIMIT) -> DeliveryReport:
    """Create the deliveries of up to ``limit`` due notifications that have none yet."""
    notes = list(
        Notification.objects.filter(status=Status.PENDING, at__lte=now, deliveries__isnull=True)
        .select_related("customer")
        .order_by("at", "id")[:limit]
    )
    if not notes:
        return DeliveryReport()
    stored = wanted(n.customer_id for n in notes)
    sms_state = _sms_state()
    simulated = clock.is_simulated()
    rows = []
    for n in notes:
        if simulated:
            # `octet simulate` and the demo's catch-up replay months of events: their
            # customers are not real and their news is old, so nothing is rendered or sent.
            rows.append(_skipped(n, SIMULATED, now))
            continue
        choice = stored.get((n.customer_id, n.kind)) or default_choice(n.kind)
        rows += _deliveries_for(n, n.customer, choice.channels(), sms_state, now)
    skips = {r.notification.pk for r in rows if r.status == DeliveryStatus.SKIPPED}
    with transaction.atomic():
        # Another worker may have planned the same notification: its rows stand.
        NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        _summarise(skips)  # only pending rows: the notification is pending as it was
    skipped = sum(1 for r in rows if r.status == DeliveryStatus.SKIPPED)
    return DeliveryReport(planned=len(rows), skipped=skipped)


# -- claiming and recording ---------------------------------------------------------------


def _claim(now: datetime, limit: int) -> list[NotificationDelivery]:
    with transaction.atomic():
        due = NotificationDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            # Rows another worker is claiming are passed over, not waited for.
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        NotificationDelivery.objects.filter(id__in=ids, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return list(
        NotificationDelivery.objects.filter(id__in=ids, status=DeliveryStatus.SENDING)
        .select_related("notification__customer")
        .order_by("next_attempt_at", "id")
    )


def _apply_failure(delivery: NotificationDelivery, error: str, permanent: bool, now: datetime):
    delivery.last_error = error[:_ERROR_LENGTH]
    if permanent or delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + RETRY_DELAYS[max(delivery.attempts, 1) - 1]


def _record(delivery: NotificationDelivery, outcome: _Outcome, now: datetime) -> str:
    """Write the result of one attempt; returns the delivery's new status."""
    with transaction.atomic():
        row = (
            NotificationDelivery.objects.select_for_update()
            .filter(pk=delivery.pk, status=DeliveryStatus.SENDING, attempts=delivery.attempts)
            .first()
        )
        if row is None:
            # Taken back as interrupted meanwhile (a send longer than the lease).
            log.warning("delivery %s was reclaimed while it was being sent", delivery.pk)
            return DeliveryStatus.SENDING
        row.to = outcome.to or row.to
        row.claimed_at = None
        if outcome.status == DeliveryStatus.SENT:
            row.status = DeliveryStatus.SENT
            row.sent_at = now
            row.next_attempt_at = None
            row.provider_message_id = outcome.provider_message_id[:200]
            row.last_error = ""
        elif outcome.status == DeliveryStatus.SKIPPED:
            row.status = DeliveryStatus.SKIPPED
            row.next_attempt_at = None
            row.last_error = outcome.error[:_ERROR_LENGTH]
        else:
            _apply_failure(row, outcome.error, outcome.permanent, now)
        row.save()
        _summarise([row.notification_id])
    return row.status


def _reclaim_interrupted(now: datetime) -> int:
    """Deliveries left 'sending' past the lease: count the attempt as failed (see module
    docstring: at least once)."""
    with transaction.atomic():
        stale = NotificationDelivery.objects.filter(
            status=DeliveryStatus.SENDING, claimed_at__lte=now - SENDING_LEASE
        )
        if connection.features.has_select_for_update_skip_locked:
            stale = stale.select_for_update(skip_locked=True)
        rows = list(stale[:DEFAULT_LIMIT])
        for row in rows:
            log.warning("delivery %s: %s", row.pk, INTERRUPTED)
            row.claimed_at = None
            _apply_failure(row, INTERRUPTED, False, now)
            row.save()
        _summarise({row.notification_id for row in rows})
    return len(rows)


def _summarise(notification_ids) -> None:
    """Notification.status from its deliveries: failed if one failed for good, pending
    while one is pending or sending, sent when all are sent or skipped (at least one sent),
    skipped when none could be sent."""
    ids = list(notification_ids)
    if not ids:
        return
    by_notification: dict[int, list[tuple[str, str, int, str]]] = {}
    for nid, channel, status, attempts, error in NotificationDelivery.objects.filter(
        notification_id__in=ids
    ).values_list("notification_id", "channel", "status", "attempts", "last_error"):
        by_notification.setdefault(nid, []).append((channel, status, attempts, error))
    for nid, rows in by_notification.items():
        statuses = {status for _, status, _, _ in rows}
        if DeliveryStatus.FAILED in statuses:
            status = Status.FAILED
        elif statuses & {DeliveryStatus.PENDING, DeliveryStatus.SENDING}:
            status = Status.PENDING
        elif DeliveryStatus.SENT in statuses:
            status = Status.SENT
        else:
            status = Status.SKIPPED
        errors = [f"{channel}: {error}" for channel, s, _, error in rows if error and s != "sent"]
        Notification.objects.filter(pk=nid).update(
            status=status,
            attempts=sum(attempts for _, _, attempts, _ in rows),
            last_error="; ".join(errors)[:1000],
        )


# -- sending ------------------------------------------------------------------------------


class _Sender:
    """One SMTP connection and one SMS gateway for a batch, opened when first needed."""

    def __init__(self) -> None:
        self._mail = None
        self._mail_down: Exception | None = None
        self._sms: sms.SmsGateway | None = None

    def email(self, message) -> None:
        from django.core.mail import get_connection

        if self._mail is None:
            if self._mail_down is not None:
                # The server could not be reached (or refused the login) a moment ago: the
                # rest of the batch fails the same way at once instead of each waiting for
                # its own timeout, and is retried later.
                raise self._mail_down
            connection = get_connection(fail_silently=False)
            try:
                connection.open()
            except Exception as exc:
                self._mail_down = exc
                raise
            self._mail = connection
        try:
            self._mail.send_messages([message])
        except Exception:
            self.close()  # the session may be unusable: the next message opens a new one
            raise

    def sms(self) -> sms.SmsGateway:
        if self._sms is None:
            self._sms = sms.gateway()
        return self._sms

    def close(self) -> None:
        if self._mail is not None:
            try:
                self._mail.close()
            except Exception:  # noqa: BLE001 - closing a broken session
                log.debug("closing the mail connection failed", exc_info=True)
            self._mail = None


def _send_email(delivery: NotificationDelivery, sender: _Sender) -> _Outcome:
    notification = delivery.notification
    to = notification.customer.email.strip()  # today's address: staff may have fixed it
    if not to:
        return _Outcome(DeliveryStatus.SKIPPED, error="the customer has no e-mail")
    try:
        rendered = rendering.render(notification, Channel.EMAIL)
        files = mail.attachments_for(notification)
    except (rendering.RenderError, mail.AttachmentError) as exc:
        return _Outcome(DeliveryStatus.FAILED, to=to, error=str(exc), permanent=True)
    message = mail.build_message(notification, rendered, to, attachments=files)
    try:
        sender.email(message)
    except Exception as exc:  # noqa: BLE001 - every failure is logged on the delivery
        return _Outcome(
            DeliveryStatus.FAILED, to=to, error=mail.describe(exc), permanent=mail.is_permanent(exc)
        )
    return _Outcome(
        DeliveryStatus.SENT, to=to, provider_message_id=message.extra_headers["Message-ID"]
    )


def _send_sms(delivery: NotificationDelivery, sender: _Sender) -> _Outcome:
    notification = delivery.notification
    to = notification.customer.phone.strip()
    if not to:
        return _Outcome(DeliveryStatus.SKIPPED, error="the customer has no phone number")
    try:
        gateway = sender.sms()
        if not gateway.enabled:
            return _Outcome(DeliveryStatus.SKIPPED, to=to, error=gateway.disabled_reason)
        rendered = rendering.render(notification, Channel.SMS)
        message_id = gateway.send(to, rendered.text)
    except rendering.RenderError as exc:
        return _Outcome(DeliveryStatus.FAILED, to=to, error=str(exc), permanent=True)
    except sms.SmsError as exc:
        return _Outcome(DeliveryStatus.FAILED, to=to, error=str(exc), permanent=exc.permanent)
    return _Outcome(DeliveryStatus.SENT, to=to, provider_message_id=message_id)


def _send(delivery: NotificationDelivery, sender: _Sender) -> _Outcome:
    try:
        if delivery.channel == Channel.SMS:
            return _send_sms(delivery, sender)
        return _send_email(delivery, sender)
    except Exception as exc:  # noqa: BLE001 - one bad delivery never stops the batch
        log.exception("delivery %s failed unexpectedly", delivery.pk)
        return _Outcome(DeliveryStatus.FAILED, error=f"{type(exc).__name__}: {exc}")


def _renew_claim(delivery: NotificationDelivery, now: datetime) -> bool:
    """Restart the lease just before sending, so a slow batch never outlives it; False
    when the delivery is no longer this worker's to send."""
    stamp = max(now, clock.now())  # the real time, except on a simulated clock
    return (
        NotificationDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.SENDING, attempts=delivery.attempts
        ).update(claimed_at=stamp)
        == 1
    )


def _masked(channel: str, to: str) -> str:
    return sms.mask_phone(to) if channel == Channel.SMS else mail.mask_email(to)


def deliver_due(now: datetime | None = None, *, limit: int = DEFAULT_LIMIT) -> DeliveryReport:
    """Plan new notifications' deliveries, then send up to ``limit`` due ones.

    Times recorded (sent, next attempt) are ``now``, so a simulated clock drives retries.
    """
    now = now or clock.now()
    report = plan_deliveries(now, limit=limit)
    report.retrying += _reclaim_interrupted(now)
    claimed = _claim(now, limit)
    report.claimed = len(claimed)
    if not claimed:
        return report
    sender = _Sender()
    try:
        for delivery in claimed:
            if not _renew_claim(delivery, now):
                continue  # taken back as interrupted while earlier ones were being sent
            outcome = _send(delivery, sender)
            status = _record(delivery, outcome, now)
            where = _masked(delivery.channel, outcome.to or delivery.to)
            if status == DeliveryStatus.SENT:
                report.sent += 1
                log.info("notification %s sent by %s to %s", delivery.notification_id,
                         delivery.channel, where)  # fmt: skip
            elif status == DeliveryStatus.SKIPPED:
                report.skipped += 1
            elif status == DeliveryStatus.PENDING:
                report.retrying += 1
                log.warning("notification %s by %s to %s: attempt %s failed, retrying: %s",
                            delivery.notification_id, delivery.channel, where,
                            delivery.attempts, outcome.error)  # fmt: skip
            elif status == DeliveryStatus.FAILED:
                report.failed += 1
                log.error("notification %s by %s to %s failed: %s", delivery.notification_id,
                          delivery.channel, where, outcome.error)  # fmt: skip
    finally:
        sender.close()
    return report


def run_pass(now: datetime | None = None) -> DeliveryReport:
    """The scheduled job: :func:`deliver_due` in batches until nothing is due (at most
    :data:`MAX_PER_PASS` claims; the rest waits for the next pass)."""
    now = now or clock.now()
    total = DeliveryReport()
    while total.claimed < MAX_PER_PASS:
        report = deliver_due(now, limit=DEFAULT_LIMIT)
        total = total + report
        if report.claimed < DEFAULT_LIMIT and report.planned == 0:
            break
    return total


def next_due(after: datetime | None = None) -> datetime | None:
    """When there is next something to deliver: a new notification, a retry, or a delivery
    whose sender was interrupted."""
    new = (
        Notification.objects.filter(status=Status.PENDING, deliveries__isnull=True)
        .aggregate(t=Min("at"))["t"]
    )  # fmt: skip
    retry = NotificationDelivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(
        t=Min("next_attempt_at")
    )["t"]
    claimed = NotificationDelivery.objects.filter(status=DeliveryStatus.SENDING).aggregate(
        t=Min("claimed_at")
    )["t"]
    due = [t for t in (new, retry, claimed + SENDING_LEASE if claimed else None) if t]
    return min(due) if due else None


# -- staff --------------------------------------------------------------------------------


def retry_now(deliveries, *, actor: str, now: datetime | None = None) -> int:
    """Queue failed or skipped deliveries (and pending ones) for the next pass, with a fresh
    set of retries; returns how many. Sent and sending deliveries are left alone."""
    now = now or clock.now()
    count = 0
    with transaction.atomic():
        rows = list(
            NotificationDelivery.objects.select_for_update()
            .filter(pk__in=[d.pk for d in deliveries])
            .exclude(status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING])
        )
        for row in rows:
            before = audit.snapshot(row)
            row.status = DeliveryStatus.PENDING
            row.next_attempt_at = now
            row.attempts = 0
            row.last_error = ""
            row.save()
            audit.record(
                actor=actor,
                action="notification_delivery.retried",
                instance=row,
                reason="retry now",
                before=before,
            )
            count += 1
        _summarise({row.notification_id for row in rows})
    return count
