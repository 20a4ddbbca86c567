from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from octet.customers import validators


class CustomerKind(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    BUSINESS = "business", "Business"


class Customer(models.Model):
    """An account holder: who is billed, where service is delivered, and their tax identity."""

    account_number = models.CharField(max_length=20, unique=True, editable=False)
    name = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(
        max_length=10, choices=CustomerKind.choices, default=CustomerKind.INDIVIDUAL
    )
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=20, blank=True, db_index=True, help_text="E.164")
    alt_phone = models.CharField(max_length=20, blank=True)
    # Place of supply: the GST state code (India) or ISO country of the billing address.
    country = models.CharField(max_length=2, default="IN")
    state_code = models.CharField(max_length=2, blank=True)
    billing_address = models.TextField(blank=True)
    billing_city = models.CharField(max_length=100, blank=True)
    billing_postal_code = models.CharField(max_length=12, blank=True)
    service_address = models.TextField(blank=True, help_text="Where the line is installed")
    service_city = models.CharField(max_length=100, blank=True)
    service_postal_code = models.CharField(max_length=12, blank=True)
    gstin = models.CharField("GSTIN", max_length=15, blank=True, db_index=True)
    vat_id = models.CharField("VAT id", max_length=20, blank=True)
    tax_exempt = models.BooleanField(default=False)
    group = models.CharField(max_length=50, default="default", help_text="Dunning policy group")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["account_number"]

    def __str__(self) -> str:
        return f"{self.account_number} {self.name}"

    def clean(self) -> None:
        """Validate and normalise contacts and tax identity (admin and services share this)."""
        errors: dict[str, str] = {}
        self.name = (self.name or "").strip()
        if not self.name:
            errors["name"] = "Name is required."

        def check(field: str, fn, *args) -> None:
            value = getattr(self, field)
            if not value:
                return
            try:
                setattr(self, field, fn(value, *args))
            except validators.InvalidValue as exc:
                errors[field] = str(exc)

        self.country = (self.country or "IN").strip().upper()
        check("email", validators.validate_email_address)
        check("phone", validators.validate_phone, self.country)
        check("alt_phone", validators.validate_phone, self.country)
        if self.country == "IN":
            check("state_code", validators.validate_indian_state_code)
        check("gstin", validators.validate_gstin)
        check("vat_id", validators.validate_eu_vat_id)
        if self.gstin and "gstin" not in errors:
            if self.country != "IN":
                errors["gstin"] = "A GSTIN is only valid for a customer in India."
            elif not self.state_code:
                self.state_code = validators.gstin_state_code(self.gstin)
            elif validators.gstin_state_code(self.gstin) != self.state_code:
                errors["gstin"] = (
                    f"GSTIN {self.gstin} is registered in state {self.gstin[:2]}, "
                    f"but the customer's state code is {self.state_code}."
                )
        if self.country == "IN" and not self.state_code and "state_code" not in errors:
            errors["state_code"] = "An Indian customer needs a GST state code (place of supply)."
        if errors:
            raise ValidationError(errors)
