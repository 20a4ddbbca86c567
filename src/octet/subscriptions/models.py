from __future__ import annotations

from django.db import models

from octet.catalog.models import AddOn, PlanVersion
from octet.core import secrets
from octet.customers.models import Customer
from octet.subscriptions.lifecycle import State, SuspendReason


class Subscription(models.Model):
    """A customer's service on one plan version, with its RADIUS credentials."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(
        max_length=12, choices=[(s.value, s.value) for s in State], default=State.PENDING
    )
    suspend_reason = models.CharField(
        max_length=20, blank=True, choices=[(r.value, r.value) for r in SuspendReason]
    )
    # RADIUS (radcheck): User-Name and Cleartext-Password, the latter encrypted at rest.
    username = models.CharField("RADIUS username", max_length=64)
    password_encrypted = models.TextField(editable=False)
    static_ip = models.GenericIPAddressField(null=True, blank=True, unique=True)
    framed_pool = models.CharField(max_length=64, blank=True)
    addons = models.ManyToManyField(AddOn, blank=True)
    anchor_date = models.DateField(
        null=True, blank=True, help_text="Local date that anniversary billing periods count from"
    )
    created_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    prepaid_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Prepaid plans: service ends here unless renewed"
    )
    cancel_at = models.DateTimeField(
        null=True, blank=True, help_text="Scheduled termination (cancellation at period end)"
    )
    # The expiry the prepaid_expiring / prepaid_expired notice was sent for: a renewal moves
    # the expiry, and the notices are due again for the new one.
    prepaid_expiring_notice_for = models.DateTimeField(null=True, blank=True, editable=False)
    prepaid_expired_notice_for = models.DateTimeField(null=True, blank=True, editable=False)
    # Kept by billing: the next moment the billing run has work for this subscription.
    next_bill_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)

    class Meta:
        constraints = [
            # One live holder per RADIUS username; a terminated one frees the name.
            models.UniqueConstraint(
                fields=["username"],
                condition=~models.Q(state="terminated"),
                name="subscription_username_live_unique",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="suspended") | ~models.Q(suspend_reason=""),
                name="subscription_suspension_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["username"]), models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"{self.username} ({self.plan_version}, {self.state})"

    def set_password(self, raw: str) -> None:
        self.password_encrypted = secrets.encrypt(raw)

    def radius_password(self) -> str:
        """The cleartext password, for PAP/CHAP checks only. Never log it."""
        return secrets.decrypt(self.password_encrypted)


class StateChange(models.Model):
    """One transition of a subscription's state machine: who, when, why."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="history")
    at = models.DateTimeField()
    from_state = models.CharField(max_length=12, blank=True)
    to_state = models.CharField(max_length=12)
    reason = models.CharField(max_length=40)
    note = models.TextField(blank=True)
    actor = models.CharField(max_length=150)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.from_state or '-'}→{self.to_state} ({self.reason})"


class PlanChangeWhen(models.TextChoices):
    NOW = "now", "Now"
    PERIOD_END = "period_end", "At the end of the billing period"


class PlanChangeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    CANCELLED = "cancelled", "Cancelled"


class PlanChange(models.Model):
    """A request to move a subscription to another plan version, now or at period end."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="plan_changes"
    )
    from_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, related_name="+")
    when = models.CharField(max_length=12, choices=PlanChangeWhen.choices)
    requested_at = models.DateTimeField()
    effective_at = models.DateTimeField(db_index=True)
    status = models.CharField(
        max_length=10, choices=PlanChangeStatus.choices, default=PlanChangeStatus.PENDING
    )
    actor = models.CharField(max_length=150)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["effective_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription"],
                condition=models.Q(status="pending"),
                name="one_pending_plan_change",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.subscription.username}: {self.from_version} → {self.to_version} ({self.status})"
        )
