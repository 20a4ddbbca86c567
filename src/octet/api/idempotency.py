"""``Idempotency-Key`` on POSTs: a retried request gets the first answer, never a second change.

The key is stored with a fingerprint of the request (method, path, canonical JSON body)
and the response, in the same transaction as the change itself:

* same token and key, same request: the stored response again (``Idempotent-Replayed``);
* same key, another request: 422;
* at the same time: the second waits on the key's unique constraint (PostgreSQL) or on
  the write lock (SQLite) until the first commits, then gets its answer;
* a request that fails (4xx) stores nothing: nothing was written, the key stays free;
* keys are forgotten after :data:`KEEP`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from ninja.responses import NinjaJSONEncoder, Status
from pydantic import BaseModel

from octet.api.auth import token_of
from octet.api.models import IdempotencyKey
from octet.core import clock
from octet.core.errors import Conflict, OctetError

KEEP = timedelta(hours=24)
HEADER = "Idempotency-Key"
JSON = "application/json; charset=utf-8"


class KeyReused(OctetError):
    """The key was used for another request (422)."""


def fingerprint(request: HttpRequest) -> str:
    body: bytes = request.body or b""
    with contextlib.suppress(ValueError):  # the same JSON however spaced or ordered
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(body)
    return digest.hexdigest()


def render(result: Any) -> tuple[int, str]:
    """A view's result (a schema, or Status(code, schema)) as status and JSON text."""
    status = 200
    if isinstance(result, Status):
        status, result = result.status_code, result.value
    if isinstance(result, BaseModel):
        result = result.model_dump()
    return status, json.dumps(result, cls=NinjaJSONEncoder)  # as ninja renders it


def _response(status: int, body: str, *, replayed: bool = False) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type=JSON)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class _Failed(Exception):
    """Carries a non-2xx response out of the transaction, rolling the key back with it."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _replay(request: HttpRequest, key: str, print_: str) -> HttpResponse:
    stored = IdempotencyKey.objects.filter(token=token_of(request), key=key).first()
    if stored is None:  # expired and purged by another request just now
        raise Conflict(f"the {HEADER} is in use by another request; retry", field=HEADER)
    if stored.fingerprint != print_:
        raise KeyReused(
            f"this Idempotency-Key was used for another request ({stored.method} "
            f"{stored.path} with another body); use a new key for a new request",
            field=HEADER,
        )
    return _response(stored.status_code, stored.response_body, replayed=True)


def run_once(request: HttpRequest, key: str, call: Callable[[], Any]) -> HttpResponse:
    """Run ``call`` once per (token, key); store and replay its answer."""
    token = token_of(request)
    print_ = fingerprint(request)
    now = clock.now()
    IdempotencyKey.objects.filter(token=token, created_at__lt=now - KEEP).delete()
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        token=token,
                        key=key,
                        fingerprint=print_,
                        method=request.method or "",
                        path=request.path[:300],
                        status_code=0,
                        response_body="",
                        created_at=now,
                    )
            except IntegrityError:
                record = None
            if record is None:
                return _replay(request, key, print_)
            result = call()
            if isinstance(result, HttpResponse):
                status, body = result.status_code, result.content.decode()
            else:
                status, body = render(result)
            if not 200 <= status < 300:
                raise _Failed(_response(status, body))
            record.status_code = status
            record.response_body = body
            record.save(update_fields=["status_code", "response_body"])
            return _response(status, body)
    except _Failed as failed:
        return failed.response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Make a POST view honour the ``Idempotency-Key`` header (its ``idempotency_key``)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        key = kwargs.get("idempotency_key")
        if not key:
            return view(request, *args, **kwargs)
        return run_once(request, key, lambda: view(request, *args, **kwargs))

    return wrapper
