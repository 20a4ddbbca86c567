from django import forms
from django.contrib import admin, messages

from octet.core import audit
from octet.core.admin import ReadOnlyAdmin
from octet.core.errors import OctetError
from octet.subscriptions import credentials, services
from octet.subscriptions.models import PlanChange, StateChange, Subscription


class StateChangeInline(admin.TabularInline):
    model = StateChange
    fields = ["at", "from_state", "to_state", "reason", "note", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class SubscriptionForm(forms.ModelForm):
    radius_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Set to change the RADIUS password; leave empty to keep it.",
    )

    class Meta:
        model = Subscription
        fields = ["customer", "plan_version", "username", "static_ip", "framed_pool", "addons"]

    def clean(self):
        data = super().clean()
        password = data.get("radius_password")
        try:
            if self.instance.pk is None:
                if "username" in data:
                    data["username"] = credentials.normalize_username(data["username"])
                    if services.username_taken(data["username"]):
                        self.add_error("username", "This RADIUS username is already in use.")
                credentials.check_password(password or "")
            elif password:
                credentials.check_password(password)
        except credentials.InvalidCredential as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = [
        "username",
        "customer",
        "plan_version",
        "state",
        "suspend_reason",
        "activated_at",
    ]
    list_filter = ["state", "suspend_reason", "plan_version__plan"]
    search_fields = ["username", "customer__name", "customer__account_number", "customer__phone"]
    raw_id_fields = ["customer"]
    inlines = [StateChangeInline]
    actions = ["suspend_selected", "reconnect_selected", "terminate_selected"]

    def get_readonly_fields(self, request, obj=None):
        base = [
            "state",
            "suspend_reason",
            "activated_at",
            "terminated_at",
            "cancel_at",
            "anchor_date",
        ]
        # Plan moves go through a plan change; the name through support (NAS sessions use it).
        return base + (["customer", "plan_version", "username"] if obj else [])

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        actor = request.user.get_username()
        password = form.cleaned_data.get("radius_password")
        if not change:
            saved = services.subscribe(
                form.cleaned_data["customer"],
                form.cleaned_data["plan_version"],
                username=form.cleaned_data["username"],
                password=password or "",
                actor=actor,
                static_ip=form.cleaned_data.get("static_ip"),
                framed_pool=form.cleaned_data.get("framed_pool") or "",
            )
            obj.pk = saved.pk
            return
        before = audit.snapshot(Subscription.objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)
        audit.record(
            actor=actor,
            action="subscription.updated",
            instance=obj,
            reason="edited in admin",
            before=before,
        )
        if password:
            services.set_radius_password(obj, password, actor=actor, reason="reset in admin")

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def _bulk(self, request, queryset, fn, **kwargs):
        done = 0
        for sub in queryset:
            try:
                fn(sub, actor=request.user.get_username(), **kwargs)
                done += 1
            except OctetError as exc:
                self.message_user(request, f"{sub.username}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} subscription(s) updated.")

    @admin.action(description="Suspend (staff)")
    def suspend_selected(self, request, queryset):
        self._bulk(request, queryset, services.suspend, reason="staff", note="admin action")

    @admin.action(description="Reconnect")
    def reconnect_selected(self, request, queryset):
        self._bulk(request, queryset, services.reconnect, reason="reconnected by staff")

    @admin.action(description="Terminate")
    def terminate_selected(self, request, queryset):
        self._bulk(request, queryset, services.terminate, reason="terminated by staff")


@admin.register(PlanChange)
class PlanChangeAdmin(ReadOnlyAdmin):
    list_display = ["subscription", "from_version", "to_version", "when", "effective_at", "status"]
    list_filter = ["status", "when"]
