"""Batches and vouchers, read-only: they change only through octet.vouchers.services.

No code is shown anywhere because none is stored; a voucher's hash is left out too.
"""

from django.contrib import admin

from octet.core.admin import ReadOnlyAdmin
from octet.vouchers.models import FailedRedemption, Voucher, VoucherBatch


@admin.register(VoucherBatch)
class VoucherBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "name",
        "value",
        "currency",
        "plan",
        "count",
        "valid_until",
        "status",
        "sold_to",
        "sold_at",
    ]
    list_filter = ["status", "plan", "sale_method"]
    search_fields = ["name", "sold_to", "number"]
    date_hierarchy = "created_at"


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    list_display = ["serial", "batch", "status", "redeemed_by", "redeemed_at", "payment"]
    list_filter = ["status"]
    search_fields = ["serial", "redeemed_by__account_number"]
    list_select_related = ["batch", "redeemed_by", "payment"]
    fields = ["batch", "position", "serial", "status", "redeemed_by", "redeemed_at", "payment"]
    readonly_fields = fields


@admin.register(FailedRedemption)
class FailedRedemptionAdmin(ReadOnlyAdmin):
    list_display = ["at", "customer", "reason", "actor"]
    list_filter = ["reason"]
    search_fields = ["customer__account_number"]
    date_hierarchy = "at"
