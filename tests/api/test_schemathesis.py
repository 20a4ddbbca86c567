"""Schemathesis against the live WSGI app: no server error, no answer outside the schema.

Every operation of the served OpenAPI document gets generated requests, sent with an admin
token through Django's WSGI handler (inside the test's transaction, on seeded data):

* the coverage phase's invalid requests (wrong types, out-of-range values, missing fields,
  unexpected methods, no token), deterministic;
* ``MAX_EXAMPLES`` fuzzed requests per operation, valid and invalid, from a fixed seed.

Checks: no 5xx; status codes, content types, headers and bodies as documented; invalid
data refused; no access without the token; 405 with ``Allow`` for other methods. About
25 s; ``OCTET_SCHEMATHESIS_EXAMPLES=200`` runs it harder (and adds the coverage phase's
valid requests).
"""

from __future__ import annotations

import os

import pytest

from conftest import require_tool

try:
    import schemathesis
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks as openapi_checks

    AVAILABLE = True
except ImportError:  # pragma: no cover - the test extra installs it
    AVAILABLE = False

DEFAULT_EXAMPLES = 6
MAX_EXAMPLES = int(os.environ.get("OCTET_SCHEMATHESIS_EXAMPLES", DEFAULT_EXAMPLES))
THOROUGH = MAX_EXAMPLES > DEFAULT_EXAMPLES


@pytest.fixture
def wsgi_app(db):
    """Django's WSGI handler, keeping the test's connection (and transaction) open."""
    from django.core import signals
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_token(operator, asha, ravi, fiber100, fiber300):
    """Data to find (two customers, subscriptions, invoices, a payment, a NAS, a session,
    a draft) and an admin token that may do everything."""
    from octet.api.tokens import create_token
    from octet.billing.services import draft_invoice, issue_credit_note
    from octet.core import clock
    from octet.network.models import RadiusSession
    from octet.network.services import create_nas
    from octet.payments.services import record_payment
    from octet.subscriptions.services import subscribe

    sub = subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="seed")
    subscribe(ravi, fiber300, username="ravi", password="s3cret-Pass", actor="seed")
    invoice = sub.invoices.get(kind="invoice")
    record_payment(asha, "100.00", "cash", actor="seed")
    issue_credit_note(invoice, "10.00", reason="seed", actor="seed")
    draft_invoice(ravi, [{"description": "Router", "unit_price": "1500"}], actor="seed")
    nas = create_nas(name="bng1", address="10.0.0.1", secret="testing123", actor="seed")
    now = clock.now()
    RadiusSession.objects.create(
        nas=nas,
        acct_session_id="s1",
        username="asha",
        subscription=sub,
        started_at=now,
        updated_at=now,
    )
    _, raw = create_token(name="fuzzer", scopes=["admin"], rate_limit=100_000, actor="seed")
    return raw


@pytest.fixture
def api_schema(wsgi_app, api_token):
    config = schemathesis.Config.from_dict(
        {
            "seed": 2026,
            "phases": {"coverage": {"generation": {"mode": "all" if THOROUGH else "negative"}}},
            # Unknown query parameters are ignored by design (docs/api.md); bodies refuse
            # unknown fields, which the generated invalid bodies do check.
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "mode": "all",
                "allow-extra-parameters": False,
            },
        }
    )
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app, config=config)


if AVAILABLE:
    schema = schemathesis.pytest.from_fixture("api_schema")
    CHECKS = [
        not_a_server_error,
        openapi_checks.status_code_conformance,
        openapi_checks.content_type_conformance,
        openapi_checks.response_headers_conformance,
        openapi_checks.response_schema_conformance,
        openapi_checks.negative_data_rejection,
        openapi_checks.ignored_auth,
        openapi_checks.unsupported_method,
        openapi_checks.allow_header_conformance,
    ]

    @schema.parametrize()
    @settings(
        deadline=None,
        suppress_health_check=list(HealthCheck),
        max_examples=MAX_EXAMPLES,
    )
    def test_the_api_keeps_to_its_schema(case, api_token):
        case.call_and_validate(
            headers={"Authorization": f"Bearer {api_token}"},
            checks=CHECKS,
        )

else:  # pragma: no cover

    def test_the_api_keeps_to_its_schema():
        require_tool(False, "schemathesis is not installed (pip install -e '.[test]')")
