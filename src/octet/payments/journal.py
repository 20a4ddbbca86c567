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

from octet.core import bulk
from octet.core.money import Money
from octet.payments import ledger
from octet.payments.models import JournalEntry, JournalPosting

__all__ = ["Posted", "RawEntry", "balances", "post", "post_many", "store", "trial_balance"]


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


@dataclass(frozen=True)
class RawEntry:
    """An entry as plain values (ledger.Row postings), for storing thousands at once."""

    kind: str
    at: datetime
    currency: str
    rows: Sequence[ledger.Row]
    memo: str = ""
    customer_id: int | None = None
    document_id: int | None = None
    payment_id: int | None = None
    refund_id: int | None = None
    write_off_id: int | None = None
    settlement_id: int | None = None


def _raw(item: Posted) -> RawEntry:
    entry = item.entry
    return RawEntry(
        kind=entry.kind,
        at=item.at,
        currency=entry.currency,
        rows=[(p.account, p.debit.amount, p.credit.amount, p.customer) for p in entry.postings],
        memo=entry.memo,
        customer_id=item.customer_id,
        document_id=item.document_id,
        payment_id=item.payment_id,
        refund_id=item.refund_id,
        write_off_id=item.write_off_id,
        settlement_id=item.settlement_id,
    )


def store(entries: Sequence[RawEntry]) -> list[int]:
    """Store entries with one insert for the entries and one for their postings (COPY on
    PostgreSQL: a billing run posts a chunk's invoices in a few milliseconds)."""
    if not entries:
        return []
    for entry in entries:  # the last guard: nothing unbalanced reaches the books
        if sum(r[1] for r in entry.rows) != sum(r[2] for r in entry.rows) or not entry.rows:
            raise ValueError(f"unbalanced {entry.kind} entry: {entry.rows}")
    links = (
        "customer_id",
        "document_id",
        "payment_id",
        "refund_id",
        "write_off_id",
        "settlement_id",
    )
    ids = bulk.next_ids(JournalEntry, len(entries))
    if ids is None:  # SQLite: RETURNING gives the ids
        stored = JournalEntry.objects.bulk_create(
            JournalEntry(
                kind=e.kind,
                at=e.at,
                currency=e.currency,
                memo=e.memo[:200],
                **{name: getattr(e, name) for name in links},
            )
            for e in entries
        )
        ids = [row.pk for row in stored]
        if any(pk is None for pk in ids):
            raise RuntimeError("the database did not return the ids of the journal entries")
    else:
        bulk.copy_rows(
            JournalEntry,
            ("id", "kind", "at", "currency", "memo", *links),
            (
                (pk, e.kind, e.at, e.currency, e.memo[:200], *(getattr(e, n) for n in links))
                for pk, e in zip(ids, entries, strict=True)
            ),
        )
    bulk.copy_rows(
        JournalPosting,
        ("entry_id", "account", "customer_id", "debit", "credit"),
        (
            (pk, account, customer, debit, credit)
            for pk, entry in zip(ids, entries, strict=True)
            for account, debit, credit, customer in entry.rows
        ),
    )
    return ids


def post_many(items: Sequence[Posted]) -> list[int]:
    """Store several balanced entries in the caller's transaction; their ids."""
    return store([_raw(item) for item in items])


def post(entry: ledger.JournalEntry, *, at: datetime, **links: int | None) -> int:
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
