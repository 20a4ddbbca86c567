from __future__ import annotations

from django.db import models

from octet.subscriptions.models import Subscription


class UsagePeriod(models.Model):
    """Bytes a subscription used in one billing period, and the allowance it had there."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="usage_periods"
    )
    period_start = models.DateField()
    period_end = models.DateField(help_text="exclusive")
    download_bytes = models.BigIntegerField(default=0)
    upload_bytes = models.BigIntegerField(default=0)
    allowance_bytes = models.BigIntegerField(null=True, blank=True, help_text="empty: unlimited")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="usage_period_unique"
            )
        ]
        ordering = ["subscription", "period_start"]

    def __str__(self) -> str:
        return (
            f"{self.subscription_id} {self.period_start}: {self.download_bytes}/{self.upload_bytes}"
        )


class QuotaEvent(models.Model):
    """A threshold crossed in a period: once per (subscription, period, kind), by constraint."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE)
    period_start = models.DateField()
    kind = models.CharField(max_length=12)  # usage_80, usage_100
    at = models.DateTimeField()
    action = models.CharField(max_length=12, blank=True)  # throttle, disconnect, none
    restored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start", "kind"], name="quota_event_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subscription_id} {self.period_start}"


class UsageImport(models.Model):
    """A CSV of usage loaded by staff (ISPs without RADIUS accounting)."""

    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    filename = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, unique=True, help_text="refuses a second import")
    rows = models.PositiveIntegerField()
    download_bytes = models.BigIntegerField()
    upload_bytes = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.filename} ({self.rows} rows)"
