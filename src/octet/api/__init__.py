"""Octet's REST API, ``/api/v1`` (docs/api.md): token auth, scopes, rate limits, idempotency."""
