"""Payments received and how they, and credit notes, settle invoices.

What a customer owes or has in credit is always a sum over these rows and the issued
documents (see services.balances), never a stored number.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from octet.billing.models import MONEY, Invoice
from octet.customers.models import Customer


class Method(models.TextChoices):
    CASH = "cash", "Cash"
    CHEQUE = "cheque", "Cheque"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    UPI = "upi", "UPI"
    CARD = "card", "Card"
    NETBANKING = "netbanking", "Net banking"
    WALLET = "wallet", "Wallet"


class Payment(models.Model):
    """Money received from a customer, by staff entry or from a gateway."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        REVERSED = "reversed", "Reversed (bounced, charged back)"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16, choices=Method.choices)
    reference = models.CharField(max_length=100, blank=True, help_text="UTR, cheque no., …")
    gateway = models.CharField(max_length=20, blank=True)
    gateway_payment_id = models.CharField(
        max_length=100, null=True, blank=True, unique=True, help_text="a webhook counts once"
    )
    received_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_positive")
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} by {self.method} from {self.customer_id}"


class Allocation(models.Model):
    """Part of a payment or of a credit note settling part of an invoice."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="allocations"
    )
    credit_note = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="applied"
    )
    amount = models.DecimalField(**MONEY)
    at = models.DateTimeField()
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=Decimal(0)), name="allocation_positive"
            ),
            models.CheckConstraint(
                condition=(models.Q(payment__isnull=False) & models.Q(credit_note__isnull=True))
                | (models.Q(payment__isnull=True) & models.Q(credit_note__isnull=False)),
                name="allocation_has_one_source",
            ),
        ]
        indexes = [models.Index(fields=["customer", "invoice"])]

    def __str__(self) -> str:
        return f"{self.amount} to {self.invoice_id}"
