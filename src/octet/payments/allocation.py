"""Which open invoices a payment or credit note settles, and how much stays as credit.

Pure: no Django, no database, no clock. The policy is the scenarios' (FORMAT.md,
"Allocation"): money settles the oldest open invoice first; what is left over stays as
account credit and settles the next invoice when that is issued (the service calls
:func:`allocate` again with the credit then). A payment made for one invoice (a portal "pay
this invoice" link, a clerk's choice) settles that invoice first, then the oldest others.

The result is a plan, not a change: the service posts one
:func:`~octet.payments.ledger.allocated` entry for the total and records the per-invoice
amounts, in one transaction with the invoices locked, so two payments arriving together
cannot both settle the same open amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from octet.core.money import Money

__all__ = ["OpenInvoice", "allocate"]


@dataclass(frozen=True)
class OpenInvoice:
    """An issued invoice with something (or nothing) still to settle."""

    id: int
    # Sort key for "oldest first", e.g. (issued_at, number): the issue time alone can tie
    # (a billing run issues many invoices at the same instant), the gapless number cannot.
    issued_order: tuple[Any, ...]
    open_amount: Money  # total less what was already allocated or written off

    def __post_init__(self) -> None:
        if not isinstance(self.open_amount, Money):
            raise TypeError(f"open amount must be Money, got {type(self.open_amount).__name__}")
        if self.open_amount.is_negative():
            raise ValueError(f"invoice {self.id} has a negative open amount {self.open_amount}")


def allocate(
    amount: Money, open_invoices: Sequence[OpenInvoice], *, to: int | None = None
) -> tuple[list[tuple[int, Money]], Money]:
    """Split ``amount`` over ``open_invoices``; return ``([(invoice id, amount)], leftover)``.

    The invoice ``to``, when given, is settled first and must be one of the open ones (a
    payment for an invoice that is already paid or unknown is a mistake to surface, not to
    spread silently over other invoices); the rest go oldest first by ``issued_order``, ties
    broken by id so the result never depends on the order the caller listed them in. No
    invoice gets more than its open amount, invoices with nothing open are skipped, and
    the allocations plus the leftover always add up to ``amount`` exactly.
    """
    if not isinstance(amount, Money):
        raise TypeError(f"amount must be Money, got {type(amount).__name__}")
    if not amount.is_positive():
        raise ValueError(f"the amount to allocate must be positive, got {amount}")
    seen: set[int] = set()
    for invoice in open_invoices:
        if invoice.open_amount.currency != amount.currency:
            raise ValueError(
                f"invoice {invoice.id} is in {invoice.open_amount.currency}, "
                f"the amount in {amount.currency}"
            )
        if invoice.id in seen:
            raise ValueError(f"invoice {invoice.id} is listed twice")
        seen.add(invoice.id)

    candidates = sorted(
        (invoice for invoice in open_invoices if invoice.open_amount.is_positive()),
        key=lambda invoice: (invoice.issued_order, invoice.id),
    )
    if to is not None:
        chosen = [invoice for invoice in candidates if invoice.id == to]
        if not chosen:
            raise ValueError(f"invoice {to} is not among the open invoices")
        candidates = chosen + [invoice for invoice in candidates if invoice.id != to]

    allocations: list[tuple[int, Money]] = []
    remaining = amount
    for invoice in candidates:
        if remaining.is_zero():
            break
        part = min(remaining, invoice.open_amount)
        allocations.append((invoice.id, part))
        remaining -= part
    return allocations, remaining
