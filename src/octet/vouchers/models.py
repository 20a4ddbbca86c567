"""Prepaid voucher batches, their vouchers, and failed redemption attempts.

No code is stored anywhere: a voucher keeps only the keyed hash of its code
(:mod:`octet.vouchers.codes`), so neither the database nor the admin can reveal one.
"""

from __future__ import annotations

from django.db import models

from octet.billing.models import MONEY
from octet.catalog.models import Plan
from octet.customers.models import Customer
from octet.payments.models import Method, Payment


class VoucherBatch(models.Model):
    """A print run of vouchers of one face value: sold as a whole, to a reseller or a shop.

    With a ``plan`` each voucher recharges (or activates) the redeeming customer's prepaid
    subscription on that plan; without one it is a top-up whose value becomes credit.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        VOID = "void", "Void (cancelled)"

    number = models.PositiveIntegerField(unique=True, help_text="B0007 is batch 7")
    name = models.CharField(max_length=200)
    value = models.DecimalField(**MONEY, help_text="face value of each voucher")
    currency = models.CharField(max_length=3)
    plan = models.ForeignKey(
        Plan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="prepaid plan the vouchers recharge; empty: account credit (top-up)",
    )
    count = models.PositiveIntegerField()
    valid_until = models.DateField(help_text="last day (operator's time zone) to redeem")
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)
    sold_to = models.CharField(max_length=200, blank=True, help_text="reseller or shop")
    sold_at = models.DateTimeField(null=True, blank=True)
    sold_by = models.CharField(max_length=150, blank=True)
    sale_method = models.CharField(max_length=16, blank=True, choices=Method.choices)
    sale_reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["-number"]
        verbose_name_plural = "voucher batches"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__gt=0), name="voucher_batch_value_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(count__gt=0), name="voucher_batch_count_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def code(self) -> str:
        return batch_code(self.number)


def batch_code(number: int) -> str:
    return f"B{number:04d}"


class Voucher(models.Model):
    """One printed card: its serial (printed, not secret) and the hash of its code."""

    class Status(models.TextChoices):
        UNUSED = "unused", "Unused"
        REDEEMED = "redeemed", "Redeemed"
        VOID = "void", "Void (cancelled)"

    batch = models.ForeignKey(VoucherBatch, on_delete=models.PROTECT, related_name="vouchers")
    position = models.PositiveIntegerField(help_text="1, 2, … within the batch")
    serial = models.CharField(max_length=24, unique=True, help_text="e.g. B0007-000123")
    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.UNUSED)
    redeemed_by = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    redeemed_at = models.DateTimeField(null=True, blank=True)
    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="voucher"
    )

    class Meta:
        ordering = ["batch_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "position"], name="voucher_position_in_batch_unique"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="redeemed")
                    & models.Q(redeemed_by__isnull=False)
                    & models.Q(redeemed_at__isnull=False)
                    & models.Q(payment__isnull=False)
                )
                | (~models.Q(status="redeemed") & models.Q(payment__isnull=True)),
                name="voucher_redeemed_has_payment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial} ({self.status})"


class FailedRedemption(models.Model):
    """A code a customer tried that did not redeem: counted to stop guessing.

    Kept in the database (not in a process's memory) so the limit holds across web
    workers, the CLI and restarts. The code tried is never stored.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    reason = models.CharField(max_length=16)
    actor = models.CharField(max_length=150)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} customer {self.customer_id}: {self.reason}"
