"""Invoices, credit notes, their lines, billing runs, one-off charges and discounts.

An issued document never changes (invariant 3): :meth:`Invoice.save` and
:meth:`InvoiceLine.save` refuse it, and corrections are credit notes. The unique constraint
on (subscription, charge_key) of live lines is the last guard against billing a charge twice
(invariant 2); the generator never proposes a key that was billed.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

from octet.core.money import Money
from octet.customers.models import Customer
from octet.subscriptions.models import Subscription

ZERO = Decimal("0")

# Enough digits for any currency's minor units (BHD, KWD: 3) and any ISP's invoice.
MONEY = {"max_digits": 18, "decimal_places": 3}


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", "Tax invoice"
    CREDIT_NOTE = "credit_note", "Credit note"


class DocumentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    VOID = "void", "Void (never issued)"


class ImmutableDocument(Exception):
    """An issued invoice or credit note was about to be changed."""


class BillingRun(models.Model):
    """One pass of the billing job: what it looked at, what it issued, what failed."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    as_of = models.DateTimeField(help_text="Everything due up to this moment is billed")
    actor = models.CharField(max_length=150)
    trigger = models.CharField(max_length=20, default="scheduled")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    subscriptions_seen = models.PositiveIntegerField(default=0)
    subscriptions_billed = models.PositiveIntegerField(default=0)
    invoices_issued = models.PositiveIntegerField(default=0)
    credit_notes_issued = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} as of {self.as_of:%Y-%m-%d %H:%M} ({self.status})"


class BillingError(models.Model):
    """An account a run could not bill; the run went on with the others."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="error_list")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    message = models.TextField()

    def __str__(self) -> str:
        return f"{self.subscription_id}: {self.message[:60]}"


class Invoice(models.Model):
    """A tax invoice or a credit note: the legal document sent to the customer.

    Seller and buyer are copied at issue (``seller``/``buyer``) so that a later change of
    address or GSTIN never alters a document already sent.
    """

    kind = models.CharField(
        max_length=12, choices=DocumentKind.choices, default=DocumentKind.INVOICE
    )
    status = models.CharField(
        max_length=8, choices=DocumentStatus.choices, default=DocumentStatus.DRAFT
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    against = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_notes",
        help_text="Credit notes: the invoice they correct",
    )
    series = models.CharField(max_length=20, blank=True, help_text="e.g. KF/25-26/")
    sequence_number = models.PositiveIntegerField(null=True, blank=True)
    number = models.CharField(max_length=32, null=True, blank=True, unique=True)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField()
    issued_at = models.DateTimeField(null=True, blank=True, db_index=True)
    due_date = models.DateField(null=True, blank=True)
    subtotal = models.DecimalField(**MONEY, default=ZERO)
    tax_total = models.DecimalField(**MONEY, default=ZERO)
    total = models.DecimalField(**MONEY, default=ZERO)
    tax_regime = models.CharField(max_length=10)
    place_of_supply = models.CharField(max_length=8, blank=True)
    tax_note = models.CharField(max_length=200, blank=True, help_text="e.g. reverse charge")
    seller = models.JSONField(default=dict)
    buyer = models.JSONField(default=dict)
    reason = models.TextField(blank=True, help_text="Credit notes: why")
    billing_run = models.ForeignKey(
        BillingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="documents"
    )
    actor = models.CharField(max_length=150)

    class Meta:
        ordering = ["issued_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "sequence_number"], name="invoice_number_in_series_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="issued")
                | (models.Q(number__isnull=False) & models.Q(issued_at__isnull=False)),
                name="issued_invoice_has_number",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="invoice") | models.Q(against__isnull=False),
                name="credit_note_names_invoice",
            ),
        ]
        indexes = [models.Index(fields=["customer", "issued_at"])]

    def __str__(self) -> str:
        return self.number or f"{self.get_kind_display()} draft #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            stored = Invoice.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored in {DocumentStatus.ISSUED, DocumentStatus.VOID}:
                raise ImmutableDocument(f"{self} is {stored}: correct it with a credit note")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.status != DocumentStatus.DRAFT:
            raise ImmutableDocument(f"{self} is {self.status} and cannot be deleted")
        return super().delete(*args, **kwargs)

    @property
    def is_credit_note(self) -> bool:
        return self.kind == DocumentKind.CREDIT_NOTE

    def money(self, value: Decimal) -> Money:
        return Money(value, self.currency)


class CreditNote(Invoice):
    """Credit notes only (for the admin); the rows are Invoice rows of kind credit_note."""

    class Meta:
        proxy = True


class InvoiceLine(models.Model):
    """One charge on a document, with its taxes computed and rounded on their own."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # What was billed: "recurring:FIBER100v1:2026-02-01/2026-03-01"; "...#credit" on the
    # credit note for its unused days; "overage:...#2" for a later difference.
    charge_key = models.CharField(max_length=160)
    base_key = models.CharField(max_length=160, help_text="The charge this line bills or corrects")
    kind = models.CharField(max_length=12)
    description = models.CharField(max_length=300)
    quantity = models.CharField(max_length=24)
    unit_price = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY, help_text="net of tax")
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, help_text="exclusive")
    sac = models.CharField("SAC/HSN code", max_length=8, blank=True)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=ZERO)
    tax_inclusive = models.BooleanField(default=False, help_text="unit price includes tax")
    tax_exempt = models.BooleanField(default=False)
    taxes = models.JSONField(default=list, help_text='[{"name", "rate", "amount"}]')
    tax_amount = models.DecimalField(**MONEY, default=ZERO)
    total = models.DecimalField(**MONEY)
    voided = models.BooleanField(default=False, help_text="On a voided draft: billable again")

    class Meta:
        ordering = ["invoice_id", "position"]
        constraints = [
            # Invariant 2: one charge is billed at most once (NULL subscriptions never clash).
            models.UniqueConstraint(
                fields=["subscription", "charge_key"],
                condition=models.Q(voided=False),
                name="charge_billed_once",
            ),
        ]
        indexes = [models.Index(fields=["subscription", "period_end"])]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:  # a new line needs no look-up: it changes nothing issued
            invoice = Invoice.objects.filter(pk=self.invoice_id)
            status = invoice.values_list("status", flat=True).first()
            if status in {DocumentStatus.ISSUED, DocumentStatus.VOID}:
                raise ImmutableDocument(f"a line of an {status} document cannot change")
        super().save(*args, **kwargs)


class OneOffCharge(models.Model):
    """A charge entered by staff (router sale, site visit), billed on the next invoice."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="one_off_charges"
    )
    description = models.CharField(max_length=200)
    unit_price = models.DecimalField(**MONEY, validators=[MinValueValidator(ZERO)])
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    sac = models.CharField("SAC/HSN code", max_length=8, blank=True)
    tax_rate = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="empty: the plan's"
    )
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="one_off_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.description} x{self.quantity}"


class Coupon(models.Model):
    """A discount code staff or subscribers can apply: percent or amount, for N cycles."""

    code = models.CharField(max_length=30, unique=True)
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(**MONEY, null=True, blank=True)
    cycles = models.PositiveIntegerField(null=True, blank=True, help_text="empty: forever")
    applies_to = models.CharField(max_length=12, default="recurring")
    valid_until = models.DateField(null=True, blank=True)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(percent__isnull=True) & models.Q(amount__isnull=False))
                | (models.Q(percent__isnull=False) & models.Q(amount__isnull=True)),
                name="coupon_percent_or_amount",
            )
        ]

    def __str__(self) -> str:
        return self.code


class SubscriptionDiscount(models.Model):
    """A coupon (or a staff discount) applied to one subscription."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="discounts"
    )
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, null=True, blank=True)
    code = models.CharField(max_length=30)
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(**MONEY, null=True, blank=True)
    cycles = models.PositiveIntegerField(null=True, blank=True, help_text="empty: forever")
    applies_to = models.CharField(max_length=12, default="recurring")
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "code"], name="discount_once_per_sub")
        ]

    def __str__(self) -> str:
        return f"{self.code} on {self.subscription_id}"
