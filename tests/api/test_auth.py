"""Tokens: who may call, with which scope, for which customer, how often."""

from __future__ import annotations

from datetime import timedelta

import pytest

from octet import cli
from octet.api import tokens
from octet.api.models import ApiToken, RateCounter
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import AuditEntry
from octet.payments.models import Payment

from .client import Api, error_of


def test_no_token_is_401(anonymous_api, operator):
    response = anonymous_api.get("/customers")
    assert response.status_code == 401
    assert "Bearer" in error_of(response)["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer oct_not-a-real-token", "Bearer x y"]
)
def test_a_bad_token_is_401(operator, header):
    api = Api(None)
    response = api.get("/customers", headers={"Authorization": header})
    assert response.status_code == 401
    error_of(response)


def test_a_revoked_token_is_401(make_token):
    raw = make_token("admin", name="old")
    api = Api(raw)
    assert api.get("/me").status_code == 200
    tokens.revoke_token(ApiToken.objects.get(name="old"), actor="test")
    response = api.get("/me")
    assert response.status_code == 401
    assert "revoked" in error_of(response)["detail"]


def test_an_expired_token_is_401(operator):
    token, raw = tokens.create_token(
        name="short", scopes=["read"], actor="test", expires_at=clock.now() + timedelta(hours=1)
    )
    assert Api(raw).get("/me").status_code == 200
    with clock.frozen_at(clock.now() + timedelta(hours=2)):
        assert Api(raw).get("/me").status_code == 401


def test_only_the_digest_is_stored(make_token):
    raw = make_token("read", name="stored")
    token = ApiToken.objects.get(name="stored")
    assert raw.startswith("oct_") and len(raw) > 40
    assert token.digest == tokens.digest_of(raw) and raw not in token.digest
    assert token.prefix == raw[:12]
    created = AuditEntry.objects.get(action="api_token.created", entity_id=str(token.pk))
    assert raw not in str(created.after) and token.digest not in str(created.after)


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [("read", False), ("network", False), ("billing", True), ("admin", True)],
)
def test_recording_a_payment_needs_billing(make_token, asha, scope, allowed):
    api = Api(make_token(scope))
    response = api.post("/payments", {"customer_id": asha.pk, "amount": "100.00", "method": "cash"})
    if allowed:
        assert response.status_code == 201
    else:
        assert response.status_code == 403
        assert "billing scope" in error_of(response)["detail"]
    assert Payment.objects.count() == (1 if allowed else 0)


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [("read", False), ("billing", False), ("network", True), ("admin", True)],
)
def test_suspending_needs_network(make_token, asha_sub, scope, allowed):
    api = Api(make_token(scope))
    response = api.post(f"/subscriptions/{asha_sub.pk}/suspend", {"reason": "staff"})
    assert response.status_code == (200 if allowed else 403)
    asha_sub.refresh_from_db()
    assert asha_sub.state == ("suspended" if allowed else "active")


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [("read", False), ("billing", False), ("network", False), ("admin", True)],
)
def test_creating_customers_needs_admin(make_token, operator, scope, allowed):
    api = Api(make_token(scope))
    response = api.post("/customers", {"name": "New Person", "state_code": "29"})
    assert response.status_code == (201 if allowed else 403)


@pytest.mark.parametrize("scope", ["read", "billing", "network"])
def test_every_scope_reads(make_token, asha_invoice, scope):
    api = Api(make_token(scope))
    for path in ["/customers", "/plans", "/subscriptions", "/invoices", "/payments", "/usage"]:
        assert api.get(path).status_code == 200, path
    assert api.get(f"/invoices/{asha_invoice.pk}").status_code == 200


def test_tokens_need_admin(make_token):
    for scope in ["read", "billing", "network"]:
        response = Api(make_token(scope)).get("/tokens")
        assert response.status_code == 403
        assert "admin scope" in error_of(response)["detail"]


# -- a customer's token ------------------------------------------------------------------


@pytest.fixture
def asha_api(make_token, asha):
    return Api(make_token("read", "billing", customer=asha))


def test_a_customer_token_cannot_read_another_customers_invoice(
    asha_api, asha_invoice, ravi_invoice
):
    assert asha_api.get(f"/invoices/{asha_invoice.pk}").status_code == 200
    for path in ["", "/pdf", "/ubl", "/allocations"]:
        response = asha_api.get(f"/invoices/{ravi_invoice.pk}{path}")
        assert response.status_code == 404, path
        expected = f"no invoice or credit note with id {ravi_invoice.pk}"
        assert error_of(response)["detail"] == expected


def test_a_customer_token_lists_only_its_own(asha_api, asha, ravi, asha_invoice, ravi_invoice):
    assert [c["id"] for c in asha_api.get("/customers").json()["items"]] == [asha.pk]
    invoices = asha_api.get("/invoices").json()["items"]
    assert [i["id"] for i in invoices] == [asha_invoice.pk]
    assert asha_api.get("/invoices", {"customer_id": ravi.pk}).json()["items"] == []
    subs = asha_api.get("/subscriptions").json()["items"]
    assert [s["customer_id"] for s in subs] == [asha.pk]
    assert asha_api.get(f"/customers/{ravi.pk}").status_code == 404
    assert asha_api.get(f"/customers/{ravi.pk}/balance").status_code == 404
    assert asha_api.get(f"/subscriptions/{ravi_invoice.subscription_id}").status_code == 404


def test_a_customer_token_cannot_pay_for_another(asha_api, ravi, ravi_invoice):
    response = asha_api.post(
        "/payments", {"customer_id": ravi.pk, "amount": "10.00", "method": "cash"}
    )
    assert response.status_code == 404
    assert Payment.objects.count() == 0


def test_a_customer_token_pays_its_own(asha_api, asha, asha_invoice):
    response = asha_api.post(
        "/payments",
        {"customer_id": asha.pk, "amount": "10.00", "method": "upi", "reference": "UTR1"},
    )
    assert response.status_code == 201
    payment = Payment.objects.get()
    assert payment.actor.startswith("api:test-read-billing")


def test_a_customer_token_does_not_see_drafts_nas_or_tokens(asha_api, asha, asha_sub):
    from octet.billing.services import draft_invoice

    draft = draft_invoice(asha, [{"description": "Router", "unit_price": "1500"}], actor="t")
    assert asha_api.get(f"/invoices/{draft.pk}").status_code == 404
    assert asha_api.get("/nas").status_code == 403
    assert asha_api.get("/tokens").status_code == 403


def test_a_customer_token_cannot_give_money_back(asha_api, asha, asha_invoice):
    payment = asha_api.post(
        "/payments", {"customer_id": asha.pk, "amount": "10.00", "method": "upi"}
    ).json()
    refused = [
        asha_api.post(f"/invoices/{asha_invoice.pk}/credit-notes", {"amount": "1", "reason": "x"}),
        asha_api.post(f"/invoices/{asha_invoice.pk}/write-off", {"reason": "x"}),
        asha_api.post(f"/payments/{payment['id']}/reverse", {"reason": "x"}),
        asha_api.post(
            "/refunds",
            {"customer_id": asha.pk, "amount": "1.00", "method": "upi", "reason": "x"},
        ),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    assert "staff tokens only" in error_of(refused[0])["detail"]


def test_a_customer_token_cannot_be_admin(asha):
    with pytest.raises(InvalidInput, match="admin scope"):
        tokens.create_token(name="x", scopes=["admin"], customer=asha, actor="test")


# -- rate limits -------------------------------------------------------------------------


def test_over_the_rate_limit_is_429_with_retry_after(make_token):
    api = Api(make_token("read", rate_limit=3))
    assert [api.get("/me").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("/me")
    assert response.status_code == 429
    assert "3 requests a minute" in error_of(response)["detail"]
    assert 1 <= int(response["Retry-After"]) <= 60


def test_the_limit_is_per_token_and_per_window(make_token):
    limited = Api(make_token("read", rate_limit=1, name="one"))
    other = Api(make_token("read", name="other"))
    start = clock.now().replace(second=5)
    with clock.frozen_at(start):
        assert limited.get("/me").status_code == 200
        assert limited.get("/me").status_code == 429
        assert other.get("/me").status_code == 200
    with clock.frozen_at(start + timedelta(minutes=1)):
        assert limited.get("/me").status_code == 200
    # Old windows are dropped when a new one starts.
    assert RateCounter.objects.filter(token__name="one").count() == 1


def test_the_counter_is_in_the_database(make_token):
    raw = make_token("read", rate_limit=2, name="shared")
    # Two clients (think: two processes) share the token's window.
    assert Api(raw).get("/me").status_code == 200
    assert Api(raw).get("/me").status_code == 200
    assert Api(raw).get("/me").status_code == 429
    assert RateCounter.objects.get(token__name="shared").count == 3


# -- managing tokens ---------------------------------------------------------------------


def test_create_list_and_revoke_tokens(admin_api, asha):
    response = admin_api.post(
        "/tokens", {"name": "portal", "scopes": ["read", "billing"], "customer_id": asha.pk}
    )
    assert response.status_code == 201
    created = response.json()
    raw = created["token"]
    assert raw.startswith(created["prefix"])
    assert created["scopes"] == ["read", "billing"] and created["customer_id"] == asha.pk

    listed = admin_api.get("/tokens").json()["items"]
    assert "portal" in [t["name"] for t in listed]
    assert all("token" not in t for t in listed)
    assert raw not in admin_api.get("/tokens").content.decode()

    assert Api(raw).get("/me").json()["name"] == "portal"
    response = admin_api.delete(f"/tokens/{created['id']}")
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert Api(raw).get("/me").status_code == 401
    assert AuditEntry.objects.filter(action="api_token.revoked", actor="api:test-admin-all")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "rate_limit": 0}, "rate_limit"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2031-01-01T00:00:00"}, "expires_at"),
        ({"name": "x", "scopes": ["admin"], "customer_id": "asha"}, "scopes"),
        ({"name": "x", "scopes": ["read"], "customer_id": 999999999}, None),
        ({"name": "test-admin-all", "scopes": ["read"]}, "name"),
        ({"scopes": ["read"]}, "name"),
    ],
)
def test_bad_token_requests(admin_api, asha, body, field):
    if body.get("customer_id") == "asha":
        body = body | {"customer_id": asha.pk}
    before = ApiToken.objects.count()
    response = admin_api.post("/tokens", body)
    assert response.status_code in {400, 404, 409}
    got = error_of(response)["field"]
    assert (got.split(".")[0] if got else None) == field
    assert ApiToken.objects.count() == before


def test_a_live_name_is_taken_once(operator):
    tokens.create_token(name="erp", scopes=["read"], actor="t")
    with pytest.raises(Conflict):
        tokens.create_token(name="erp", scopes=["read"], actor="t")
    tokens.revoke_token(ApiToken.objects.get(name="erp"), actor="t")
    tokens.create_token(name="erp", scopes=["read"], actor="t")  # the name is free again


def test_cli_token_create_list_revoke(operator, asha, capsys):
    assert cli.main(["token", "create", "erp", "--scopes", "read,billing"]) == 0
    out = capsys.readouterr().out
    raw = out.strip().splitlines()[-1]
    assert raw.startswith("oct_") and "shown this once" in out
    assert Api(raw).get("/me").json()["scopes"] == ["read", "billing"]

    assert cli.main(["token", "create", "portal", "--customer", asha.account_number]) == 0
    capsys.readouterr()
    assert cli.main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "erp" in listing and asha.account_number in listing and raw not in listing

    assert cli.main(["token", "revoke", "erp"]) == 0
    assert Api(raw).get("/me").status_code == 401
    assert cli.main(["token", "revoke", "erp"]) == 2
    assert cli.main(["token", "create", "bad", "--scopes", "root"]) == 2
    assert "unknown scope" in capsys.readouterr().err
