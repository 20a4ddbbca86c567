"""Subscriptions: list, create (admin), read, history, usage; state actions and plan changes
(network)."""

from typing import Annotated

from django.db import transaction
from django.db.models import QuerySet
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
from octet.api.routers.plans import _addons
from octet.catalog.services import plan_by_code
from octet.core import clock
from octet.core.errors import InvalidInput
from octet.core.periods import local_date
from octet.customers.models import Customer
from octet.metering.services import usage_for
from octet.subscriptions import services
from octet.subscriptions.models import StateChange, Subscription

router = Router(tags=["subscriptions"])


def _subscriptions() -> QuerySet[Subscription]:
    return Subscription.objects.select_related("plan_version__plan").prefetch_related("addons")


def _get(request: HttpRequest, subscription_id: int) -> Subscription:
    return get_visible(request, _subscriptions(), subscription_id, "subscription")


def _out(sub: Subscription) -> s.SubscriptionOut:
    return serialize.subscription(_subscriptions().get(pk=sub.pk))


class SubscriptionFilter(Schema):
    customer_id: s.QueryId | None = None
    state: s.SubscriptionState | None = None
    username: Annotated[str, Field(max_length=64, pattern=r"^[^\x00]*$")] | None = None


@router.get("", response=read(s.SubscriptionPage), summary="List subscriptions")
def list_subscriptions(
    request: HttpRequest, page: Page, filters: Query[SubscriptionFilter]
) -> dict:
    qs = visible(request, _subscriptions())
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.state is not None:
        qs = qs.filter(state=filters.state)
    if filters.username:
        qs = qs.filter(username=filters.username.strip())
    return paginate(qs, limit=page.limit, cursor=page.cursor, item=serialize.subscription)


@router.post("", response=write(s.SubscriptionOut, 201), summary="Subscribe a customer")
@idempotent
def create_subscription(
    request: HttpRequest, payload: s.SubscriptionIn, idempotency_key: IdempotencyKey = None
) -> Status:
    """Needs the admin scope. On the plan's current version; active at once (and its first
    period billed, if the operator bills at activation) unless ``activate`` is false."""
    token = require(request, Scope.ADMIN)
    customer = get_visible(request, Customer.objects.all(), payload.customer_id, "customer", "")
    plan = plan_by_code(payload.plan)
    with transaction.atomic():
        sub = services.subscribe(
            customer,
            plan,
            username=payload.username,
            password=payload.password,
            actor=token.actor,
            activate=payload.activate,
            reason="subscribed through the API",
            static_ip=str(payload.static_ip) if payload.static_ip else None,
            framed_pool=payload.framed_pool,
            addons=_addons(payload.addons) if payload.addons else None,
        )
    return Status(201, _out(sub))


@router.get("/{subscription_id}", response=read(s.SubscriptionOut), summary="A subscription")
def get_subscription(request: HttpRequest, subscription_id: PathId) -> s.SubscriptionOut:
    return serialize.subscription(_get(request, subscription_id))


@router.get(
    "/{subscription_id}/history",
    response=read(s.StateChangePage),
    summary="A subscription's state changes",
)
def subscription_history(request: HttpRequest, subscription_id: PathId, page: Page) -> dict:
    sub = _get(request, subscription_id)
    return paginate(
        StateChange.objects.filter(subscription=sub),
        limit=page.limit,
        cursor=page.cursor,
        item=serialize.state_change,
    )


class UsageQuery(Schema):
    on: s.QueryDate | None = Field(None, description="A day in the period wanted (default: today)")


@router.get(
    "/{subscription_id}/usage", response=read(s.UsageOut), summary="Usage in a billing period"
)
def subscription_usage(
    request: HttpRequest, subscription_id: PathId, query: Query[UsageQuery]
) -> s.UsageOut:
    """Bytes used in the billing period containing ``on``, and the allowance there."""
    sub = _get(request, subscription_id)
    day = query.on or local_date(clock.now(), services.operator_tz())
    if not 1970 <= day.year <= 2200:
        raise InvalidInput("on must be a date between 1970 and 2200", field="on")
    try:
        period = services.period_at(sub, day)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"no billing period on {day}", field="on") from exc
    return serialize.usage(usage_for(sub, period))


# -- actions ---------------------------------------------------------------------------------


def _action(request: HttpRequest, subscription_id: int) -> tuple[Subscription, str]:
    token = require(request, Scope.NETWORK)
    return _get(request, subscription_id), token.actor


@router.post("/{subscription_id}/activate", response=write(s.SubscriptionOut), summary="Activate")
@idempotent
def activate(
    request: HttpRequest, subscription_id: PathId, idempotency_key: IdempotencyKey = None
) -> s.SubscriptionOut:
    """Needs the network scope. A pending subscription goes into service (and its first
    period is billed, if the operator bills at activation)."""
    sub, actor = _action(request, subscription_id)
    return _out(services.activate(sub, actor=actor, reason="activated"))


@router.post("/{subscription_id}/suspend", response=write(s.SubscriptionOut), summary="Suspend")
@idempotent
def suspend(
    request: HttpRequest,
    subscription_id: PathId,
    payload: s.SuspendIn,
    idempotency_key: IdempotencyKey = None,
) -> s.SubscriptionOut:
    """Needs the network scope. Service is withheld (live sessions are disconnected)."""
    sub, actor = _action(request, subscription_id)
    return _out(services.suspend(sub, reason=payload.reason, actor=actor, note=payload.note))


@router.post("/{subscription_id}/reconnect", response=write(s.SubscriptionOut), summary="Reconnect")
@idempotent
def reconnect(
    request: HttpRequest,
    subscription_id: PathId,
    payload: s.NoteIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> s.SubscriptionOut:
    """Needs the network scope. A suspended subscription is active again."""
    sub, actor = _action(request, subscription_id)
    return _out(services.reconnect(sub, actor=actor, note=payload.note if payload else ""))


@router.post("/{subscription_id}/terminate", response=write(s.SubscriptionOut), summary="Terminate")
@idempotent
def terminate(
    request: HttpRequest,
    subscription_id: PathId,
    payload: s.NoteIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> s.SubscriptionOut:
    """Needs the network scope. Final: the service ends now and the final invoice is issued."""
    sub, actor = _action(request, subscription_id)
    return _out(services.terminate(sub, actor=actor, note=payload.note if payload else ""))


@router.post("/{subscription_id}/cancel", response=write(s.SubscriptionOut), summary="Cancel")
@idempotent
def cancel(
    request: HttpRequest,
    subscription_id: PathId,
    payload: s.CancelIn,
    idempotency_key: IdempotencyKey = None,
) -> s.SubscriptionOut:
    """Needs the network scope. Terminate now, or at the end of the billing period."""
    sub, actor = _action(request, subscription_id)
    return _out(services.cancel(sub, when=payload.when, actor=actor, reason=payload.reason))


@router.post(
    "/{subscription_id}/change-plan",
    response=write(s.PlanChangeOut, 201),
    summary="Change plan",
)
@idempotent
def change_plan(
    request: HttpRequest,
    subscription_id: PathId,
    payload: s.ChangePlanIn,
    idempotency_key: IdempotencyKey = None,
) -> Status:
    """Needs the network scope. To the plan's current version, now (the unused days of the
    old plan credited, the new one invoiced) or at the end of the billing period."""
    sub, actor = _action(request, subscription_id)
    plan = plan_by_code(payload.plan)
    change = services.change_plan(sub, plan, when=payload.when, actor=actor, reason=payload.reason)
    change = (
        type(change)
        .objects.select_related("from_version__plan", "to_version__plan")
        .get(pk=change.pk)
    )
    return Status(201, serialize.plan_change(change))


@router.post(
    "/{subscription_id}/password",
    response=write(s.SubscriptionOut),
    summary="Set the RADIUS password",
)
def set_password(
    request: HttpRequest, subscription_id: PathId, payload: s.PasswordIn
) -> s.SubscriptionOut:
    """Needs the network scope. The password is stored encrypted and never shown."""
    sub, actor = _action(request, subscription_id)
    return _out(
        services.set_radius_password(sub, payload.password, actor=actor, reason=payload.reason)
    )
