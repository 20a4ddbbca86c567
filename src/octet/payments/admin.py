from django.contrib import admin

from octet.core.admin import ReadOnlyAdmin
from octet.payments.models import Allocation, Payment


class AllocationInline(admin.TabularInline):
    model = Allocation
    fk_name = "payment"
    extra = 0
    can_delete = False
    fields = ["invoice", "amount", "at", "reversed_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    """Payments are recorded through octet.payments.services (allocation, audit, receipt)."""

    list_display = [
        "received_at",
        "customer",
        "amount",
        "currency",
        "method",
        "reference",
        "status",
    ]
    list_filter = ["method", "status", "gateway"]
    search_fields = [
        "reference",
        "gateway_payment_id",
        "customer__account_number",
        "customer__name",
    ]
    inlines = [AllocationInline]


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ["at", "customer", "invoice", "payment", "credit_note", "amount", "reversed_at"]
    search_fields = ["invoice__number", "customer__account_number"]
