from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from octet.core.periods import Alignment, Interval

ZERO = Decimal("0")
GB = 10**9  # the scenario format and ISP plans count decimal gigabytes


class TaxCategory(models.Model):
    """What the law calls the service (SAC/HSN code) and the rate that applies to it."""

    code = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    sac = models.CharField("SAC/HSN code", max_length=8, blank=True)
    rate = models.DecimalField(
        max_digits=5, decimal_places=2, validators=[MinValueValidator(ZERO)], help_text="percent"
    )
    exempt = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "tax categories"

    def __str__(self) -> str:
        return f"{self.name} ({self.sac}, {self.rate}%)"


class AddOnKind(models.TextChoices):
    STATIC_IP = "static_ip", "Static IP address"
    OTHER = "other", "Other recurring service"


class AddOn(models.Model):
    """A recurring extra sold with a plan (a static IP, a router rental…)."""

    code = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=AddOnKind.choices, default=AddOnKind.OTHER)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(ZERO)]
    )
    interval = models.CharField(max_length=10, choices=[(i.value, i.value) for i in Interval])
    tax_category = models.ForeignKey(TaxCategory, on_delete=models.PROTECT)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.price}/{self.interval})"


class PlanKind(models.TextChoices):
    POSTPAID = "postpaid", "Postpaid (billed each period)"
    PREPAID = "prepaid", "Prepaid (paid before service, valid N days)"


class Plan(models.Model):
    """A product the ISP sells. Its terms live in immutable PlanVersions."""

    code = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=PlanKind.choices, default=PlanKind.POSTPAID)
    description = models.TextField(blank=True)
    available = models.BooleanField(default=True, help_text="Offered to new subscribers")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def current_version(self) -> PlanVersion:
        return self.versions.order_by("-version").first()


class FeeTiming(models.TextChoices):
    ADVANCE = "advance", "In advance"
    ARREARS = "arrears", "In arrears"


class Proration(models.TextChoices):
    DAILY = "daily", "Daily"
    NONE = "none", "None"


class OverageRounding(models.TextChoices):
    UP = "up", "Per started GB"
    EXACT = "exact", "Exact (per byte)"


class ImmutableVersion(Exception):
    pass


class PlanVersion(models.Model):
    """The terms of a plan from a moment on. Never edited: a new price is a new version."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="per interval, tax excluded"
    )
    currency = models.CharField(max_length=3)
    tax_inclusive = models.BooleanField(default=False, help_text="price includes tax")
    interval = models.CharField(max_length=10, choices=[(i.value, i.value) for i in Interval])
    alignment = models.CharField(max_length=12, choices=[(a.value, a.value) for a in Alignment])
    fee_timing = models.CharField(
        max_length=10, choices=FeeTiming.choices, default=FeeTiming.ADVANCE
    )
    proration = models.CharField(max_length=10, choices=Proration.choices, default=Proration.DAILY)
    setup_fee = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    allowance_bytes = models.BigIntegerField(null=True, blank=True, help_text="empty: unlimited")
    allowance_counts = models.CharField(
        max_length=10,
        choices=[("download", "Download only"), ("total", "Download and upload")],
        default="download",
        help_text="Which bytes count against the allowance",
    )
    overage_price_per_gb = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="empty: no overage"
    )
    overage_tiers = models.JSONField(
        null=True,
        blank=True,
        help_text='Graduated overage instead of one price: [{"up_to_gb": 50, "per_gb": "10.00"}, '
        '{"up_to_gb": null, "per_gb": "8.00"}] (cumulative GB over the allowance)',
    )
    overage_rounding = models.CharField(
        max_length=10, choices=OverageRounding.choices, default=OverageRounding.UP
    )
    fair_use_down_kbps = models.PositiveIntegerField(null=True, blank=True)
    fair_use_up_kbps = models.PositiveIntegerField(null=True, blank=True)
    down_kbps = models.PositiveIntegerField()
    up_kbps = models.PositiveIntegerField()
    burst_down_kbps = models.PositiveIntegerField(null=True, blank=True)
    burst_up_kbps = models.PositiveIntegerField(null=True, blank=True)
    burst_threshold_down_kbps = models.PositiveIntegerField(null=True, blank=True)
    burst_threshold_up_kbps = models.PositiveIntegerField(null=True, blank=True)
    burst_time_s = models.PositiveIntegerField(null=True, blank=True)
    prepaid_validity_days = models.PositiveIntegerField(null=True, blank=True)
    tax_category = models.ForeignKey(TaxCategory, on_delete=models.PROTECT)
    included_addons = models.ManyToManyField(AddOn, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "version"], name="plan_version_unique"),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="plan_price_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(setup_fee__gte=0), name="plan_setup_fee_not_negative"
            ),
        ]
        ordering = ["plan__code", "-version"]

    def __str__(self) -> str:
        return f"{self.plan.code} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ImmutableVersion(
                f"{self} is immutable; change the plan through a new version instead"
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableVersion(f"{self} is immutable and cannot be deleted")

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for field in ("price", "setup_fee", "overage_price_per_gb"):
            value = getattr(self, field)
            if value is not None and value < 0:
                errors[field] = f"{field.replace('_', ' ')} cannot be negative (got {value})."
        if self.allowance_bytes is not None and self.allowance_bytes < 0:
            errors["allowance_bytes"] = "The data allowance cannot be negative."
        if self.overage_price_per_gb is not None and (self.fair_use_down_kbps is not None):
            errors["fair_use_down_kbps"] = (
                "A plan either charges overage or throttles to a fair-usage speed, not both."
            )
        if self.overage_tiers is not None:
            try:
                self.tier_prices()
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                errors["overage_tiers"] = f"Overage tiers are not valid: {exc}"
            if self.overage_price_per_gb is not None:
                errors["overage_tiers"] = "Give overage tiers or one overage price, not both."
        if self.allowance_bytes is None and (
            self.overage_price_per_gb is not None
            or self.overage_tiers is not None
            or self.fair_use_down_kbps is not None
        ):
            errors["allowance_bytes"] = "Overage or fair-usage needs a data allowance."
        if self.plan_id and self.plan.kind == PlanKind.PREPAID and not self.prepaid_validity_days:
            errors["prepaid_validity_days"] = "A prepaid plan needs its validity in days."
        for field in ("down_kbps", "up_kbps"):
            if getattr(self, field) in (None, 0):
                errors[field] = "Speed must be a positive number of kbit/s."
        if errors:
            raise ValidationError(errors)

    def tier_prices(self) -> list[tuple[int | None, Decimal]] | None:
        """The overage tiers as (cumulative GB bound or None, price per GB), or None."""
        if self.overage_tiers is None:
            return None
        if not isinstance(self.overage_tiers, list) or not self.overage_tiers:
            raise ValueError("expected a non-empty list of tiers")
        tiers = []
        for tier in self.overage_tiers:
            bound = tier["up_to_gb"]
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
                raise ValueError(f"up_to_gb must be a whole number or null, got {bound!r}")
            price = Decimal(str(tier["per_gb"]))
            if not price.is_finite() or price < 0:
                raise ValueError(f"per_gb must be a non-negative amount, got {price}")
            tiers.append((bound, price))
        bounds = [b for b, _ in tiers]
        if bounds[-1] is not None or any(b is None or b <= 0 for b in bounds[:-1]):
            raise ValueError("bounds must be positive and only the last tier open (null)")
        if bounds[:-1] != sorted(set(bounds[:-1])):
            raise ValueError("bounds must increase")
        return tiers

    @property
    def bills_overage(self) -> bool:
        """Data over the allowance is billed (one price or tiers), not cut or throttled."""
        return self.overage_price_per_gb is not None or self.overage_tiers is not None

    @property
    def unlimited(self) -> bool:
        return self.allowance_bytes is None
