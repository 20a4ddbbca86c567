"""Dunning policies per customer group, planned steps, and promises to pay."""

from __future__ import annotations

from django.db import models

from octet.customers.models import Customer


class DunningPolicy(models.Model):
    """The dunning settings of one customer group (Customer.group); customers of a group
    without a policy follow the operator's default (Operator.dunning)."""

    group = models.CharField(max_length=50, unique=True)
    settings = models.JSONField(
        help_text='e.g. {"remind_days_before_due": [3], "remind_days_after_due": [2], '
        '"suspend_days_after_due": 7, "late_fee_days_after_due": 10, "late_fee_amount": "50", '
        '"terminate_days_after_due": 60}'
    )
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "dunning policies"

    def __str__(self) -> str:
        return f"dunning policy of {self.group}"


class StepStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped (paid, or nothing to do)"


class DunningStep(models.Model):
    """One planned step for a customer's invoices due on one date, carried out once."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    due_date = models.DateField()
    kind = models.CharField(max_length=15)
    offset = models.SmallIntegerField(help_text="days from the due date")
    at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=StepStatus.choices, default="planned")
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "due_date", "kind", "offset"], name="dunning_step_once"
            )
        ]
        indexes = [models.Index(fields=["status", "at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.offset:+d}d for {self.due_date} ({self.status})"


class PromiseToPay(models.Model):
    """Staff agreed the customer pays by ``until``: late fee, suspension and termination
    wait until the day after (docs/dunning.md)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="promises")
    until = models.DateField()
    created_at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"promise by {self.customer_id} to pay until {self.until}"
