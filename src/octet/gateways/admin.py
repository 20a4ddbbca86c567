from django.contrib import admin
from django.db import models

from octet.core.admin import ReadOnlyAdmin
from octet.gateways.models import (
    AutoPayAttempt,
    CheckoutLink,
    GatewayAccount,
    SavedMethod,
    WebhookEvent,
)

# Django 6 assumes https for a URL without a scheme; say so now (and silence its warning).
URLS = {models.URLField: {"assume_scheme": "https"}}


@admin.register(GatewayAccount)
class GatewayAccountAdmin(ReadOnlyAdmin):
    """Accounts are added and disabled with `octet gateway`; secrets are never shown."""

    list_display = ["name", "provider", "currency", "enabled", "api_base", "created_at"]
    list_filter = ["provider", "enabled"]
    exclude = ["secret_key_encrypted", "webhook_secret_encrypted"]
    formfield_overrides = URLS


@admin.register(CheckoutLink)
class CheckoutLinkAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "customer", "invoice", "purpose", "amount", "status", "account"]
    list_filter = ["status", "purpose", "account"]
    search_fields = ["provider_id", "customer__account_number", "invoice__number"]
    date_hierarchy = "created_at"
    formfield_overrides = URLS


@admin.register(SavedMethod)
class SavedMethodAdmin(ReadOnlyAdmin):
    list_display = [
        "customer",
        "label",
        "method",
        "auto_pay",
        "account",
        "created_at",
        "revoked_at",
    ]
    list_filter = ["auto_pay", "method", "account"]
    search_fields = ["customer__account_number", "customer__name", "provider_method_id"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "account", "kind", "event_id", "provider_payment_id", "outcome"]
    list_filter = ["kind", "account"]
    search_fields = ["event_id", "provider_payment_id", "outcome"]
    date_hierarchy = "received_at"


@admin.register(AutoPayAttempt)
class AutoPayAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "invoice",
        "attempt",
        "status",
        "amount",
        "next_retry_at",
        "failure_reason",
    ]
    list_filter = ["status"]
    search_fields = ["invoice__number", "provider_payment_id"]
    date_hierarchy = "at"
