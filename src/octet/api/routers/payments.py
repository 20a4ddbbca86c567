"""Payments, refunds and allocations; recording and reversing money needs the billing scope."""

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from octet.api import schemas as s
from octet.api import serialize
from octet.api.auth import get_visible, require, require_staff, visible
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
from octet.billing.models import DocumentKind, Invoice
from octet.customers.models import Customer
from octet.payments import services
from octet.payments.models import Allocation, Payment, Refund

router = Router(tags=["payments"])


class PaymentFilter(Schema):
    customer_id: s.QueryId | None = None
    method: s.AnyPaymentMethod | None = None
    received_from: s.QueryDate | None = Field(None, description="Received on or after (local date)")
    received_to: s.QueryDate | None = Field(None, description="Received on or before (local date)")


@router.get("/payments", response=read(s.PaymentPage), summary="List payments")
def list_payments(request: HttpRequest, page: Page, filters: Query[PaymentFilter]) -> dict:
    qs = visible(request, Payment.objects.prefetch_related("allocations"))
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.method is not None:
        qs = qs.filter(method=filters.method)
    start, end = local_day_range(filters.received_from, filters.received_to, "received")
    if start is not None:
        qs = qs.filter(received_at__gte=start)
    if end is not None:
        qs = qs.filter(received_at__lt=end)
    return paginate(qs, limit=page.limit, cursor=page.cursor, item=serialize.payment)


@router.post("/payments", response=write(s.PaymentOut, 201), summary="Record a payment")
@idempotent
def record_payment(
    request: HttpRequest, payload: s.PaymentIn, idempotency_key: IdempotencyKey = None
) -> Status:
    """Needs the billing scope. Settles the oldest open invoices first (``invoice_id``
    first, if given); what is left stays as the customer's credit. Send an
    ``Idempotency-Key``: a retried request then never records the money twice."""
    token = require(request, Scope.BILLING)
    customer = get_visible(request, Customer.objects.all(), payload.customer_id, "customer", "")
    invoice = None
    if payload.invoice_id is not None:
        invoice = get_visible(
            request,
            Invoice.objects.filter(kind=DocumentKind.INVOICE),
            payload.invoice_id,
            "invoice",
        )
    payment = services.record_payment(
        customer,
        payload.amount,
        payload.method,
        actor=token.actor,
        reference=payload.reference,
        to_invoice=invoice,
        note=payload.note,
    )
    return Status(201, serialize.payment(payment))


@router.get("/payments/{payment_id}", response=read(s.PaymentOut), summary="A payment")
def get_payment(request: HttpRequest, payment_id: PathId) -> s.PaymentOut:
    """With the invoices it settled (its allocations)."""
    return serialize.payment(get_visible(request, Payment.objects.all(), payment_id, "payment"))


@router.post(
    "/payments/{payment_id}/reverse", response=write(s.PaymentOut), summary="Reverse a payment"
)
@idempotent
def reverse_payment(
    request: HttpRequest,
    payment_id: PathId,
    payload: s.ReverseIn,
    idempotency_key: IdempotencyKey = None,
) -> s.PaymentOut:
    """Needs the billing scope, on a staff token (not a customer's). A bounced cheque or a
    chargeback: the invoices it settled are open again."""
    token = require_staff(request, Scope.BILLING)
    payment = get_visible(request, Payment.objects.all(), payment_id, "payment")
    payment = services.reverse_payment(payment, reason=payload.reason, actor=token.actor)
    return serialize.payment(payment)


class RefundFilter(Schema):
    customer_id: s.QueryId | None = None
    payment_id: s.QueryId | None = None


@router.get("/refunds", response=read(s.RefundPage), summary="List refunds")
def list_refunds(request: HttpRequest, page: Page, filters: Query[RefundFilter]) -> dict:
    qs = visible(request, Refund.objects.all())
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.payment_id is not None:
        qs = qs.filter(payment_id=filters.payment_id)
    return paginate(qs, limit=page.limit, cursor=page.cursor, item=serialize.refund)


@router.post("/refunds", response=write(s.RefundOut, 201), summary="Refund credit")
@idempotent
def record_refund(
    request: HttpRequest, payload: s.RefundIn, idempotency_key: IdempotencyKey = None
) -> Status:
    """Needs the billing scope, on a staff token (not a customer's). Pays back credit the customer
    holds (not money that settled an invoice: credit that invoice first)."""
    token = require_staff(request, Scope.BILLING)
    customer = get_visible(request, Customer.objects.all(), payload.customer_id, "customer", "")
    payment = None
    if payload.payment_id is not None:
        payment = get_visible(request, Payment.objects.all(), payload.payment_id, "payment")
    refund = services.record_refund(
        customer,
        payload.amount,
        method=payload.method,
        actor=token.actor,
        reason=payload.reason,
        payment=payment,
        reference=payload.reference,
    )
    return Status(201, serialize.refund(refund))


@router.get("/refunds/{refund_id}", response=read(s.RefundOut), summary="A refund")
def get_refund(request: HttpRequest, refund_id: PathId) -> s.RefundOut:
    return serialize.refund(get_visible(request, Refund.objects.all(), refund_id, "refund"))


class AllocationFilter(Schema):
    customer_id: s.QueryId | None = None
    invoice_id: s.QueryId | None = None
    payment_id: s.QueryId | None = None
    credit_note_id: s.QueryId | None = None


@router.get("/allocations", response=read(s.AllocationPage), summary="List allocations")
def list_allocations(request: HttpRequest, page: Page, filters: Query[AllocationFilter]) -> dict:
    """Which payment or credit note settled how much of which invoice (reversed ones
    carry ``reversed_at``)."""
    qs = visible(request, Allocation.objects.select_related("invoice"))
    for field in ("customer_id", "invoice_id", "payment_id", "credit_note_id"):
        value = getattr(filters, field)
        if value is not None:
            qs = qs.filter(**{field: value})
    return paginate(
        qs,
        limit=page.limit,
        cursor=page.cursor,
        item=lambda a: serialize.allocation(a, a.invoice.currency),
    )
