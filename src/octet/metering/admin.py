from django.contrib import admin

from octet.core.admin import ReadOnlyAdmin
from octet.metering.models import QuotaEvent, UsageImport, UsagePeriod


@admin.register(UsagePeriod)
class UsagePeriodAdmin(ReadOnlyAdmin):
    list_display = [
        "subscription",
        "period_start",
        "period_end",
        "download_bytes",
        "upload_bytes",
        "allowance_bytes",
    ]
    list_filter = ["period_start"]
    search_fields = ["subscription__username", "subscription__customer__name"]
    list_select_related = ["subscription"]


@admin.register(QuotaEvent)
class QuotaEventAdmin(ReadOnlyAdmin):
    list_display = ["subscription", "period_start", "kind", "at", "action", "restored_at"]
    list_filter = ["kind", "action"]


@admin.register(UsageImport)
class UsageImportAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "filename", "rows", "download_bytes", "upload_bytes"]
