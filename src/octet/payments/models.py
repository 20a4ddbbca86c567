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
    VOUCHER = "voucher", "Prepaid voucher"


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
    receipt_number = models.CharField(
        max_length=40, null=True, blank=True, unique=True, help_text="gapless per series"
    )

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


class Refund(models.Model):
    """Account credit paid back to the customer, by a clerk or through a gateway.

    A refund draws on what the customer holds as credit (payments and credit notes not
    allocated to invoices), the unapplied part of ``payment`` first when one is named.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending at the gateway"
        SUCCEEDED = "succeeded", "Paid out"
        FAILED = "failed", "Failed"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16, choices=Method.choices)
    gateway = models.CharField(max_length=20, blank=True)
    gateway_refund_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUCCEEDED)
    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150)
    reason = models.TextField()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_positive")
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} {self.currency} to {self.customer_id}"


class WriteOff(models.Model):
    """An invoice's open amount given up as uncollectable (bad debt); it is closed by it."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="write_offs")
    amount = models.DecimalField(**MONEY)
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    reason = models.TextField()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="write_off_positive")
        ]

    def __str__(self) -> str:
        return f"write-off {self.amount} of {self.invoice_id}"


class Settlement(models.Model):
    """A gateway's payout to the bank: what it collected, less refunds and its fees.

    Imported from the gateway's settlement report once (unique per gateway); every payment
    and refund in it must match one Octet recorded, so the gateway clearing account empties
    exactly (docs/payments.md, "Reconciling a settlement").
    """

    gateway = models.CharField(max_length=20)
    settlement_id = models.CharField(max_length=100)
    settled_on = models.DateField()
    currency = models.CharField(max_length=3)
    payments_total = models.DecimalField(**MONEY)
    refunds_total = models.DecimalField(**MONEY)
    fees = models.DecimalField(**MONEY, help_text="gateway fee including tax on it")
    paid_out = models.DecimalField(**MONEY)
    imported_at = models.DateTimeField()
    actor = models.CharField(max_length=150)

    class Meta:
        ordering = ["settled_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "settlement_id"], name="settlement_imported_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway} settlement {self.settlement_id}"


class SettlementItem(models.Model):
    settlement = models.ForeignKey(Settlement, on_delete=models.PROTECT, related_name="items")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment"], name="payment_settled_once"),
            models.UniqueConstraint(fields=["refund"], name="refund_settled_once"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} (fee {self.fee}) in {self.settlement_id}"


class JournalEntry(models.Model):
    """A balanced set of postings (ledger.JournalEntry), stored once and never changed.

    Written in the same transaction as the change it records; it links to what it records
    so an accountant can go from any figure to the document or payment behind it.
    """

    kind = models.CharField(max_length=30)
    at = models.DateTimeField(db_index=True)
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=200, blank=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    document = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="journal"
    )
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="journal"
    )
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="journal"
    )
    write_off = models.ForeignKey(
        WriteOff, on_delete=models.PROTECT, null=True, blank=True, related_name="journal"
    )
    settlement = models.ForeignKey(
        Settlement, on_delete=models.PROTECT, null=True, blank=True, related_name="journal"
    )

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d} {self.memo}"


class JournalPosting(models.Model):
    """One debit or credit of a journal entry; exactly one side is non-zero."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.CharField(max_length=60, db_index=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    debit = models.DecimalField(**MONEY)
    credit = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(debit__gt=0) & models.Q(credit=0))
                | (models.Q(debit=0) & models.Q(credit__gt=0)),
                name="posting_one_side",
            )
        ]
        indexes = [models.Index(fields=["account", "customer"])]

    def __str__(self) -> str:
        return f"{self.account} dr {self.debit} cr {self.credit}"
