"""API tokens (admin scope, never a customer's token): list, create, read, revoke."""

from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status

from octet.api import schemas as s
from octet.api import serialize
from octet.api import tokens as services
from octet.api.auth import get_visible, require_staff
from octet.api.models import ApiToken, Scope
from octet.api.pagination import paginate
from octet.api.routers.common import Page, PathId, read, write
from octet.customers.models import Customer

router = Router(tags=["tokens"])


@router.get("", response=read(s.TokenPage), summary="List tokens")
def list_tokens(request: HttpRequest, page: Page) -> dict:
    """Revoked ones too (``revoked_at``). Never the tokens themselves: they are not kept."""
    require_staff(request, Scope.ADMIN)
    return paginate(
        ApiToken.objects.all(), limit=page.limit, cursor=page.cursor, item=serialize.token
    )


@router.post("", response=write(s.TokenCreatedOut, 201), summary="Create a token")
def create_token(request: HttpRequest, payload: s.TokenIn) -> Status:
    """The answer holds the token: store it now, it is shown this once."""
    token = require_staff(request, Scope.ADMIN)
    customer = None
    if payload.customer_id is not None:
        customer = get_visible(request, Customer.objects.all(), payload.customer_id, "customer", "")
    created, raw = services.create_token(
        name=payload.name,
        scopes=[str(scope) for scope in payload.scopes],
        customer=customer,
        rate_limit=payload.rate_limit,
        expires_at=payload.expires_at,
        actor=token.actor,
    )
    return Status(201, s.TokenCreatedOut(**serialize.token(created).model_dump(), token=raw))


@router.get("/{token_id}", response=read(s.TokenOut), summary="A token")
def get_token(request: HttpRequest, token_id: PathId) -> s.TokenOut:
    require_staff(request, Scope.ADMIN)
    return serialize.token(get_visible(request, ApiToken.objects.all(), token_id, "token", ""))


@router.delete("/{token_id}", response=write(s.TokenOut), summary="Revoke a token")
def revoke_token(request: HttpRequest, token_id: PathId) -> s.TokenOut:
    """It stops working at once. Revoking a revoked token changes nothing."""
    token = require_staff(request, Scope.ADMIN)
    found = get_visible(request, ApiToken.objects.all(), token_id, "token", "")
    return serialize.token(services.revoke_token(found, actor=token.actor))
