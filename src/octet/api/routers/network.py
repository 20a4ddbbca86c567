"""Usage rows, RADIUS sessions and NAS."""

from typing import Annotated

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from octet.api import schemas as s
from octet.api import serialize
from octet.api.auth import get_visible, require_staff, visible
from octet.api.idempotency import idempotent
from octet.api.models import Scope
from octet.api.pagination import paginate
from octet.api.routers.common import IdempotencyKey, Page, PathId, read, write
from octet.core.errors import NotFound
from octet.metering.models import UsagePeriod
from octet.network import services
from octet.network.models import Nas, RadiusSession

router = Router()


class UsageFilter(Schema):
    subscription_id: s.QueryId | None = None
    customer_id: s.QueryId | None = None


@router.get(
    "/usage", response=read(s.UsagePage), summary="Usage per billing period", tags=["usage"]
)
def list_usage(request: HttpRequest, page: Page, filters: Query[UsageFilter]) -> dict:
    """One row per subscription and billing period that saw traffic or was billed."""
    qs = visible(request, UsagePeriod.objects.all(), "subscription__customer")
    if filters.subscription_id is not None:
        qs = qs.filter(subscription_id=filters.subscription_id)
    if filters.customer_id is not None:
        qs = qs.filter(subscription__customer_id=filters.customer_id)
    return paginate(qs, limit=page.limit, cursor=page.cursor, item=serialize.usage)


class SessionFilter(Schema):
    subscription_id: s.QueryId | None = None
    username: Annotated[str, Field(max_length=64, pattern=r"^[^\x00]*$")] | None = None
    open: s.QueryBool | None = Field(
        None, description="true: live sessions only; false: ended only"
    )


@router.get("/sessions", response=read(s.SessionPage), summary="RADIUS sessions", tags=["usage"])
def list_sessions(request: HttpRequest, page: Page, filters: Query[SessionFilter]) -> dict:
    qs = visible(request, RadiusSession.objects.all(), "subscription__customer")
    if filters.subscription_id is not None:
        qs = qs.filter(subscription_id=filters.subscription_id)
    if filters.username:
        qs = qs.filter(username=filters.username.strip())
    if filters.open is not None:
        qs = qs.filter(stopped_at__isnull=filters.open)
    return paginate(qs, limit=page.limit, cursor=page.cursor, item=serialize.session)


@router.get(
    "/sessions/{session_id}", response=read(s.SessionOut), summary="A session", tags=["usage"]
)
def get_session(request: HttpRequest, session_id: PathId) -> s.SessionOut:
    return serialize.session(
        get_visible(
            request, RadiusSession.objects.all(), session_id, "session", "subscription__customer"
        )
    )


@router.get("/nas", response=read(s.NasPage), summary="List NAS", tags=["network"])
def list_nas(request: HttpRequest, page: Page) -> dict:
    """Routers allowed to send RADIUS requests (their secrets are never shown)."""
    require_staff(request)
    return paginate(Nas.objects.all(), limit=page.limit, cursor=page.cursor, item=serialize.nas)


@router.post("/nas", response=write(s.NasOut, 201), summary="Register a NAS", tags=["network"])
@idempotent
def create_nas(
    request: HttpRequest, payload: s.NasIn, idempotency_key: IdempotencyKey = None
) -> Status:
    """Needs the network scope (not a customer's token)."""
    token = require_staff(request, Scope.NETWORK)
    nas = services.create_nas(
        name=payload.name,
        address=payload.address,
        secret=payload.secret,
        vendor=payload.vendor,
        coa_port=payload.coa_port,
        coa_address=str(payload.coa_address) if payload.coa_address else None,
        actor=token.actor,
        reason="registered through the API",
    )
    return Status(201, serialize.nas(nas))


@router.get("/nas/{nas_id}", response=read(s.NasOut), summary="A NAS", tags=["network"])
def get_nas(request: HttpRequest, nas_id: PathId) -> s.NasOut:
    require_staff(request)
    nas = Nas.objects.filter(pk=nas_id).first()
    if nas is None:
        raise NotFound(f"no NAS with id {nas_id}")
    return serialize.nas(nas)
