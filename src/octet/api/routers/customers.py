"""Customers: list and search, create, read, update, balance."""

import re
from typing import Annotated

from django.db.models import Q
from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from octet.api import schemas as s
from octet.api import serialize
from octet.api.auth import get_visible, require, visible
from octet.api.idempotency import idempotent
from octet.api.models import Scope
from octet.api.pagination import paginate
from octet.api.routers.common import IdempotencyKey, Page, PathId, read, write
from octet.core.errors import InvalidInput
from octet.customers import services
from octet.customers.models import Customer
from octet.payments import services as payments

router = Router(tags=["customers"])


class CustomerFilter(Schema):
    q: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = Field(
        None, description="Part of the name, account number, e-mail or phone"
    )


def _search(q: str) -> Q:
    condition = (
        Q(name__icontains=q)
        | Q(email__icontains=q)
        | Q(account_number__icontains=q)
        | Q(phone__icontains=q)
    )
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 4:
        # Phones are stored in E.164; people type the local number, spaced as they like.
        condition |= Q(phone__endswith=digits[-10:]) | Q(alt_phone__endswith=digits[-10:])
    return condition


@router.get("", response=read(s.CustomerPage), summary="List customers")
def list_customers(request: HttpRequest, page: Page, filters: Query[CustomerFilter]) -> dict:
    """In id order; a customer's token sees itself only."""
    qs = visible(request, Customer.objects.all(), customer_field="")
    q = (filters.q or "").strip()
    if q:
        qs = qs.filter(_search(q))
    return paginate(qs, limit=page.limit, cursor=page.cursor, item=serialize.customer)


@router.post("", response=write(s.CustomerOut, 201), summary="Create a customer")
@idempotent
def create_customer(
    request: HttpRequest, payload: s.CustomerIn, idempotency_key: IdempotencyKey = None
) -> Status:
    """Needs the admin scope. Contacts and tax identity are validated and normalised (the
    phone to E.164, the GSTIN checked and its state taken as the place of supply)."""
    token = require(request, Scope.ADMIN)
    data = payload.model_dump()
    data["country"] = data["country"].upper()
    customer = services.create_customer(data, actor=token.actor, reason="created through the API")
    return Status(201, serialize.customer(customer))


@router.get("/{customer_id}", response=read(s.CustomerOut), summary="A customer")
def get_customer(request: HttpRequest, customer_id: PathId) -> s.CustomerOut:
    return serialize.customer(
        get_visible(request, Customer.objects.all(), customer_id, "customer", customer_field="")
    )


@router.patch("/{customer_id}", response=write(s.CustomerOut), summary="Update a customer")
def update_customer(
    request: HttpRequest, customer_id: PathId, payload: s.CustomerPatch
) -> s.CustomerOut:
    """Needs the admin scope. Only the fields sent change; ``reason`` goes to the audit log."""
    token = require(request, Scope.ADMIN)
    customer = get_visible(
        request, Customer.objects.all(), customer_id, "customer", customer_field=""
    )
    changes = payload.model_dump(exclude_unset=True)
    reason = changes.pop("reason", None) or "updated through the API"
    if not changes:
        raise InvalidInput("nothing to change: send at least one customer field")
    if "country" in changes:
        changes["country"] = changes["country"].upper()
    customer = services.update_customer(customer, changes, actor=token.actor, reason=reason)
    return serialize.customer(customer)


@router.get("/{customer_id}/balance", response=read(s.BalanceOut), summary="What a customer owes")
def customer_balance(request: HttpRequest, customer_id: PathId) -> s.BalanceOut:
    """Open on issued invoices (``due``) and unapplied payments and credit (``credit``)."""
    customer = get_visible(
        request, Customer.objects.all(), customer_id, "customer", customer_field=""
    )
    due, credit = payments.balances(customer)
    return s.BalanceOut(
        customer_id=customer.pk, currency=due.currency, due=str(due), credit=str(credit)
    )
