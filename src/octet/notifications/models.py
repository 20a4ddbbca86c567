"""Notifications: the outbox, its delivery log, customers' channel choices and templates.

A :class:`Notification` is one event a customer is told about (written by the change that
caused it). Delivery (:mod:`octet.notifications.delivery`) turns it into one
:class:`NotificationDelivery` per channel the customer wants, each with its own status,
attempts and error, and summarises them back onto the notification's ``status``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from octet.customers.models import Customer


class Kind(models.TextChoices):
    INVOICE_ISSUED = "invoice_issued"
    CREDIT_NOTE_ISSUED = "credit_note_issued"
    PAYMENT_RECEIVED = "payment_received"
    PAYMENT_REMINDER = "payment_reminder"
    SERVICE_SUSPENDED = "service_suspended"
    SERVICE_RESTORED = "service_restored"
    USAGE_80 = "usage_80"
    USAGE_100 = "usage_100"
    PLAN_CHANGED = "plan_changed"
    PREPAID_EXPIRING = "prepaid_expiring"
    PREPAID_EXPIRED = "prepaid_expired"


class Channel(models.TextChoices):
    EMAIL = "email"
    SMS = "sms"


class Status(models.TextChoices):
    """A notification as a whole (summarised from its deliveries)."""

    PENDING = "pending"
    SENT = "sent"  # every delivery sent or skipped, at least one sent
    FAILED = "failed"  # a delivery failed for good
    SKIPPED = "skipped"  # nothing could be sent (no address, opted out, no gateway)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker; the provider may or may not have it yet
    SENT = "sent"
    FAILED = "failed"  # for good: retries used up, or refused permanently
    SKIPPED = "skipped"


# Legal documents: always e-mailed when the customer has an address (no opting out).
LEGAL_KINDS: frozenset[str] = frozenset(
    {Kind.INVOICE_ISSUED, Kind.CREDIT_NOTE_ISSUED, Kind.PAYMENT_RECEIVED}
)
# Urgent or service-affecting: also by SMS unless the customer opts out.
SMS_DEFAULT_KINDS: frozenset[str] = frozenset(
    {
        Kind.PAYMENT_REMINDER,
        Kind.SERVICE_SUSPENDED,
        Kind.SERVICE_RESTORED,
        Kind.USAGE_100,
        Kind.PREPAID_EXPIRING,
        Kind.PREPAID_EXPIRED,
    }
)


class Notification(models.Model):
    """A message owed to a customer (an outbox row written with the change that caused it)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # The producer's channel hint, kept for reports; the customer's preferences decide
    # which channels a notification is actually delivered on.
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    context = models.JSONField(default=dict, blank=True)
    # Makes "once per period" a database guarantee, e.g. "usage_80:sub 12:2026-01-01".
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["status", "at"])]

    def __str__(self) -> str:
        return f"{self.kind} to {self.customer_id} by {self.channel} ({self.status})"


class NotificationDelivery(models.Model):
    """One notification on one channel: the delivery log staff read."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    to = models.CharField(max_length=254, blank=True, help_text="Address or number as used")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker took it to send"
    )
    last_error = models.CharField(max_length=500, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "notification deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="one_delivery_per_channel"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.notification.kind} by {self.channel} ({self.status})"


class NotificationPreference(models.Model):
    """A customer's choice of channels for one kind; without a row the defaults apply."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    email = models.BooleanField(default=True)
    sms = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["customer", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind"], name="one_preference_per_kind")
        ]

    def __str__(self) -> str:
        channels = [c for c, on in (("email", self.email), ("sms", self.sms)) if on]
        return f"{self.kind}: {', '.join(channels) or 'none'}"

    def clean(self) -> None:
        if self.kind in LEGAL_KINDS and not self.email:
            raise ValidationError(
                {"email": "Invoices, credit notes and receipts are always e-mailed."}
            )


class NotificationTemplate(models.Model):
    """A staff-edited template; when active it replaces the shipped file for its kind."""

    kind = models.CharField(max_length=30, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    language = models.CharField(max_length=10, default="en")
    subject = models.CharField(
        max_length=300, blank=True, help_text="E-mail only. Django template syntax."
    )
    body_text = models.TextField(
        "text body", help_text="The plain-text e-mail, or the SMS. Django template syntax."
    )
    body_html = models.TextField(
        "HTML body",
        blank=True,
        help_text="E-mail only; empty: the text body in the operator's HTML layout.",
    )
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField()
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["kind", "channel", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "channel", "language"], name="one_template_per_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.channel}, {self.language})"

    def clean(self) -> None:
        from octet.notifications.rendering import check_syntax

        errors = {}
        if self.channel == Channel.EMAIL and not self.subject.strip():
            errors["subject"] = "An e-mail needs a subject."
        for field in ("subject", "body_text", "body_html"):
            problem = check_syntax(getattr(self, field))
            if problem:
                errors[field] = problem
        if errors:
            raise ValidationError(errors)
