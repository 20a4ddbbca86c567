from __future__ import annotations

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
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Notification(models.Model):
    """A message owed to a customer (an outbox row written with the change that caused it)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
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
