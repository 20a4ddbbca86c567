from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class TaxRegime(models.TextChoices):
    IN_GST = "in_gst", "India GST"
    EU_VAT = "eu_vat", "EU VAT"
    NONE = "none", "No tax"


def _default_dunning() -> dict:
    return {"remind_days_before_due": [3], "suspend_days_after_due": 7}


class Operator(models.Model):
    """The ISP running this Octet: one row, the seller on every document."""

    name = models.CharField(max_length=200)
    legal_name = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, default=settings.OCTET_TIME_ZONE)
    currency = models.CharField(max_length=3, default=settings.OCTET_CURRENCY)
    country = models.CharField(max_length=2, default="IN")
    tax_regime = models.CharField(
        max_length=10, choices=TaxRegime.choices, default=TaxRegime.IN_GST
    )
    state_code = models.CharField(
        max_length=2, blank=True, help_text="GST state code of the operator"
    )
    gstin = models.CharField("GSTIN", max_length=15, blank=True)
    vat_id = models.CharField("VAT id", max_length=20, blank=True)
    address = models.TextField(blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True)
    upi_id = models.CharField("UPI id", max_length=100, blank=True)
    invoice_series = models.CharField(max_length=20, default="INV/{fy}/")
    credit_note_series = models.CharField(max_length=20, default="CN/{fy}/")
    receipt_series = models.CharField(max_length=20, default="RCPT/{fy}/")
    payment_terms_days = models.PositiveIntegerField(default=14)
    dunning = models.JSONField(default=_default_dunning)
    account_number_prefix = models.CharField(max_length=8, default="AC")
    # Billing policies (../shared/scenarios/FORMAT.md describes the defaults).
    bill_first_period_at_activation = models.BooleanField(
        default=True,
        help_text="Invoice the first, partial period at activation (else with the next run)",
    )
    credit_unused_on_plan_change = models.BooleanField(
        default=True, help_text="Plan change now: credit note for the old plan's unused days"
    )
    credit_unused_on_cancel = models.BooleanField(
        default=True, help_text="Cancellation now: credit note for the unused days"
    )
    # Branding on invoices and credit notes.
    brand_color = models.CharField(max_length=7, default="#1f4e79")
    logo_svg = models.TextField(blank=True, help_text="SVG markup printed on documents")
    invoice_footer = models.TextField(blank=True, help_text="Bank details, terms, signature line")
    walled_garden_address_list = models.CharField(
        max_length=64,
        blank=True,
        help_text="MikroTik address list for suspended subscribers; empty: reject them",
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="operator_singleton")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> Operator:
        operator = cls.objects.filter(pk=1).first()
        if operator is None:
            operator = cls(name="Octet ISP")
            operator.save()
        return operator


class AuditEntry(models.Model):
    """Who changed what, when and why, with the state before and after."""

    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    entity = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["entity", "entity_id", "at"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.entity}#{self.entity_id}"


class Sequence(models.Model):
    """A named counter handed out under a row lock (account numbers; later invoice series)."""

    name = models.CharField(max_length=64, unique=True)
    last_value = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])

    def __str__(self) -> str:
        return f"{self.name}={self.last_value}"
