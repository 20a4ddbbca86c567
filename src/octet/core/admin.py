from django.contrib import admin

from octet.core.models import AuditEntry, Operator


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs and records written by Octet itself: staff read them, never edit them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "currency", "tax_regime", "gstin"]

    def has_add_permission(self, request):
        return not Operator.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from octet.core import audit

        before = audit.snapshot(Operator.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        audit.record(
            actor=request.user.get_username(),
            action="operator.updated" if change else "operator.created",
            instance=obj,
            reason="edited in admin",
            before=before,
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only: the audit log is evidence, nobody edits it."""

    list_display = ["at", "actor", "action", "entity", "entity_id", "reason"]
    list_filter = ["action", "entity"]
    search_fields = ["actor", "entity_id", "reason"]
    date_hierarchy = "at"
