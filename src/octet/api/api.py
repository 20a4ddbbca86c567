"""The ``/api/v1`` NinjaAPI: routers, authentication, and every error as JSON.

Errors always have the body ``{"detail": message, "field": name or null}``:

* 400 bad input (the request's own values, or a service's InvalidInput);
* 401 no valid token; 403 the token may not do this; 404 not there (or not the
  token's customer's); 405 no such method; 409 the state forbids it (Conflict);
* 422 an Idempotency-Key reused for another request; 429 over the rate limit
  (with ``Retry-After``);
* 500 never a traceback: a request id, and the traceback in the server log.
"""

import logging
import re
import uuid
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from octet.api.auth import Forbidden, RateLimited, TokenAuth, Unauthorized
from octet.api.idempotency import KeyReused
from octet.core.errors import Conflict, InvalidInput, NotFound, OctetError

log = logging.getLogger("octet.api")

DESCRIPTION = """Octet's REST API: customers, plans, subscriptions, usage and sessions,
invoices and credit notes, payments. Authenticate with `Authorization: Bearer <token>`
(tokens are created by staff: `octet token create`). Amounts are decimal strings.
Lists are paginated by cursor (`limit`, `cursor`; the response's `next`). POSTs that
change money or service accept an `Idempotency-Key`. See docs/api.md."""


class OctetAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Any) -> str:
        # Plain names (listCustomers-style ids read badly in generated clients otherwise).
        return operation.view_func.__name__


api = OctetAPI(
    title="Octet API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    auth=TokenAuth(),
    docs_url="/docs",
)


def error(request: HttpRequest, status: int, detail: str, field: str | None = None) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "field": field}, status=status)


_STATUS = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    KeyReused: 422,
    RateLimited: 429,
}


@api.exception_handler(OctetError)
def octet_error(request: HttpRequest, exc: OctetError) -> HttpResponse:
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    response = error(request, status, exc.message, exc.field)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="octet"'
    return response


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$|^[0-9]+$")


def _field(loc: tuple[Any, ...]) -> str | None:
    # ("body", "payload", "amount") → "amount"; ("query", "limit") → "limit". Pydantic's
    # own steps (union members, validator names) are not the client's business.
    parts = [str(p) for p in loc[1:]]
    if loc and loc[0] == "body" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(p for p in parts if _NAME.match(p)) or None


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    messages = []
    first_field = None
    for err in exc.errors:
        field = _field(tuple(err.get("loc", ())))
        first_field = first_field or field
        text = str(err.get("msg", "is not valid"))
        messages.append(f"{field}: {text}" if field else text)
    return error(request, 400, "; ".join(messages) or "the request is not valid", first_field)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error(request, 401, "send the API token as 'Authorization: Bearer <token>'")
    response["WWW-Authenticate"] = 'Bearer realm="octet"'
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    detail = str(exc)
    if exc.status_code == 400 and detail.startswith("Cannot parse request body"):
        detail = "the request body is not valid JSON"
    return error(request, exc.status_code, detail)


@api.exception_handler(SuspiciousOperation)
def suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # Django's own refusals of a request (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, …).
    if isinstance(exc, RequestDataTooBig):
        return error(request, 400, "the request body is too large")
    return error(request, 400, "the request was refused as malformed")


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(request, 404, "not found")


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    request_id = uuid.uuid4().hex
    # The traceback stays here; the client gets an id to quote. Bodies are not logged:
    # they may hold passwords and secrets.
    log.error("API error %s on %s %s", request_id, request.method, request.path, exc_info=exc)
    response = api.create_response(
        request,
        {
            "detail": "internal error; quote the request id to support",
            "field": None,
            "request_id": request_id,
        },
        status=500,
    )
    response["X-Request-Id"] = request_id
    return response


def _routers() -> None:
    from octet.api.routers import (
        customers,
        invoices,
        meta,
        network,
        payments,
        plans,
        subscriptions,
        tokens,
    )

    api.add_router("", meta.router)
    api.add_router("/customers", customers.router)
    api.add_router("/plans", plans.router)
    api.add_router("/subscriptions", subscriptions.router)
    api.add_router("", network.router)
    api.add_router("/invoices", invoices.router)
    api.add_router("", payments.router)
    api.add_router("/tokens", tokens.router)


_routers()
