"""A test client for /api/v1 that sends a bearer token, and an error-body check."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client


class Api:
    """A test client for /api/v1 with a bearer token; JSON in, response out."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.client = Client()

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.token is not None:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def get(self, path: str, params: dict[str, Any] | None = None, **kw):
        return self.client.get(
            f"/api/v1{path}", params or {}, headers=self._headers(kw.pop("headers", None)), **kw
        )

    def _send(self, method: str, path: str, body: Any, headers: dict[str, str] | None):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return getattr(self.client, method)(
            f"/api/v1{path}",
            data=data,
            content_type="application/json",
            headers=self._headers(headers),
        )

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None):
        return self._send("post", path, {} if body is None else body, headers)

    def patch(self, path: str, body: Any, headers: dict[str, str] | None = None):
        return self._send("patch", path, body, headers)

    def delete(self, path: str, headers: dict[str, str] | None = None):
        return self.client.delete(f"/api/v1{path}", headers=self._headers(headers))


def error_of(response) -> dict:
    """The JSON error body, checked to carry a message."""
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert "field" in body
    return body
