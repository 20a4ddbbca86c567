"""The calling token itself."""

from django.http import HttpRequest
from ninja import Router

from octet.api import schemas as s
from octet.api import serialize
from octet.api.auth import token_of
from octet.api.routers.common import read

router = Router(tags=["tokens"])


@router.get("/me", response=read(s.TokenOut), summary="The calling token")
def me(request: HttpRequest) -> s.TokenOut:
    """Its name, scopes, customer (if tied to one) and rate limit."""
    return serialize.token(token_of(request))
