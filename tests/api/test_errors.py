"""Errors are JSON with a message; a crash is a 500 with a request id, never a traceback."""

from __future__ import annotations

import logging

import pytest

from octet.api import serialize

from .client import error_of


def test_a_crash_is_a_json_500_with_a_request_id(admin_api, asha, monkeypatch, caplog):
    def broken(customer):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(serialize, "customer", broken)
    with caplog.at_level(logging.ERROR, logger="octet.api"):
        response = admin_api.get(f"/customers/{asha.pk}")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["request_id"] and response["X-Request-Id"] == body["request_id"]
    text = response.content.decode()
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text
    logged = [r for r in caplog.records if r.name == "octet.api"]
    assert body["request_id"] in logged[0].getMessage() and logged[0].exc_info


def test_unknown_paths_are_json_404(admin_api, operator):
    response = admin_api.get("/no/such/thing")
    assert response.status_code == 404
    error_of(response)


def test_an_unknown_method_is_405(admin_api, operator):
    response = admin_api.client.put("/api/v1/customers", headers=admin_api._headers(None))
    assert response.status_code == 405
    assert "GET" in response["Allow"] and "POST" in response["Allow"]


@pytest.mark.parametrize("body", ["{", "[1, 2", "\u00ff", "null", "[]", '"text"'])
def test_a_body_that_is_not_an_object_is_400(admin_api, operator, body):
    response = admin_api.post("/customers", body)
    assert response.status_code == 400
    error_of(response)


@pytest.mark.parametrize(
    "path",
    [
        "/customers/0",
        "/customers/-1",
        "/customers/99999999999999999999999",
        "/customers/abc",
        "/invoices/1e3",
    ],
)
def test_bad_ids_are_400_or_404(admin_api, operator, path):
    response = admin_api.get(path)
    assert response.status_code in {400, 404}
    error_of(response)


def test_nul_and_lone_surrogates_are_refused(admin_api, operator):
    for q in ["a\x00b"]:
        response = admin_api.get("/customers", {"q": q})
        assert response.status_code == 400, q
    response = admin_api.post("/customers", '{"name": "\\ud800", "state_code": "29"}')
    assert response.status_code == 400
    assert error_of(response)["field"] == "name"


def test_post_needs_no_csrf_token(admin_api, operator):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/customers",
        data={"name": "Csrf Free", "state_code": "29"},
        content_type="application/json",
        headers=admin_api._headers(None),
    )
    assert response.status_code == 201


def test_a_huge_body_is_400(admin_api, operator, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = admin_api.post("/customers", {"name": "x" * 2000, "state_code": "29"})
    assert response.status_code == 400
    assert "too large" in error_of(response)["detail"]


def test_an_action_needs_no_body(network_api, asha_sub):
    path = f"/api/v1/subscriptions/{asha_sub.pk}"
    headers = network_api._headers(None)
    client = network_api.client
    suspended = client.generic(
        "POST", f"{path}/suspend", b'{"reason": "staff"}', "application/json", headers=headers
    )
    assert suspended.status_code == 200
    response = client.generic("POST", f"{path}/reconnect", b"", headers=headers)  # curl -X POST
    assert response.status_code == 200 and response.json()["state"] == "active"
    response = client.generic(
        "POST", f"{path}/terminate", b"null", "application/json", headers=headers
    )
    assert response.status_code == 200 and response.json()["state"] == "terminated"
