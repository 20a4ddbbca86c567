from django.contrib import admin

from octet.core.admin import ReadOnlyAdmin
from octet.notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["at", "customer", "kind", "channel", "status", "attempts"]
    list_filter = ["kind", "channel", "status"]
    search_fields = ["customer__name", "customer__account_number"]
    date_hierarchy = "at"
