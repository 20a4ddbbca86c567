"""API token use cases: create (the token is shown once), list, revoke, authenticate.

A token is ``oct_`` and 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored: with that much entropy a slow hash adds nothing, and a lookup by digest is one
indexed query per request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction

from octet.api.models import ApiToken, Scope
from octet.core import audit, clock
from octet.core.errors import Conflict, InvalidInput
from octet.customers.models import Customer

TOKEN_PREFIX = "oct_"
DISPLAY_CHARS = 12  # "oct_" and 8 characters: enough to tell tokens apart in a list
DEFAULT_RATE_LIMIT = 120
MAX_RATE_LIMIT = 100_000


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _public(token: ApiToken) -> dict:
    """What the audit log keeps of a token: never its digest."""
    return {
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "customer_id": token.customer_id,
        "rate_limit": token.rate_limit,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    given = [str(s).strip().lower() for s in scopes if str(s).strip()]
    unknown = sorted(set(given) - set(Scope.values))
    if unknown:
        raise InvalidInput(
            f"unknown scope(s): {', '.join(unknown)} (use {', '.join(Scope.values)})",
            field="scopes",
        )
    if not given:
        raise InvalidInput(
            f"a token needs at least one scope ({', '.join(Scope.values)})", field="scopes"
        )
    return [s for s in Scope.values if s in given]  # one order, whatever the caller's


@transaction.atomic
def create_token(
    *,
    name: str,
    scopes: Iterable[str],
    actor: str,
    customer: Customer | None = None,
    rate_limit: int = DEFAULT_RATE_LIMIT,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its cleartext, which is never stored and cannot be shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInput("a token needs a printable name of 1-100 characters", field="name")
    scope_list = normalize_scopes(scopes)
    if customer is not None and Scope.ADMIN in scope_list:
        raise InvalidInput("a customer's token cannot have the admin scope", field="scopes")
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int):
        raise InvalidInput("the rate limit is a whole number of requests", field="rate_limit")
    if not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise InvalidInput(
            f"the rate limit must be 1-{MAX_RATE_LIMIT} requests a minute", field="rate_limit"
        )
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("the expiry must be in the future", field="expires_at")
    if ApiToken.objects.filter(name=name, revoked_at__isnull=True).exists():
        raise Conflict(f"a live token named {name!r} exists", field="name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=raw[:DISPLAY_CHARS],
        digest=digest_of(raw),
        scopes=scope_list,
        customer=customer,
        rate_limit=rate_limit,
        created_at=now,
        created_by=actor,
        expires_at=expires_at,
    )
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError as exc:  # a concurrent request took the name first
        raise Conflict(f"a live token named {name!r} exists", field="name") from exc
    audit.record(
        actor=actor, action="api_token.created", instance=token, reason="", after=_public(token)
    )
    return token, raw


@transaction.atomic
def revoke_token(token: ApiToken, *, actor: str, reason: str = "revoked") -> ApiToken:
    """Stop a token from working, at once. Revoking twice changes nothing."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    before = _public(token)
    token.revoked_at = clock.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit.record(
        actor=actor,
        action="api_token.revoked",
        instance=token,
        reason=reason,
        before=before,
        after=_public(token),
    )
    return token


def find_live(raw: str) -> ApiToken | None:
    """The live token with this cleartext, or None (unknown, revoked or expired)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("customer")
        .filter(digest=digest_of(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or (token.expires_at is not None and token.expires_at <= clock.now()):
        return None
    return token
