"""Invoices and credit notes: list, read, PDF and UBL; credit notes, write-offs, drafts
(billing)."""

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from octet.api import schemas as s
from octet.api import serialize
from octet.api.auth import get_visible, require_staff, token_of
from octet.api.idempotency import idempotent
from octet.api.models import Scope
from octet.api.pagination import paginate
from octet.api.routers.common import (
    IdempotencyKey,
    Page,
    PathId,
    local_day_range,
    read,
    write,
)
from octet.billing import documents, ubl
from octet.billing import services as billing
from octet.billing.models import DocumentKind, DocumentStatus, Invoice
from octet.core.money import Money
from octet.payments import services as payments
from octet.payments.models import Allocation

router = Router(tags=["invoices"])


def _documents(request: HttpRequest) -> QuerySet[Invoice]:
    qs = Invoice.objects.all()
    customer_id = token_of(request).customer_id
    if customer_id is not None:  # a customer sees what was issued to them, never drafts
        qs = qs.filter(customer_id=customer_id, status=DocumentStatus.ISSUED)
    return qs


def _get(request: HttpRequest, invoice_id: int) -> Invoice:
    return get_visible(request, _documents(request), invoice_id, "invoice or credit note")


def _detail(inv: Invoice) -> s.InvoiceDetailOut:
    open_amount = credited = None
    if inv.kind == DocumentKind.INVOICE and inv.status == DocumentStatus.ISSUED:
        open_now = {
            o.id: o.open_amount
            for o in payments.open_invoices([inv.customer_id]).get(inv.customer_id, [])
        }
        open_amount = open_now.get(inv.pk, Money.zero(inv.currency))
        credited = billing.credited_total(inv)
    return serialize.invoice_detail(inv, open_amount, credited)


class InvoiceFilter(Schema):
    customer_id: s.QueryId | None = None
    subscription_id: s.QueryId | None = None
    kind: s.DocumentKind | None = None
    status: s.DocumentStatus | None = None
    issued_from: s.QueryDate | None = Field(None, description="Issued on or after this local date")
    issued_to: s.QueryDate | None = Field(None, description="Issued on or before this local date")


@router.get("", response=read(s.InvoicePage), summary="List invoices and credit notes")
def list_invoices(request: HttpRequest, page: Page, filters: Query[InvoiceFilter]) -> dict:
    """Both kinds (``kind`` to choose), in id order. Dates are the operator's local dates."""
    qs = _documents(request)
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.subscription_id is not None:
        qs = qs.filter(subscription_id=filters.subscription_id)
    if filters.kind is not None:
        qs = qs.filter(kind=filters.kind)
    if filters.status is not None:
        qs = qs.filter(status=filters.status)
    start, end = local_day_range(filters.issued_from, filters.issued_to, "issued")
    if start is not None:
        qs = qs.filter(issued_at__gte=start)
    if end is not None:
        qs = qs.filter(issued_at__lt=end)
    return paginate(qs, limit=page.limit, cursor=page.cursor, item=serialize.invoice)


@router.get("/{invoice_id}", response=read(s.InvoiceDetailOut), summary="An invoice or credit note")
def get_invoice(request: HttpRequest, invoice_id: PathId) -> s.InvoiceDetailOut:
    """With its lines and, for an issued invoice, what is left to pay and what was credited."""
    return _detail(_get(request, invoice_id))


def _download(inv: Invoice, body: bytes, content_type: str, extension: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{documents.filename(inv, extension)}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _binary(media_type: str, what: str) -> dict:
    return {
        "responses": {
            200: {
                "description": what,
                "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    }


@router.get(
    "/{invoice_id}/pdf",
    response=read(None, 409),
    summary="The PDF",
    openapi_extra=_binary("application/pdf", "The document as PDF"),
)
def invoice_pdf(request: HttpRequest, invoice_id: PathId) -> HttpResponse:
    """Issued documents only (409 for a draft or a void one)."""
    inv = _get(request, invoice_id)
    return _download(inv, documents.render_pdf(inv), "application/pdf", "pdf")


@router.get(
    "/{invoice_id}/ubl",
    response=read(None, 409),
    summary="The UBL XML (EN 16931)",
    openapi_extra=_binary("application/xml", "The document as UBL 2.1 XML"),
)
def invoice_ubl(request: HttpRequest, invoice_id: PathId) -> HttpResponse:
    """Issued documents only (409 for a draft or a void one)."""
    inv = _get(request, invoice_id)
    return _download(inv, ubl.ubl_xml(inv), "application/xml", "xml")


@router.get(
    "/{invoice_id}/allocations",
    response=read(s.AllocationPage),
    summary="What settled an invoice (or what a credit note settled)",
)
def invoice_allocations(request: HttpRequest, invoice_id: PathId, page: Page) -> dict:
    inv = _get(request, invoice_id)
    qs = (
        Allocation.objects.filter(credit_note=inv)
        if inv.kind == DocumentKind.CREDIT_NOTE
        else Allocation.objects.filter(invoice=inv)
    )
    currency = inv.currency
    return paginate(
        qs,
        limit=page.limit,
        cursor=page.cursor,
        item=lambda a: serialize.allocation(a, currency),
    )


@router.post(
    "/{invoice_id}/credit-notes",
    response=write(s.InvoiceDetailOut, 201),
    summary="Issue a credit note",
)
@idempotent
def credit_note(
    request: HttpRequest,
    invoice_id: PathId,
    payload: s.CreditNoteIn,
    idempotency_key: IdempotencyKey = None,
) -> Status:
    """Needs the billing scope, on a staff token (not a customer's). ``amount`` (tax included) is
    spread over the invoice's lines in proportion; at most what is left to credit. It settles
    what is open, else stays as the customer's credit."""
    token = require_staff(request, Scope.BILLING)
    inv = _get(request, invoice_id)
    note = billing.issue_credit_note(inv, payload.amount, reason=payload.reason, actor=token.actor)
    return Status(201, _detail(note))


@router.post("/{invoice_id}/write-off", response=write(s.WriteOffOut, 201), summary="Write off")
@idempotent
def write_off(
    request: HttpRequest,
    invoice_id: PathId,
    payload: s.WriteOffIn,
    idempotency_key: IdempotencyKey = None,
) -> Status:
    """Needs the billing scope, on a staff token (not a customer's). Give up (part of) what is open
    as bad debt."""
    token = require_staff(request, Scope.BILLING)
    inv = _get(request, invoice_id)
    row = payments.write_off(inv, actor=token.actor, reason=payload.reason, amount=payload.amount)
    return Status(201, serialize.write_off(row))


@router.post("/{invoice_id}/issue", response=write(s.InvoiceDetailOut), summary="Issue a draft")
@idempotent
def issue(
    request: HttpRequest, invoice_id: PathId, idempotency_key: IdempotencyKey = None
) -> s.InvoiceDetailOut:
    """Needs the billing scope, on a staff token (not a customer's). The draft gets its number now
    and never changes again."""
    token = require_staff(request, Scope.BILLING)
    inv = billing.issue_draft(_get(request, invoice_id), actor=token.actor)
    return _detail(Invoice.objects.get(pk=inv.pk))


@router.post("/{invoice_id}/void", response=write(s.InvoiceDetailOut), summary="Void a draft")
def void(request: HttpRequest, invoice_id: PathId, payload: s.VoidIn) -> s.InvoiceDetailOut:
    """Needs the billing scope, on a staff token (not a customer's). Only a draft (an issued
    document takes a credit note)."""
    token = require_staff(request, Scope.BILLING)
    inv = billing.void_draft(_get(request, invoice_id), reason=payload.reason, actor=token.actor)
    return _detail(Invoice.objects.get(pk=inv.pk))
