"""Customer use cases: each one transaction, each change audited."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from octet.core import audit, clock, sequences
from octet.core.errors import InvalidInput
from octet.core.models import Operator
from octet.core.validation import clean_or_refuse
from octet.customers.models import Customer

EDITABLE_FIELDS = frozenset(
    f.name
    for f in Customer._meta.concrete_fields
    if f.editable and f.name not in {"id", "created_at", "updated_at"}
)


def _check_fields(data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(f"unknown customer field(s): {', '.join(sorted(unknown))}")
    # Stray spaces from forms and imports must not fail a length check.
    return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}


def next_account_number() -> str:
    prefix = Operator.current().account_number_prefix
    return f"{prefix}{sequences.next_value('customer_account'):06d}"


@transaction.atomic
def create_customer(data: dict[str, Any], *, actor: str, reason: str = "registered") -> Customer:
    data = _check_fields(data)
    now = clock.now()
    customer = Customer(**data, created_at=now, updated_at=now)
    clean_or_refuse(customer, exclude=["account_number"])
    customer.account_number = next_account_number()
    customer.save()
    audit.record(actor=actor, action="customer.created", instance=customer, reason=reason)
    return customer


@transaction.atomic
def update_customer(
    customer: Customer, changes: dict[str, Any], *, actor: str, reason: str
) -> Customer:
    changes = _check_fields(changes)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    before = audit.snapshot(customer)
    for field, value in changes.items():
        setattr(customer, field, value)
    customer.updated_at = clock.now()
    clean_or_refuse(customer)
    customer.save()
    audit.record(
        actor=actor, action="customer.updated", instance=customer, reason=reason, before=before
    )
    return customer


def search_customers(query: str, limit: int = 20) -> QuerySet[Customer]:
    """Find customers by name, phone, e-mail, account number, GSTIN or RADIUS username."""
    q = (query or "").strip()
    if not q:
        return Customer.objects.none()
    condition = (
        Q(name__icontains=q)
        | Q(email__icontains=q)
        | Q(account_number__iexact=q)
        | Q(gstin__iexact=q)
        | Q(subscriptions__username__iexact=q)
    )
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 4 and len(digits) >= len(q.replace(" ", "")) - 2:
        # Phones are stored in E.164; staff type the local number, so match its tail.
        local = digits[-10:] if len(digits) > 10 else digits
        condition |= Q(phone__endswith=local) | Q(alt_phone__endswith=local)
    if q.upper().startswith(Operator.current().account_number_prefix):
        condition |= Q(account_number__istartswith=q)
    return Customer.objects.filter(condition).distinct().order_by("name", "account_number")[:limit]
