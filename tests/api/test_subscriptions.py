"""Subscriptions: subscribe, state actions, plan changes, history, usage, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from octet.billing.models import Invoice
from octet.core import clock
from octet.core.models import AuditEntry
from octet.metering.models import UsagePeriod
from octet.network.models import RadiusSession
from octet.network.services import create_nas
from octet.subscriptions.models import PlanChange, StateChange, Subscription
from octet.subscriptions.services import billing_period

from .client import error_of


def test_subscribe(admin_api, asha, fiber100):
    response = admin_api.post(
        "/subscriptions",
        {
            "customer_id": asha.pk,
            "plan": "fiber100",
            "username": "asha@kaveri",
            "password": "s3cret-Pass",
            "static_ip": "203.0.113.7",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "active" and body["plan_code"] == "FIBER100"
    assert body["static_ip"] == "203.0.113.7"
    assert "password" not in response.content.decode().lower().replace("password_", "")
    sub = Subscription.objects.get(pk=body["id"])
    assert sub.radius_password() == "s3cret-Pass"
    assert Invoice.objects.filter(subscription=sub).count() == 1  # first period billed


def test_subscribe_pending(admin_api, asha, fiber100):
    response = admin_api.post(
        "/subscriptions",
        {
            "customer_id": asha.pk,
            "plan": "FIBER100",
            "username": "asha",
            "password": "s3cret-Pass",
            "activate": False,
        },
    )
    assert response.json()["state"] == "pending"
    response = admin_api.post(f"/subscriptions/{response.json()['id']}/activate")
    assert response.status_code == 200 and response.json()["state"] == "active"


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"username": "asha"}, 409, "username"),  # taken by asha_sub
        ({"username": "bad name"}, 400, "radius"),
        ({"password": "short"}, 400, "password"),
        ({"password": "has space 123"}, 400, "radius"),
        ({"plan": "NOPE"}, 404, "plan"),
        ({"customer_id": 999999999}, 404, None),
        ({"static_ip": "999.1.1.1"}, 400, "static_ip"),
        ({"addons": ["NOPE"]}, 404, "addons"),
        ({"username": None}, 400, "username"),
    ],
)
def test_bad_subscriptions_write_nothing(admin_api, asha_sub, changes, status, field):
    body = {
        "customer_id": asha_sub.customer_id,
        "plan": "FIBER100",
        "username": "asha2",
        "password": "s3cret-Pass",
    } | changes
    before = (Subscription.objects.count(), Invoice.objects.count(), AuditEntry.objects.count())
    response = admin_api.post("/subscriptions", body)
    assert response.status_code == status, response.content
    assert error_of(response)["field"] == field
    after = (Subscription.objects.count(), Invoice.objects.count(), AuditEntry.objects.count())
    assert after == before


def test_suspend_reconnect_terminate(network_api, asha_sub):
    path = f"/subscriptions/{asha_sub.pk}"
    response = network_api.post(f"{path}/suspend", {"reason": "abuse", "note": "spam"})
    assert response.json()["state"] == "suspended"
    assert response.json()["suspend_reason"] == "abuse"
    assert network_api.post(f"{path}/reconnect", {"note": "cleared"}).json()["state"] == "active"
    assert network_api.post(f"{path}/terminate").json()["state"] == "terminated"
    history = network_api.get(f"{path}/history").json()["items"]
    assert [(h["from_state"], h["to_state"]) for h in history] == [
        ("", "pending"),
        ("pending", "active"),
        ("active", "suspended"),
        ("suspended", "active"),
        ("active", "terminated"),
    ]
    assert history[2]["actor"] == "api:test-network-all" and history[2]["note"] == "spam"


@pytest.mark.parametrize(
    ("action", "body", "status", "field"),
    [
        ("suspend", {"reason": "holiday"}, 400, "reason"),
        ("suspend", {}, 400, "reason"),
        ("suspend", {"reason": "staff", "extra": 1}, 400, "extra"),
        ("reconnect", {}, 409, "state"),  # already active
        ("activate", None, 409, "state"),
        ("cancel", {"when": "tomorrow"}, 400, "when"),
        ("cancel", {"when": "now", "reason": "x" * 41}, 400, "reason"),
        ("change-plan", {"plan": "FIBER100"}, 409, "plan"),  # already on it
        ("change-plan", {"plan": "NOPE"}, 404, "plan"),
        ("change-plan", {"plan": "FIBER300", "when": "later"}, 400, "when"),
        ("password", {"password": "tiny"}, 400, "password"),
    ],
)
def test_bad_actions_change_nothing(network_api, asha_sub, fiber300, action, body, status, field):
    before = Subscription.objects.filter(pk=asha_sub.pk).values().get()
    changes = (StateChange.objects.count(), PlanChange.objects.count())
    if body is None:
        response = network_api.client.post(
            f"/api/v1/subscriptions/{asha_sub.pk}/{action}", headers=network_api._headers(None)
        )
    else:
        response = network_api.post(f"/subscriptions/{asha_sub.pk}/{action}", body)
    assert response.status_code == status, response.content
    assert error_of(response)["field"] == field
    assert Subscription.objects.filter(pk=asha_sub.pk).values().get() == before
    assert (StateChange.objects.count(), PlanChange.objects.count()) == changes


def test_actions_on_an_unknown_subscription_are_404(network_api, operator):
    for action in ["suspend", "reconnect", "terminate", "activate", "change-plan", "cancel"]:
        response = network_api.post(f"/subscriptions/999999999/{action}", {"reason": "staff"})
        assert response.status_code in {400, 404}


def test_change_plan_now_and_at_period_end(network_api, asha_sub, fiber300):
    later = network_api.post(
        f"/subscriptions/{asha_sub.pk}/change-plan", {"plan": "FIBER300", "when": "period_end"}
    )
    assert later.status_code == 201
    assert later.json()["status"] == "pending" and later.json()["to_plan"] == "FIBER300"
    sub = network_api.get(f"/subscriptions/{asha_sub.pk}").json()
    assert sub["pending_plan_change"]["id"] == later.json()["id"]
    now = network_api.post(
        f"/subscriptions/{asha_sub.pk}/change-plan", {"plan": "FIBER300", "when": "now"}
    )
    assert now.json()["status"] == "applied"
    assert network_api.get(f"/subscriptions/{asha_sub.pk}").json()["plan_code"] == "FIBER300"
    kinds = set(Invoice.objects.filter(subscription=asha_sub).values_list("kind", flat=True))
    assert kinds == {"invoice", "credit_note"}  # old plan's unused days credited


def test_cancel_at_period_end(network_api, asha_sub):
    response = network_api.post(
        f"/subscriptions/{asha_sub.pk}/cancel", {"when": "period_end", "reason": "moving"}
    )
    assert response.status_code == 200
    assert response.json()["cancel_at"] and response.json()["state"] == "active"


def test_set_the_radius_password(network_api, asha_sub):
    response = network_api.post(
        f"/subscriptions/{asha_sub.pk}/password", {"password": "n3w-Secret"}
    )
    assert response.status_code == 200
    asha_sub.refresh_from_db()
    assert asha_sub.radius_password() == "n3w-Secret"
    assert "n3w-Secret" not in str(list(AuditEntry.objects.values_list("after", flat=True)))


def test_list_subscriptions_with_filters(read_api, asha_sub, ravi_sub):
    def ids(**params) -> list[int]:
        return [s["id"] for s in read_api.get("/subscriptions", params).json()["items"]]

    assert ids() == [asha_sub.pk, ravi_sub.pk]
    assert ids(customer_id=ravi_sub.customer_id) == [ravi_sub.pk]
    assert ids(username="asha") == [asha_sub.pk]
    assert ids(state="suspended") == []
    assert read_api.get("/subscriptions", {"state": "sleeping"}).status_code == 400


def test_usage_of_a_period(read_api, asha_sub):
    period = billing_period(asha_sub)
    UsagePeriod.objects.create(
        subscription=asha_sub,
        period_start=period.start,
        period_end=period.end,
        download_bytes=5 * 10**9,
        upload_bytes=10**9,
        allowance_bytes=500 * 10**9,
        updated_at=clock.now(),
    )
    body = read_api.get(f"/subscriptions/{asha_sub.pk}/usage").json()
    assert body["download_bytes"] == 5 * 10**9 and body["period_start"] == str(period.start)
    rows = read_api.get("/usage", {"subscription_id": asha_sub.pk}).json()["items"]
    assert [r["upload_bytes"] for r in rows] == [10**9]
    earlier = read_api.get(
        f"/subscriptions/{asha_sub.pk}/usage", {"on": str(period.start - timedelta(days=1))}
    ).json()
    assert earlier["download_bytes"] == 0  # a period with nothing recorded yet
    for bad in ["yesterday", "0001-01-01", "9999-12-31"]:
        response = read_api.get(f"/subscriptions/{asha_sub.pk}/usage", {"on": bad})
        assert response.status_code == 400, bad
        assert error_of(response)["field"] == "on"


def test_sessions(read_api, network_api, asha_sub, ravi_sub, make_token):
    from .client import Api

    nas = create_nas(name="bng1", address="10.0.0.1", secret="testing123", actor="test")
    now = clock.now()
    for sub, stopped in [(asha_sub, None), (asha_sub, now), (ravi_sub, None)]:
        RadiusSession.objects.create(
            nas=nas,
            acct_session_id=f"s{RadiusSession.objects.count()}",
            username=sub.username,
            subscription=sub,
            started_at=now - timedelta(hours=1),
            updated_at=now,
            stopped_at=stopped,
            download_bytes=100,
        )
    assert len(read_api.get("/sessions").json()["items"]) == 3
    live = read_api.get("/sessions", {"subscription_id": asha_sub.pk, "open": "true"}).json()
    assert [s["stopped_at"] for s in live["items"]] == [None]
    mine = Api(make_token("read", customer=asha_sub.customer)).get("/sessions").json()
    assert {s["username"] for s in mine["items"]} == {"asha"}
    ravis = RadiusSession.objects.get(username="ravi")
    assert (
        Api(make_token("read", customer=asha_sub.customer)).get(f"/sessions/{ravis.pk}").status_code
        == 404
    )
    nas_list = read_api.get("/nas").json()["items"]
    assert nas_list[0]["name"] == "bng1" and "secret" not in str(nas_list)


def test_register_a_nas(network_api, read_api, operator):
    body = {"name": "bng2", "address": "10.0.1.0/24", "secret": "longenough", "vendor": "mikrotik"}
    response = network_api.post("/nas", body)
    assert response.status_code == 201 and response.json()["address"] == "10.0.1.0/24"
    assert network_api.post("/nas", body).status_code == 409
    assert network_api.post("/nas", body | {"name": "x", "secret": "short"}).status_code == 400
    assert network_api.post("/nas", body | {"name": "y", "address": "nowhere"}).status_code == 400
    assert read_api.post("/nas", body | {"name": "z"}).status_code == 403
    assert read_api.get(f"/nas/{response.json()['id']}").json()["vendor"] == "mikrotik"
    assert read_api.get("/nas/999999999").status_code == 404
