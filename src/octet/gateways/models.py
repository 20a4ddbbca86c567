"""Online payment gateway accounts and what happens through them.

A :class:`GatewayAccount` is one Stripe or Razorpay account; its name is what Octet writes
into ``Payment.gateway`` and the ledger's ``gateway_clearing:NAME`` account. Its API secret
and webhook secret are stored encrypted (``octet.core.secrets``) and never shown.

The rows here are the gateway side of the story; the money itself is always a
``payments.Payment`` or ``payments.Refund``, recorded by ``octet.payments.services``.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from octet.billing.models import MONEY, Invoice
from octet.core import secrets
from octet.customers.models import Customer
from octet.gateways.base import GatewayConfig
from octet.payments.models import Payment

# Goes into URLs (/gateways/NAME/webhook), Payment.gateway (20 characters) and ledger
# account names (gateway_clearing:NAME, where a colon or a space would open a new account).
ACCOUNT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,19}$"


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    RAZORPAY = "razorpay", "Razorpay"


class GatewayAccount(models.Model):
    """One account at a payment provider, with its keys (encrypted at rest)."""

    name = models.CharField(
        max_length=20,
        unique=True,
        validators=[
            RegexValidator(
                ACCOUNT_NAME_PATTERN,
                "Use lower-case letters, digits, '-' and '_' (at most 20), e.g. razorpay-main.",
            )
        ],
        help_text="Recorded on every payment through it, e.g. 'stripe' or 'razorpay-main'",
    )
    provider = models.CharField(max_length=10, choices=Provider.choices)
    key_id = models.CharField(
        max_length=100, blank=True, help_text="Razorpay key id; unused for Stripe"
    )
    secret_key_encrypted = models.TextField(editable=False)
    webhook_secret_encrypted = models.TextField(editable=False)
    api_base = models.URLField(
        blank=True, help_text="Empty: the provider's public API (tests point it elsewhere)"
    )
    currency = models.CharField(max_length=3)
    enabled = models.BooleanField(default=True, help_text="Disabled: no new checkouts or charges")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    def set_secret_key(self, raw: str) -> None:
        self.secret_key_encrypted = secrets.encrypt(raw)

    def set_webhook_secret(self, raw: str) -> None:
        self.webhook_secret_encrypted = secrets.encrypt(raw)

    def config(self) -> GatewayConfig:
        """What the adapter needs, secrets decrypted (keep it in memory only)."""
        return GatewayConfig(
            provider=self.provider,
            key_id=self.key_id,
            secret_key=secrets.decrypt(self.secret_key_encrypted),
            webhook_secret=secrets.decrypt(self.webhook_secret_encrypted),
            api_base=self.api_base,
            currency=self.currency,
        )


class CheckoutLink(models.Model):
    """A hosted payment page made for an invoice or an account top-up."""

    class Purpose(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        TOP_UP = "top_up", "Account top-up"

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        PAID = "paid", "Paid"
        EXPIRED = "expired", "Expired (replaced)"

    account = models.ForeignKey(
        GatewayAccount, on_delete=models.PROTECT, related_name="checkout_links"
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="checkout_links"
    )
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    save_method = models.BooleanField(
        default=False, help_text="The customer was asked to save the method for auto-pay"
    )
    # Same reuse key while nothing changed (invoice and open amount): the same link again.
    reuse_key = models.CharField(max_length=120, db_index=True)
    idempotency_key = models.CharField(max_length=160, unique=True)
    provider_id = models.CharField(max_length=100, unique=True)
    provider_customer_id = models.CharField(max_length=100, blank=True)
    url = models.URLField(max_length=2000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    created_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} checkout {self.provider_id} ({self.status})"


class SavedMethod(models.Model):
    """A card, UPI mandate or other method the customer let us charge later (auto-pay)."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        GatewayAccount, on_delete=models.PROTECT, related_name="saved_methods"
    )
    provider_customer_id = models.CharField(max_length=100, blank=True)
    provider_method_id = models.CharField(max_length=100)
    method = models.CharField(max_length=16, default="card", help_text="payments Method value")
    label = models.CharField(max_length=100, blank=True, help_text="Masked, e.g. Visa •••• 4242")
    auto_pay = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "provider_method_id"], name="saved_method_once_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label or self.method} of {self.customer_id}"


class WebhookEvent(models.Model):
    """A verified webhook, stored in the transaction that acts on it: each counts once."""

    account = models.ForeignKey(
        GatewayAccount, on_delete=models.PROTECT, related_name="webhook_events"
    )
    event_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=30)
    provider_payment_id = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(db_index=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "event_id"], name="webhook_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.event_id} {self.kind}"


class AutoPayAttempt(models.Model):
    """One off-session charge of a saved method for an invoice.

    The unique (invoice, attempt) pair is how a worker claims an attempt: a second worker
    inserting the same pair fails, so the gateway is asked once per attempt (with the
    idempotency key ``autopay:INVOICE:ATTEMPT``, which makes a retried call safe).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="autopay_attempts")
    saved_method = models.ForeignKey(SavedMethod, on_delete=models.PROTECT, related_name="+")
    attempt = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    provider_payment_id = models.CharField(max_length=100, blank=True)
    failure_reason = models.TextField(blank=True)
    # Failed: when the next attempt is due (null: no more). Pending: when to ask the
    # gateway again with the same key if no answer was recorded (null: the webhook decides).
    next_retry_at = models.DateTimeField(null=True, blank=True, db_index=True)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["invoice_id", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "attempt"], name="autopay_attempt_once"),
            models.CheckConstraint(
                condition=models.Q(attempt__gte=1), name="autopay_attempt_from_one"
            ),
        ]

    def __str__(self) -> str:
        return f"auto-pay {self.invoice_id} #{self.attempt} ({self.status})"
