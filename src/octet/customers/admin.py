from django.contrib import admin

from octet.customers import services
from octet.customers.models import Customer


class SubscriptionInline(admin.TabularInline):
    from octet.subscriptions.models import Subscription

    model = Subscription
    fields = ["username", "plan_version", "state", "suspend_reason", "activated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["account_number", "name", "phone", "email", "state_code", "gstin", "group"]
    list_filter = ["kind", "state_code", "group"]
    search_fields = ["account_number", "name", "email", "phone", "gstin", "subscriptions__username"]
    readonly_fields = ["account_number", "created_at", "updated_at"]
    inlines = [SubscriptionInline]
    fieldsets = [
        (None, {"fields": ["account_number", "name", "kind", "group"]}),
        ("Contact", {"fields": ["email", "phone", "alt_phone"]}),
        (
            "Billing address",
            {
                "fields": [
                    "billing_address",
                    "billing_city",
                    "billing_postal_code",
                    "state_code",
                    "country",
                ]
            },
        ),
        ("Service address", {"fields": ["service_address", "service_city", "service_postal_code"]}),
        ("Tax identity", {"fields": ["gstin", "vat_id", "tax_exempt"]}),
        ("Notes", {"fields": ["notes", "created_at", "updated_at"]}),
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # accounts with history are never deleted

    def save_model(self, request, obj, form, change):
        # Route through the services so numbering and the audit log are the same as elsewhere.
        actor = request.user.get_username()
        data = {f: getattr(obj, f) for f in form.changed_data if f in services.EDITABLE_FIELDS}
        if change:
            current = Customer.objects.get(pk=obj.pk)
            saved = services.update_customer(current, data, actor=actor, reason="edited in admin")
        else:
            fields = {
                f: form.cleaned_data[f] for f in form.cleaned_data if f in services.EDITABLE_FIELDS
            }
            saved = services.create_customer(fields, actor=actor, reason="created in admin")
        obj.pk = saved.pk
        obj.account_number = saved.account_number
        obj.created_at, obj.updated_at = saved.created_at, saved.updated_at
