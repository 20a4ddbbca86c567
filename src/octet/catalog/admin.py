from django.contrib import admin

from octet.catalog import services
from octet.catalog.models import AddOn, Plan, PlanVersion, TaxCategory
from octet.core import audit


class PlanVersionInline(admin.TabularInline):
    model = PlanVersion
    fields = [
        "version",
        "price",
        "interval",
        "allowance_bytes",
        "down_kbps",
        "up_kbps",
        "created_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "available", "created_at"]
    list_filter = ["kind", "available"]
    search_fields = ["code", "name"]
    readonly_fields = ["created_at"]
    inlines = [PlanVersionInline]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from octet.core import clock

        before = audit.snapshot(Plan.objects.get(pk=obj.pk)) if change else None
        if not change:
            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)
        audit.record(
            actor=request.user.get_username(),
            action="plan.updated" if change else "plan.created",
            instance=obj,
            reason="edited in admin",
            before=before,
        )


@admin.register(PlanVersion)
class PlanVersionAdmin(admin.ModelAdmin):
    """Versions are added, never edited: saving new terms publishes the next version."""

    list_display = ["plan", "version", "price", "interval", "allowance_bytes", "created_at"]
    list_filter = ["plan", "interval"]
    exclude = ["version", "created_at", "created_by"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in PlanVersion._meta.fields] + ["included_addons"]

    def has_change_permission(self, request, obj=None):
        return False  # a saved version is view-only; new terms are added as the next version

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        terms = {k: v for k, v in form.cleaned_data.items() if k != "plan"}
        saved = services.publish_version(
            form.cleaned_data["plan"], terms, actor=request.user.get_username(), reason="admin"
        )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # add-ons were set by publish_version


@admin.register(TaxCategory)
class TaxCategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "sac", "rate", "exempt"]


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "price", "interval", "active"]
