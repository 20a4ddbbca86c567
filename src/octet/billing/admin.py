"""Billing in the back office: documents to read and download, runs, charges and discounts.

Invoices and credit notes are written by the billing engine only (numbering, taxes and the
no-double-billing guard live there): the admin shows them, never edits them, and deletes
only a draft. Corrections are credit notes, issued through the billing services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from octet.billing import services
from octet.billing.models import (
    BillingError,
    BillingRun,
    Coupon,
    CreditNote,
    DocumentKind,
    DocumentStatus,
    Invoice,
    InvoiceLine,
    OneOffCharge,
    SubscriptionDiscount,
)
from octet.core import audit
from octet.core.admin import ReadOnlyAdmin
from octet.core.errors import OctetError


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = [
        "position",
        "description",
        "sac",
        "quantity",
        "unit_price",
        "amount",
        "taxes_display",
        "tax_amount",
        "total",
        "period_start",
        "period_end",
        "charge_key",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="taxes")
    def taxes_display(self, line: InvoiceLine) -> str:
        return ", ".join(f"{t['name']} {t['rate']}% {t['amount']}" for t in line.taxes or [])


def download_links(invoice: Invoice) -> str:
    if invoice.status != DocumentStatus.ISSUED:
        return "—"
    return format_html(
        '<a href="{}">PDF</a> · <a href="{}">UBL XML</a>',
        reverse("billing:document-pdf", args=[invoice.pk]),
        reverse("billing:document-xml", args=[invoice.pk]),
    )


class DocumentAdmin(admin.ModelAdmin):
    """Shared by invoices and credit notes: view and download only."""

    kind: str = DocumentKind.INVOICE
    list_display = ["number_or_draft", "customer", "kind", "status", "issued_at", "total", "files"]
    list_filter = ["status", "tax_regime", "issued_at"]
    search_fields = ["number", "customer__name", "customer__account_number", "customer__gstin"]
    date_hierarchy = "issued_at"
    list_select_related = ["customer"]
    inlines = [InvoiceLineInline]
    readonly_fields = ["files", "parties"]
    fieldsets = [
        (None, {"fields": ["files", "kind", "status", "number", "customer", "subscription"]}),
        ("Dates", {"fields": ["issued_at", "due_date", "created_at"]}),
        (
            "Amounts",
            {"fields": ["currency", "subtotal", "tax_total", "total", "tax_regime"]},
        ),
        ("Tax", {"fields": ["place_of_supply", "tax_note", "parties"]}),
        ("Origin", {"fields": ["against", "reason", "billing_run", "actor"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=self.kind)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # issued documents never change; drafts belong to the billing engine

    def has_delete_permission(self, request, obj=None):
        # Only a draft, one at a time (the bulk action would bypass Invoice.delete).
        return obj is not None and obj.status == DocumentStatus.DRAFT

    @admin.display(description="number", ordering="number")
    def number_or_draft(self, invoice: Invoice) -> str:
        return str(invoice)

    @admin.display(description="files")
    def files(self, invoice: Invoice) -> str:
        return download_links(invoice)

    @admin.display(description="seller and buyer (as issued)")
    def parties(self, invoice: Invoice) -> str:
        rows = []
        for label, party in (("Seller", invoice.seller), ("Buyer", invoice.buyer)):
            ids = " ".join(f"{k.upper()} {party[k]}" for k in ("gstin", "vat_id") if party.get(k))
            rows.append((label, party.get("name", ""), party.get("address", ""), ids))
        return format_html_join("", "<div><b>{}:</b> {} — {} <code>{}</code></div>", rows)


@admin.register(Invoice)
class InvoiceAdmin(DocumentAdmin):
    kind = DocumentKind.INVOICE


@admin.register(CreditNote)
class CreditNoteAdmin(DocumentAdmin):
    kind = DocumentKind.CREDIT_NOTE
    list_display = [
        "number_or_draft",
        "customer",
        "against",
        "status",
        "issued_at",
        "total",
        "files",
    ]


class BillingErrorInline(admin.TabularInline):
    model = BillingError
    fields = ["at", "subscription", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "as_of",
        "started_at",
        "finished_at",
        "status",
        "trigger",
        "subscriptions_billed",
        "invoices_issued",
        "credit_notes_issued",
        "errors",
    ]
    list_filter = ["status", "trigger"]
    date_hierarchy = "started_at"
    inlines = [BillingErrorInline]


class OneOffChargeForm(forms.ModelForm):
    """Added through the billing service (checks, audit), inside the admin's transaction."""

    class Meta:
        model = OneOffCharge
        fields = ["subscription", "description", "unit_price", "quantity", "reason"]

    actor = ""  # set per request by OneOffChargeAdmin.get_form
    created: OneOffCharge | None = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            # A savepoint: a refusal leaves nothing behind and the form shows the message.
            with transaction.atomic():
                self.created = services.add_one_off_charge(
                    data["subscription"],
                    description=data["description"],
                    unit_price=data["unit_price"],
                    quantity=data["quantity"],
                    reason=data.get("reason", ""),
                    actor=self.actor,
                )
        except OctetError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, exc.message)
        return data


@admin.register(OneOffCharge)
class OneOffChargeAdmin(admin.ModelAdmin):
    form = OneOffChargeForm
    list_display = ["description", "subscription", "unit_price", "quantity", "created_at"]
    search_fields = ["description", "subscription__username", "subscription__customer__name"]
    raw_id_fields = ["subscription"]
    readonly_fields = ["created_at", "created_by"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user.get_username()})

    def has_change_permission(self, request, obj=None):
        return False  # a charge may already be billed: cancel it with a credit note

    def has_delete_permission(self, request, obj=None):
        return False

    def save_form(self, request, form, change):
        return form.created  # saved (and audited) by the service in form.clean

    def save_model(self, request, obj, form, change):
        pass

    def save_related(self, request, form, formsets, change):
        pass


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ["code", "percent", "amount", "cycles", "valid_until", "active"]
    list_filter = ["active", "applies_to"]
    search_fields = ["code"]

    def has_delete_permission(self, request, obj=None):
        return False  # redeemed coupons are referenced; deactivate instead

    def save_model(self, request, obj, form, change):
        obj.code = obj.code.strip().upper()
        before = audit.snapshot(Coupon.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        audit.record(
            actor=request.user.get_username(),
            action="coupon.updated" if change else "coupon.created",
            instance=obj,
            reason="edited in admin",
            before=before,
        )


@admin.register(SubscriptionDiscount)
class SubscriptionDiscountAdmin(ReadOnlyAdmin):
    """Applied through the billing services (coupon checks, audit); listed here."""

    list_display = ["code", "subscription", "percent", "amount", "cycles", "created_at"]
    search_fields = ["code", "subscription__username", "subscription__customer__name"]
