"""Storing journal entries: the one place postings are written to the database.

Builders in :mod:`octet.payments.ledger` decide what an entry holds; :func:`post` and
:func:`post_many` store entries in the caller's transaction, so an entry exists exactly
when the change it records does. Balances are sums over stored postings (:func:`balances`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, Sum

from octet.core.money import Money
from octet.payments import ledger
from octet.payments.models import JournalEntry, JournalPosting

__all__ = ["Posted", "balances", "post", "post_many", "trial_balance"]


@dataclass(frozen=True)
class Posted:
    """An entry to store and what it records (ids, any may be None)."""

    entry: ledger.JournalEntry
    at: datetime
    customer_id: int | None = None
    document_id: int | None = None
    payment_id: int | None = None
    refund_id: int | None = None
    write_off_id: int | None = None
    settlement_id: int | None = None


def post_many(items: Sequence[Posted]) -> list[JournalEntry]:
    """Store several entries with two bulk inserts (a billing run posts thousands)."""
    if not items:
        return []
    rows = JournalEntry.objects.bulk_create(
        JournalEntry(
            kind=item.entry.kind,
            at=item.at,
            currency=item.entry.currency,
            memo=item.entry.memo[:200],
            customer_id=item.customer_id,
            document_id=item.document_id,
            payment_id=item.payment_id,
            refund_id=item.refund_id,
            write_off_id=item.write_off_id,
            settlement_id=item.settlement_id,
        )
        for item in items
    )
    if any(row.pk is None for row in rows):  # backends without RETURNING ids
        raise RuntimeError("the database did not return the ids of the journal entries")
    JournalPosting.objects.bulk_create(
        JournalPosting(
            entry_id=row.pk,
            account=posting.account,
            customer_id=posting.customer,
            debit=posting.debit.amount,
            credit=posting.credit.amount,
        )
        for row, item in zip(rows, items, strict=True)
        for posting in item.entry.postings
    )
    return rows


def post(entry: ledger.JournalEntry, *, at: datetime, **links: int | None) -> JournalEntry:
    """Store one balanced entry in the caller's transaction; ``links`` are the ids of what
    it records (customer_id, document_id, payment_id, refund_id, write_off_id,
    settlement_id)."""
    return post_many([Posted(entry, at, **links)])[0]


def _sums(filter_q: Q, key: str) -> Iterable[dict]:
    return (
        JournalPosting.objects.filter(filter_q)
        .values(key, "entry__currency")
        .annotate(dr=Sum("debit"), cr=Sum("credit"))
        .order_by(key, "entry__currency")
    )


def trial_balance(*, until: datetime | None = None) -> dict[str, Money]:
    """``debit - credit`` per account over every stored posting (up to ``until``)."""
    q = Q(entry__at__lte=until) if until else Q()
    out: dict[str, Money] = {}
    for row in _sums(q, "account"):
        amount = Money(row["dr"] - row["cr"], row["entry__currency"])
        account = row["account"]
        out[account] = amount if account not in out else out[account] + amount
    return out


def balances(customer_id: int, currency: str) -> tuple[Money, Money]:
    """``(due, credit)`` of one customer from the ledger (receivable, minus customer credit)."""
    due = Decimal(0)
    credit = Decimal(0)
    rows = (
        JournalPosting.objects.filter(customer_id=customer_id, account__in=ledger.CUSTOMER_ACCOUNTS)
        .values("account")
        .annotate(dr=Sum("debit"), cr=Sum("credit"))
    )
    for row in rows:
        if row["account"] == ledger.RECEIVABLE:
            due += row["dr"] - row["cr"]
        else:
            credit += row["cr"] - row["dr"]
    return Money(due, currency), Money(credit, currency)
