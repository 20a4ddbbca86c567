from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from octet.core import audit, clock
from octet.core.admin import ReadOnlyAdmin
from octet.notifications import delivery, rendering
from octet.notifications.models import (
    Channel,
    Notification,
    NotificationDelivery,
    NotificationPreference,
    NotificationTemplate,
)


class DeliveryInline(admin.TabularInline):
    model = NotificationDelivery
    extra = 0
    can_delete = False
    fields = ["channel", "to", "status", "attempts", "next_attempt_at", "sent_at", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["at", "customer", "kind", "status", "attempts", "last_error"]
    list_filter = ["kind", "status"]
    search_fields = ["customer__name", "customer__account_number"]
    date_hierarchy = "at"
    list_select_related = ["customer"]
    inlines = [DeliveryInline]


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: read-only, with "retry now" for failed and skipped deliveries."""

    list_display = [
        "created_at",
        "customer",
        "kind",
        "channel",
        "to",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "channel", "notification__kind"]
    search_fields = [
        "notification__customer__name",
        "notification__customer__account_number",
        "to",
        "provider_message_id",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["notification__customer"]
    actions = ["retry_now"]

    @admin.display(ordering="notification__customer__name")
    def customer(self, obj: NotificationDelivery):
        return obj.notification.customer

    @admin.display(ordering="notification__kind")
    def kind(self, obj: NotificationDelivery) -> str:
        return obj.notification.kind

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("notifications.change_notificationdelivery")

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        count = delivery.retry_now(list(queryset), actor=request.user.get_username())
        left = queryset.count() - count
        message = f"{count} queued for the next worker pass"
        if left:
            message += f"; {left} already sent or being sent were left alone"
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["customer", "kind", "email", "sms", "updated_at"]
    list_filter = ["kind", "email", "sms"]
    search_fields = ["customer__name", "customer__account_number"]
    raw_id_fields = ["customer"]
    readonly_fields = ["updated_at"]
    list_select_related = ["customer"]

    def save_model(self, request, obj, form, change):
        before = audit.snapshot(NotificationPreference.objects.get(pk=obj.pk)) if change else None
        obj.updated_at = clock.now()
        super().save_model(request, obj, form, change)
        audit.record(
            actor=request.user.get_username(),
            action="notification_preference.updated" if change else "notification_preference.set",
            instance=obj,
            reason="edited in admin",
            before=before,
        )


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    """Staff-edited templates: an active one replaces the shipped file of its kind."""

    list_display = ["kind", "channel", "language", "active", "updated_at", "updated_by"]
    list_filter = ["kind", "channel", "active"]
    readonly_fields = ["variables", "shipped_default", "preview", "updated_at", "updated_by"]
    fieldsets = [
        (None, {"fields": ["kind", "channel", "language", "active"]}),
        ("Template", {"fields": ["subject", "body_text", "body_html"]}),
        ("Help", {"fields": ["variables", "shipped_default", "preview"]}),
        ("Changed", {"fields": ["updated_at", "updated_by"]}),
    ]

    def get_changeform_initial_data(self, request):
        # "Add" with ?kind=...&channel=... starts from the shipped text.
        initial = super().get_changeform_initial_data(request)
        kind, channel = initial.get("kind"), initial.get("channel") or Channel.EMAIL
        if kind:
            initial.update(rendering.shipped_source(kind, channel))
        return initial

    @admin.display(description="Variables")
    def variables(self, obj: NotificationTemplate) -> str:
        names = rendering.VARIABLES.get(obj.kind, ()) if obj.kind else ()
        common = rendering.COMMON_VARIABLES
        return format_html(
            "<div>{}</div><div>All kinds: {}</div>"
            "<div>See docs/notifications.md for what each one holds.</div>",
            format_html_join(", ", "<code>{{{{ {} }}}}</code>", ((n,) for n in names)),
            format_html_join(", ", "<code>{{{{ {} }}}}</code>", ((n,) for n in common)),
        )

    @admin.display(description="Shipped default")
    def shipped_default(self, obj: NotificationTemplate) -> str:
        if not obj.kind:
            return "-"
        source = rendering.shipped_source(obj.kind, obj.channel or Channel.EMAIL)
        return format_html_join(
            "",
            "<p><strong>{}</strong></p><pre style='white-space:pre-wrap'>{}</pre>",
            ((field, text) for field, text in source.items()),
        )

    @admin.display(description="Preview (latest notification of this kind)")
    def preview(self, obj: NotificationTemplate) -> str:
        if not obj.pk:
            return "Save to see a preview."
        latest = Notification.objects.filter(kind=obj.kind).order_by("-at", "-id").first()
        if latest is None:
            return "No notification of this kind yet."
        try:
            out = rendering.render(latest, obj.channel, template=obj)
        except rendering.RenderError as exc:
            return format_html("<strong>{}</strong>", str(exc))
        return format_html(
            "<p><strong>{}</strong></p><pre style='white-space:pre-wrap'>{}</pre>",
            out.subject,
            out.text,
        )

    def save_model(self, request, obj, form, change):
        before = audit.snapshot(NotificationTemplate.objects.get(pk=obj.pk)) if change else None
        obj.updated_at = clock.now()
        obj.updated_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        audit.record(
            actor=obj.updated_by,
            action="notification_template.updated" if change else "notification_template.created",
            instance=obj,
            reason="edited in admin",
            before=before,
        )
