"""API tokens, the idempotency keys clients send with POSTs, and per-token rate counters."""

from __future__ import annotations

from django.db import models

from octet.customers.models import Customer


class Scope(models.TextChoices):
    READ = "read", "Read (GET everything)"
    BILLING = "billing", "Billing (payments, refunds, credit notes, invoice actions)"
    NETWORK = "network", "Network (subscription state, plan changes, NAS, sessions)"
    ADMIN = "admin", "Admin (everything, including customers, plans and tokens)"


class ApiToken(models.Model):
    """A bearer token for the REST API. Only the SHA-256 of the token is kept."""

    name = models.CharField(max_length=100, help_text="Shown in the audit log as api:NAME")
    prefix = models.CharField(max_length=16, help_text="The token's first characters")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Set: the token sees only this customer's data",
    )
    rate_limit = models.PositiveIntegerField(default=120, help_text="requests per minute")
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(revoked_at__isnull=True),
                name="api_token_live_name_unique",
            )
        ]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def actor(self) -> str:
        """Who the audit log says made a change through this token."""
        return f"api:{self.name}"

    def allows(self, scope: str) -> bool:
        """Admin covers everything; every scope covers reading."""
        granted = set(self.scopes)
        if Scope.ADMIN in granted:
            return True
        if scope == Scope.READ:
            return bool(granted)
        return scope in granted


class IdempotencyKey(models.Model):
    """A POST done with an Idempotency-Key: the same key again gets the same answer.

    Written in the transaction that makes the change, so it exists exactly when the change
    does; a second request with the key waits on the unique constraint until the first
    commits or rolls back.
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once")
        ]
        indexes = [models.Index(fields=["token", "created_at"])]

    def __str__(self) -> str:
        return f"{self.key} {self.method} {self.path} → {self.status_code}"


class RateCounter(models.Model):
    """Requests a token made in one fixed window (slot = epoch seconds // window length)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    slot = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "slot"], name="rate_counter_slot_unique")
        ]

    def __str__(self) -> str:
        return f"{self.token_id}@{self.slot}: {self.count}"
