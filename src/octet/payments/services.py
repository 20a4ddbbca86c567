"""Payments and allocation: money received, and what it (and credit notes) settles.

Policy (../shared/scenarios/FORMAT.md): payments and credit notes settle the oldest open
invoice first; what is left stays as account credit and settles the next invoice when it
is issued. Every allocation for a customer happens under a lock on that customer's row, so
two payments (or a webhook and a clerk) at once never settle more than is open.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum

from octet.billing.models import DocumentKind, DocumentStatus, Invoice
from octet.core import audit, clock
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.core.models import Operator
from octet.core.money import Money, sum_money
from octet.core.validation import money_input
from octet.customers.models import Customer
from octet.notifications.services import notify
from octet.payments.allocation import OpenInvoice, allocate
from octet.payments.models import Allocation, Method, Payment


def _allocated(filter_q: Q, key: str) -> dict[int, Decimal]:
    rows = (
        Allocation.objects.filter(filter_q, reversed_at__isnull=True)
        .values(key)
        .annotate(total=Sum("amount"))
    )
    return {row[key]: row["total"] for row in rows}


def open_invoices(customer_ids: Iterable[int]) -> dict[int, list[OpenInvoice]]:
    """Issued invoices with something still to settle, per customer."""
    ids = list(customer_ids)
    invoices = list(
        Invoice.objects.filter(
            customer_id__in=ids, kind=DocumentKind.INVOICE, status=DocumentStatus.ISSUED
        ).values("id", "customer_id", "total", "currency", "issued_at", "sequence_number")
    )
    paid = _allocated(Q(invoice_id__in=[i["id"] for i in invoices]), "invoice_id")
    out: dict[int, list[OpenInvoice]] = defaultdict(list)
    for inv in invoices:
        left = Money(inv["total"] - paid.get(inv["id"], 0), inv["currency"])
        if left.is_positive():
            out[inv["customer_id"]].append(
                OpenInvoice(inv["id"], (inv["issued_at"], inv["sequence_number"]), left)
            )
    return out


def _unapplied(customer_ids: Iterable[int]) -> dict[int, list[tuple[tuple, str, int, Money]]]:
    """Payments and credit notes not yet fully allocated: (order, kind, id, left)."""
    ids = list(customer_ids)
    out: dict[int, list[tuple[tuple, str, int, Money]]] = defaultdict(list)
    payments = list(
        Payment.objects.filter(customer_id__in=ids, status=Payment.Status.RECEIVED).values(
            "id", "customer_id", "amount", "currency", "received_at"
        )
    )
    used = _allocated(Q(payment_id__in=[p["id"] for p in payments]), "payment_id")
    for p in payments:
        left = Money(p["amount"] - used.get(p["id"], 0), p["currency"])
        if left.is_positive():
            out[p["customer_id"]].append(((p["received_at"], 0, p["id"]), "payment", p["id"], left))
    notes = list(
        Invoice.objects.filter(
            customer_id__in=ids, kind=DocumentKind.CREDIT_NOTE, status=DocumentStatus.ISSUED
        ).values("id", "customer_id", "total", "currency", "issued_at")
    )
    used = _allocated(Q(credit_note_id__in=[n["id"] for n in notes]), "credit_note_id")
    for n in notes:
        left = Money(n["total"] - used.get(n["id"], 0), n["currency"])
        if left.is_positive():
            out[n["customer_id"]].append(
                ((n["issued_at"], 1, n["id"]), "credit_note", n["id"], left)
            )
    for sources in out.values():
        sources.sort(key=lambda source: source[0])
    return out


def settle(customer_ids: Iterable[int], *, at: datetime | None = None) -> list[Allocation]:
    """Apply every customer's unapplied payments and credit notes to their open invoices,
    oldest first, in the caller's transaction (customers locked in id order)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    sources = _unapplied(ids)
    if not sources:
        return []
    with_credit = sorted(sources)
    list(Customer.objects.select_for_update().filter(pk__in=with_credit).order_by("pk"))
    sources = _unapplied(with_credit)  # again, under the lock
    invoices = open_invoices(with_credit)
    at = at or clock.now()
    made: list[Allocation] = []
    for customer_id in with_credit:
        open_now = invoices.get(customer_id, [])
        for _, kind, source_id, left in sources.get(customer_id, []):
            if not open_now:
                break
            parts, _ = allocate(left, open_now)
            for invoice_id, amount in parts:
                made.append(
                    Allocation(
                        customer_id=customer_id,
                        invoice_id=invoice_id,
                        payment_id=source_id if kind == "payment" else None,
                        credit_note_id=source_id if kind == "credit_note" else None,
                        amount=amount.amount,
                        at=at,
                    )
                )
            settled = dict(parts)
            open_now = [
                OpenInvoice(
                    o.id,
                    o.issued_order,
                    o.open_amount - settled.get(o.id, Money.zero(o.open_amount.currency)),
                )
                for o in open_now
                if o.open_amount != settled.get(o.id)
            ]
    Allocation.objects.bulk_create(made)
    return made


def on_documents_issued(sender, customer_ids: list[int], at: datetime, **kwargs) -> None:
    settle(customer_ids, at=at)


@transaction.atomic
def record_payment(
    customer: Customer,
    amount: object,
    method: str,
    *,
    actor: str,
    reference: str = "",
    at: datetime | None = None,
    to_invoice: Invoice | None = None,
    gateway: str = "",
    gateway_payment_id: str | None = None,
    note: str = "",
) -> Payment:
    """Record money received and settle invoices with it (``to_invoice`` first, if given).

    A gateway payment id is recorded once: the same id again returns the first payment and
    changes nothing (a replayed webhook).
    """
    if gateway_payment_id:
        existing = Payment.objects.filter(gateway_payment_id=gateway_payment_id).first()
        if existing is not None:
            return existing
    if method not in Method.values:
        raise InvalidInput(
            f"unknown payment method {method!r} (use {', '.join(Method.values)})", field="method"
        )
    currency = Operator.current().currency
    money = money_input(amount, currency, "amount")
    if not money.is_positive():
        raise InvalidInput("a payment must be positive", field="amount")
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    now = clock.now()
    at = at or now
    payment = Payment.objects.create(
        customer=customer,
        amount=money.amount,
        currency=currency,
        method=method,
        reference=reference.strip()[:100],
        gateway=gateway,
        gateway_payment_id=gateway_payment_id or None,
        received_at=at,
        recorded_at=now,
        actor=actor,
        note=note,
    )
    if to_invoice is not None:
        invoices = open_invoices([customer.pk]).get(customer.pk, [])
        if to_invoice.customer_id != customer.pk:
            raise Conflict(f"{to_invoice} belongs to another customer", field="invoice")
        if not any(o.id == to_invoice.pk for o in invoices):
            raise Conflict(f"{to_invoice} has nothing left to pay", field="invoice")
        parts, _ = allocate(money, invoices, to=to_invoice.pk)
        Allocation.objects.bulk_create(
            Allocation(
                customer=customer,
                invoice_id=invoice_id,
                payment=payment,
                amount=part.amount,
                at=at,
            )
            for invoice_id, part in parts
        )
    settle([customer.pk], at=at)
    audit.record(
        actor=actor,
        action="payment.received",
        instance=payment,
        reason=f"{method} {reference}".strip(),
    )
    notify(
        customer.pk,
        "payment_received",
        at=at,
        context={"payment_id": payment.pk, "amount": str(money.amount), "currency": currency},
        dedupe_key=f"payment:{payment.pk}",
    )
    return payment


def balances(customer: Customer) -> tuple[Money, Money]:
    """(due, credit): what the customer owes on open invoices, and unapplied credit."""
    currency = Operator.current().currency
    due = sum_money(
        (o.open_amount for o in open_invoices([customer.pk]).get(customer.pk, [])), currency
    )
    credit = sum_money(
        (left for *_, left in _unapplied([customer.pk]).get(customer.pk, [])), currency
    )
    return due, credit


def find_customer(account_number: str) -> Customer:
    customer = Customer.objects.filter(account_number=account_number).first()
    if customer is None:
        raise NotFound(f"no customer {account_number!r}", field="customer")
    return customer


@transaction.atomic
def reverse_payment(payment: Payment, *, reason: str, actor: str) -> Payment:
    """A payment that did not happen after all (a bounced cheque, a chargeback).

    Its allocations are reversed, which reopens the invoices it had settled; then any other
    credit the customer has settles them again, oldest first.
    """
    if not reason.strip():
        raise InvalidInput("a reversal needs a reason", field="reason")
    Customer.objects.select_for_update().get(pk=payment.customer_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status == Payment.Status.REVERSED:
        raise Conflict(f"payment {payment.pk} is already reversed", field="payment")
    now = clock.now()
    before = audit.snapshot(payment)
    reopened = list(
        payment.allocations.filter(reversed_at__isnull=True).values_list("invoice_id", flat=True)
    )
    payment.allocations.filter(reversed_at__isnull=True).update(reversed_at=now)
    payment.status = Payment.Status.REVERSED
    payment.note = f"{payment.note}\nreversed: {reason}".strip()
    payment.save(update_fields=["status", "note"])
    audit.record(
        actor=actor,
        action="payment.reversed",
        instance=payment,
        reason=f"{reason} (reopened invoices {sorted(reopened)})",
        before=before,
    )
    settle([payment.customer_id], at=now)
    return payment
