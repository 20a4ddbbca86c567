"""Payments and allocation: money received, and what it (and credit notes) settles.

Policy (../shared/scenarios/FORMAT.md): payments and credit notes settle the oldest open
invoice first; what is left stays as account credit and settles the next invoice when it
is issued. Every allocation for a customer happens under a lock on that customer's row, so
two payments (or a webhook and a clerk) at once never settle more than is open.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum

from octet.billing.models import DocumentKind, DocumentStatus, Invoice, InvoiceLine
from octet.billing.services import series_of
from octet.core import audit, clock, sequences
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.core.models import Operator
from octet.core.money import Money, sum_money
from octet.core.periods import local_date
from octet.core.validation import money_input
from octet.customers.models import Customer
from octet.notifications.services import notify
from octet.payments import journal, ledger, signals
from octet.payments.allocation import OpenInvoice, allocate
from octet.payments.journal import Posted
from octet.payments.models import Allocation, Method, Payment, Refund, WriteOff

log = logging.getLogger(__name__)


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
    ids_ = [i["id"] for i in invoices]
    paid = _allocated(Q(invoice_id__in=ids_), "invoice_id")
    written_off = dict(
        WriteOff.objects.filter(invoice_id__in=ids_)
        .values("invoice_id")
        .annotate(total=Sum("amount"))
        .values_list("invoice_id", "total")
    )
    out: dict[int, list[OpenInvoice]] = defaultdict(list)
    for inv in invoices:
        closed = paid.get(inv["id"], 0) + written_off.get(inv["id"], 0)
        left = Money(inv["total"] - closed, inv["currency"])
        if left.is_positive():
            out[inv["customer_id"]].append(
                OpenInvoice(inv["id"], (inv["issued_at"], inv["sequence_number"]), left)
            )
    return out


def open_amounts(invoices: Iterable[Invoice]) -> dict[int, Decimal]:
    """What is still open on each of these issued invoices (two queries for any number)."""
    invoices = list(invoices)
    ids = [inv.pk for inv in invoices]
    paid = _allocated(Q(invoice_id__in=ids), "invoice_id")
    written_off = dict(
        WriteOff.objects.filter(invoice_id__in=ids)
        .values("invoice_id")
        .annotate(total=Sum("amount"))
        .values_list("invoice_id", "total")
    )
    return {
        inv.pk: inv.total - paid.get(inv.pk, 0) - written_off.get(inv.pk, 0) for inv in invoices
    }


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
    _take_refunds(ids, out)
    return out


def _take_refunds(
    customer_ids: list[int], out: dict[int, list[tuple[tuple, str, int, Money]]]
) -> None:
    """Reduce the unapplied sources by what was refunded (not failed refunds).

    A refund of a named payment draws on that payment first; the rest (and refunds of
    credit in general) on the newest credit first, so older credit keeps settling invoices
    in the order it arrived.
    """
    refunds = list(
        Refund.objects.filter(customer_id__in=customer_ids)
        .exclude(status=Refund.Status.FAILED)
        .order_by("at", "id")
        .values("customer_id", "payment_id", "amount")
    )
    for refund in refunds:
        sources = out.get(refund["customer_id"], [])
        left = refund["amount"]
        newest_first = sorted(range(len(sources)), key=lambda i: sources[i][0], reverse=True)
        order = sorted(  # stable: the named payment first, then newest first
            newest_first,
            key=lambda i: (
                not (sources[i][1] == "payment" and sources[i][2] == refund["payment_id"])
            ),
        )
        for i in order:
            if not left:
                break
            order_key, kind, source_id, available = sources[i]
            take = min(left, available.amount)
            sources[i] = (order_key, kind, source_id, available - Money(take, available.currency))
            left -= take
        out[refund["customer_id"]] = [src for src in sources if src[3].is_positive()]
        if left:  # more refunded than was ever held: services refuse this; say it loudly
            log.error(
                "customer %s: refunds exceed their payments and credit notes by %s",
                refund["customer_id"],
                left,
            )


def settle(customer_ids: Iterable[int], *, at: datetime | None = None) -> list[Allocation]:
    """Apply every customer's unapplied payments and credit notes to their open invoices,
    oldest first, in the caller's transaction (customers locked in id order)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    # Lock before reading: a payment committed while this transaction issues an invoice
    # must be seen here (or see this invoice), never neither.
    list(
        Customer.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sources = _unapplied(ids)
    if not sources:
        return []
    with_credit = sorted(sources)
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
    _post_allocations(made, at)
    return made


def _post_allocations(made: Iterable[Allocation], at: datetime, *, undo: bool = False) -> None:
    """One ``allocated`` (or ``unallocated``) entry per customer for what was just settled."""
    currency = Operator.current().currency
    per_customer: dict[int, Decimal] = defaultdict(Decimal)
    for allocation in made:
        per_customer[allocation.customer_id] += allocation.amount
    build = ledger.unallocated if undo else ledger.allocated
    journal.post_many(
        [
            Posted(build(customer_id, Money(total, currency)), at, customer_id)
            for customer_id, total in sorted(per_customer.items())
            if total
        ]
    )


def _document_entry(invoice: Invoice, lines: Iterable[InvoiceLine]) -> journal.RawEntry | None:
    """The journal entry of an issued invoice or credit note (None if it moves no money)."""
    if not invoice.total:
        return None
    # Per tax, net over the lines: a discount line carries negative tax.
    taxes: list[tuple[str, Decimal]] = [
        (tax["name"], Decimal(str(tax["amount"])))
        for line in lines
        if not line.voided
        for tax in line.taxes or []
    ]
    kind = "invoice_issued" if invoice.kind == DocumentKind.INVOICE else "credit_note_issued"
    rows = ledger.document_rows(kind, invoice.customer_id, invoice.subtotal, taxes, invoice.total)
    return journal.RawEntry(
        kind=kind,
        at=invoice.issued_at,
        currency=invoice.currency,
        rows=rows,
        memo=invoice.number or "",
        customer_id=invoice.customer_id,
        document_id=invoice.pk,
    )


def post_documents(documents: Iterable[tuple[Invoice, Iterable[InvoiceLine]]]) -> None:
    """Post issued invoices and credit notes to the ledger (receivable, revenue, taxes)."""
    entries = [_document_entry(inv, lines) for inv, lines in documents]
    journal.store([e for e in entries if e is not None])


def on_documents_issued(
    sender, customer_ids: list[int], at: datetime, documents=(), **kwargs
) -> None:
    post_documents(documents)
    settle(customer_ids, at=at)
    if any(inv.kind == DocumentKind.CREDIT_NOTE for inv, _ in documents):
        signals.balance_changed.send(sender=Payment, customer_ids=customer_ids, at=at)


def _receipt_number(at: datetime) -> str:
    """The next gapless receipt number, e.g. RCPT/25-26/000042 (series by local day)."""
    operator = Operator.current()
    series = series_of("receipt", operator, local_date(at, operator.time_zone))
    return f"{series}{sequences.next_value(f'receipt:{series}'):06d}"


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
    try:
        ledger.method_account(method, gateway)
    except ValueError as exc:  # e.g. a card payment with no gateway to collect it
        raise InvalidInput(str(exc), field="method") from exc
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
        receipt_number=_receipt_number(now),
    )
    journal.post(
        ledger.payment_received(customer.pk, money, method, gateway, memo=payment.receipt_number),
        at=at,
        customer_id=customer.pk,
        payment_id=payment.pk,
    )
    if to_invoice is not None:
        invoices = open_invoices([customer.pk]).get(customer.pk, [])
        if to_invoice.customer_id != customer.pk:
            raise Conflict(f"{to_invoice} belongs to another customer", field="invoice")
        if not any(o.id == to_invoice.pk for o in invoices):
            raise Conflict(f"{to_invoice} has nothing left to pay", field="invoice")
        parts, _ = allocate(money, invoices, to=to_invoice.pk)
        made = Allocation.objects.bulk_create(
            Allocation(
                customer=customer,
                invoice_id=invoice_id,
                payment=payment,
                amount=part.amount,
                at=at,
            )
            for invoice_id, part in parts
        )
        _post_allocations(made, at)
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
    signals.balance_changed.send(sender=Payment, customer_ids=[customer.pk], at=at)
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
    refunded = _refunded_from(payment)
    if refunded:
        raise Conflict(
            f"payment {payment.pk} was partly refunded ({refunded}); it cannot bounce now",
            field="payment",
        )
    live = list(payment.allocations.filter(reversed_at__isnull=True))
    reopened = [a.invoice_id for a in live]
    payment.allocations.filter(reversed_at__isnull=True).update(reversed_at=now)
    _post_allocations(live, now, undo=True)
    # Freed of its allocations, the payment must be there in full as credit to take back;
    # if a refund (naming no payment) paid part of it out, the money is gone twice.
    _, credit = balances(payment.customer)
    if credit.amount < payment.amount:
        raise Conflict(
            f"payment {payment.pk} cannot bounce: {payment.amount - credit.amount:.2f} of it "
            "was refunded to the customer; record the bounce after recovering the refund",
            field="payment",
        )
    journal.post(
        ledger.payment_reversed(
            payment.customer_id,
            Money(payment.amount, payment.currency),
            payment.method,
            payment.gateway,
            memo=reason[:200],
        ),
        at=now,
        customer_id=payment.customer_id,
        payment_id=payment.pk,
    )
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
    signals.invoices_reopened.send(sender=Payment, invoice_ids=sorted(set(reopened)), at=now)
    return payment


def _refunded_from(payment: Payment) -> Decimal:
    total = (
        Refund.objects.filter(payment=payment)
        .exclude(status=Refund.Status.FAILED)
        .aggregate(total=Sum("amount"))["total"]
    )
    return total or Decimal(0)


def check_refundable(customer: Customer, money: Money, payment: Payment | None = None) -> None:
    """Refuse (Conflict) a refund of ``money`` the customer's credit, or the named payment,
    does not cover. The caller holds the customer's lock until the refund is recorded."""
    currency = money.currency
    if payment is not None:
        if payment.customer_id != customer.pk:
            raise Conflict(f"payment {payment.pk} belongs to another customer", field="payment")
        if payment.status != Payment.Status.RECEIVED:
            raise Conflict(f"payment {payment.pk} was reversed", field="payment")
        left = Money(payment.amount - _refunded_from(payment), currency)
        if money > left:
            raise Conflict(
                f"payment {payment.pk} has only {left} {currency} left to refund", field="amount"
            )
    _, credit = balances(customer)
    if money > credit:
        raise Conflict(
            f"the customer holds {credit} {currency} of credit; {money} cannot be refunded "
            "(issue a credit note first if an invoice was overcharged)",
            field="amount",
        )


@transaction.atomic
def record_refund(
    customer: Customer,
    amount: object,
    *,
    method: str,
    actor: str,
    reason: str,
    payment: Payment | None = None,
    gateway: str = "",
    gateway_refund_id: str | None = None,
    reference: str = "",
    status: str = Refund.Status.SUCCEEDED,
    at: datetime | None = None,
) -> Refund:
    """Pay back part of what the customer holds as credit.

    Only unapplied credit can be refunded: money that settled an invoice has to be freed
    first (a credit note on that invoice leaves it as credit). A refund of a gateway
    payment names the payment and goes back the way it came; a gateway refund id is
    recorded once (a replayed webhook or a retried call changes nothing).
    """
    if gateway_refund_id:
        existing = Refund.objects.filter(gateway_refund_id=gateway_refund_id).first()
        if existing is not None:
            return existing
    if not reason.strip():
        raise InvalidInput("a refund needs a reason", field="reason")
    if method not in Method.values or method == Method.VOUCHER:
        raise InvalidInput(f"cannot refund by {method!r}", field="method")
    try:
        ledger.method_account(method, gateway)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="method") from exc
    if status not in Refund.Status.values or status == Refund.Status.FAILED:
        raise InvalidInput(f"a new refund cannot be {status!r}", field="status")
    currency = Operator.current().currency
    money = money_input(amount, currency, "amount")
    if not money.is_positive():
        raise InvalidInput("a refund must be positive", field="amount")
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    check_refundable(customer, money, payment)
    now = clock.now()
    at = at or now
    refund = Refund.objects.create(
        customer=customer,
        payment=payment,
        amount=money.amount,
        currency=currency,
        method=method,
        gateway=gateway,
        gateway_refund_id=gateway_refund_id or None,
        reference=reference.strip()[:100],
        status=status,
        at=at,
        actor=actor,
        reason=reason.strip(),
    )
    journal.post(
        ledger.refund(customer.pk, money, method, gateway, memo=reason.strip()[:200]),
        at=at,
        customer_id=customer.pk,
        payment_id=payment.pk if payment else None,
        refund_id=refund.pk,
    )
    audit.record(actor=actor, action="payment.refunded", instance=refund, reason=reason)
    return refund


@transaction.atomic
def fail_refund(refund: Refund, *, reason: str, actor: str) -> Refund:
    """A pending gateway refund that failed: the money is the customer's credit again."""
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status == Refund.Status.FAILED:
        return refund
    if refund.status != Refund.Status.PENDING:
        raise Conflict(f"refund {refund.pk} was already paid out", field="refund")
    now = clock.now()
    before = audit.snapshot(refund)
    refund.status = Refund.Status.FAILED
    refund.save(update_fields=["status"])
    # The mirror image of the refund entry: the credit comes back.
    journal.post(
        ledger.payment_received(
            refund.customer_id,
            Money(refund.amount, refund.currency),
            refund.method,
            refund.gateway,
            memo=f"refund {refund.pk} failed",
        ),
        at=now,
        customer_id=refund.customer_id,
        refund_id=refund.pk,
    )
    audit.record(actor=actor, action="refund.failed", instance=refund, reason=reason, before=before)
    settle([refund.customer_id], at=now)
    signals.balance_changed.send(sender=Payment, customer_ids=[refund.customer_id], at=now)
    return refund


@transaction.atomic
def complete_refund(refund: Refund, *, actor: str) -> Refund:
    """A pending gateway refund the gateway confirmed paid out."""
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status == Refund.Status.PENDING:
        before = audit.snapshot(refund)
        refund.status = Refund.Status.SUCCEEDED
        refund.save(update_fields=["status"])
        audit.record(
            actor=actor, action="refund.succeeded", instance=refund, before=before, reason=""
        )
    return refund


def check_ledger(customers: Iterable[Customer]) -> None:
    """Raise ``RuntimeError`` unless the ledger balances and, for every customer given, its
    receivable and customer-credit balances equal what the documents and allocations say.

    Two independent records of the same money must agree (invariant 4); a scenario run, the
    ``octet ledger check`` command and the tests call this.
    """
    ledger.check_balanced(journal.trial_balance())
    currency = Operator.current().currency
    for customer in customers:
        from_documents = balances(customer)
        from_ledger = journal.balances(customer.pk, currency)
        if from_documents != from_ledger:
            raise RuntimeError(
                f"ledger disagrees for customer {customer.account_number}: documents say "
                f"due/credit {from_documents[0]}/{from_documents[1]}, the ledger "
                f"{from_ledger[0]}/{from_ledger[1]}"
            )


@transaction.atomic
def write_off(
    invoice: Invoice, *, actor: str, reason: str, amount: object | None = None
) -> WriteOff:
    """Give up (part of) an invoice's open amount as bad debt; the invoice is closed by it.

    Without ``amount``, everything still open is written off. The customer's later payments
    no longer settle what was written off (a recovered bad debt is recorded as a payment
    that stays as credit, or refunded).
    """
    if not reason.strip():
        raise InvalidInput("a write-off needs a reason", field="reason")
    Customer.objects.select_for_update().get(pk=invoice.customer_id)
    if invoice.kind != DocumentKind.INVOICE or invoice.status != DocumentStatus.ISSUED:
        raise Conflict(f"{invoice} is not an issued invoice", field="invoice")
    open_now = {
        o.id: o.open_amount
        for o in open_invoices([invoice.customer_id]).get(invoice.customer_id, [])
    }
    left = open_now.get(invoice.pk)
    if left is None:
        raise Conflict(f"{invoice.number} has nothing left to write off", field="invoice")
    money = left if amount is None else money_input(amount, invoice.currency, "amount")
    if not money.is_positive():
        raise InvalidInput("a write-off must be positive", field="amount")
    if money > left:
        raise Conflict(f"{invoice.number} has only {left} open", field="amount")
    now = clock.now()
    row = WriteOff.objects.create(
        customer_id=invoice.customer_id,
        invoice=invoice,
        amount=money.amount,
        at=now,
        actor=actor,
        reason=reason.strip(),
    )
    journal.post(
        ledger.written_off(invoice.customer_id, money, memo=invoice.number or ""),
        at=now,
        customer_id=invoice.customer_id,
        document_id=invoice.pk,
        write_off_id=row.pk,
    )
    audit.record(actor=actor, action="invoice.written_off", instance=row, reason=reason)
    signals.balance_changed.send(sender=Payment, customer_ids=[invoice.customer_id], at=now)
    return row
