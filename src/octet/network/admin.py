from django import forms
from django.contrib import admin

from octet.core import audit, clock
from octet.core.admin import ReadOnlyAdmin
from octet.network.models import AuthLog, CoaRequest, Nas, RadiusSession


class NasForm(forms.ModelForm):
    shared_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Set to change; leave empty to keep the current secret.",
    )

    class Meta:
        model = Nas
        fields = [
            "name",
            "address",
            "vendor",
            "coa_address",
            "coa_port",
            "require_message_authenticator",
            "enabled",
            "description",
        ]

    def clean(self):
        data = super().clean()
        secret = data.get("shared_secret")
        if self.instance.pk is None and not secret:
            self.add_error("shared_secret", "A new NAS needs its shared secret.")
        if secret and len(secret) < 8:
            self.add_error("shared_secret", "Use at least 8 characters.")
        return data


@admin.register(Nas)
class NasAdmin(admin.ModelAdmin):
    form = NasForm
    list_display = ["name", "address", "vendor", "coa_port", "enabled"]
    list_filter = ["vendor", "enabled"]
    search_fields = ["name", "address"]

    def save_model(self, request, obj, form, change):
        before = audit.snapshot(Nas.objects.get(pk=obj.pk)) if change else None
        if form.cleaned_data.get("shared_secret"):
            obj.set_secret(form.cleaned_data["shared_secret"])
        if not change:
            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)
        audit.record(
            actor=request.user.get_username(),
            action="nas.updated" if change else "nas.created",
            instance=obj,
            reason="edited in admin",
            before=before,
        )


class OpenFilter(admin.SimpleListFilter):
    title = "session"
    parameter_name = "live"

    def lookups(self, request, model_admin):
        return [("yes", "Live"), ("no", "Closed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(stopped_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(stopped_at__isnull=False)
        return queryset


@admin.register(RadiusSession)
class RadiusSessionAdmin(ReadOnlyAdmin):
    list_display = [
        "username",
        "nas",
        "started_at",
        "updated_at",
        "stopped_at",
        "download_bytes",
        "upload_bytes",
        "framed_ip",
        "terminate_cause",
    ]
    list_filter = [OpenFilter, "nas", "terminate_cause"]
    search_fields = ["username", "acct_session_id", "framed_ip", "calling_station_id"]
    date_hierarchy = "started_at"
    list_select_related = ["nas"]


@admin.register(AuthLog)
class AuthLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "username", "nas", "result", "reason", "calling_station_id"]
    list_filter = ["result", "reason", "nas"]
    search_fields = ["username", "calling_station_id"]
    date_hierarchy = "at"


@admin.register(CoaRequest)
class CoaRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "reason",
        "nas",
        "subscription",
        "status",
        "attempts",
        "response",
    ]
    list_filter = ["kind", "status", "reason", "nas"]
