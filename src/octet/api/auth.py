"""Who is calling: bearer tokens, their scopes, their customer, their rate limit.

Every scope can read; ``billing`` and ``network`` can also make their own kind of change,
``admin`` can do everything. A token tied to a customer sees that customer's data only:
anything else answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from ninja.security import HttpBearer

from octet.api import ratelimit, tokens
from octet.api.models import ApiToken, Scope
from octet.core.errors import NotFound, OctetError

M = TypeVar("M", bound=Model)


class Unauthorized(OctetError):
    """No token, or not a live one (401)."""


class Forbidden(OctetError):
    """The token lacks the scope, or is tied to a customer (403)."""


class RateLimited(OctetError):
    """Over the token's requests per minute (429, with Retry-After)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenAuth(HttpBearer):
    """``Authorization: Bearer oct_…``; counts the request against the token's limit."""

    def __call__(self, request: HttpRequest) -> ApiToken:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        if not header:
            raise Unauthorized("send the API token as 'Authorization: Bearer <token>'")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = tokens.find_live(token)
        if found is None:
            raise Unauthorized("the API token is not valid (unknown, revoked or expired)")
        verdict = ratelimit.hit(found)
        if not verdict.allowed:
            raise RateLimited(
                f"rate limit of {verdict.limit} requests a minute reached; "
                f"retry in {verdict.retry_after} s",
                verdict.retry_after,
            )
        if not found.allows(Scope.READ):  # every scope reads; a token without one does nothing
            raise Forbidden("the token has no scope")
        return found


def token_of(request: HttpRequest) -> ApiToken:
    return request.auth  # type: ignore[attr-defined]


def require(request: HttpRequest, scope: str) -> ApiToken:
    """The calling token, if it has ``scope``; else Forbidden naming what is missing."""
    token = token_of(request)
    if not token.allows(scope):
        have = ", ".join(token.scopes) or "none"
        raise Forbidden(f"this needs the {scope} scope (the token has: {have})")
    return token


def require_staff(request: HttpRequest, scope: str = Scope.READ) -> ApiToken:
    """As :func:`require`, and refused to a customer's token: infrastructure, tokens, and
    money going back to the customer (credit notes, write-offs, refunds, reversals)."""
    token = require(request, scope)
    if token.customer_id is not None:
        raise Forbidden("a customer's token cannot do this: it is for staff tokens only")
    return token


def visible(request: HttpRequest, qs: QuerySet[M], customer_field: str = "customer") -> QuerySet[M]:
    """``qs`` limited to the calling token's customer, if it has one."""
    customer_id = token_of(request).customer_id
    if customer_id is None:
        return qs
    return qs.filter(**{f"{customer_field}_id" if customer_field else "pk": customer_id})


def get_visible(
    request: HttpRequest, qs: QuerySet[M], pk: int, what: str, customer_field: str = "customer"
) -> M:
    """One row the token may see, or NotFound (also for another customer's row)."""
    found = visible(request, qs, customer_field).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no {what} with id {pk}", field=None)
    return found
