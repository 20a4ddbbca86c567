"""Plans and versions through the API."""

from __future__ import annotations

import copy

import pytest

from octet.catalog.models import Plan, PlanVersion, TaxCategory

from .client import error_of

TERMS = {
    "price": "799.00",
    "interval": "month",
    "alignment": "calendar",
    "allowance_bytes": 200 * 10**9,
    "overage_tiers": [{"up_to_gb": 50, "per_gb": "10.00"}, {"up_to_gb": None, "per_gb": "8.00"}],
    "down_kbps": 50_000,
    "up_kbps": 50_000,
    "tax": {"sac": "998422", "rate": "18"},
}


def test_list_and_get_plans(read_api, fiber100):
    body = read_api.get("/plans").json()
    assert [p["code"] for p in body["items"]] == ["FIBER100"] and body["next"] is None
    plan = read_api.get(f"/plans/{fiber100.pk}").json()
    version = plan["current_version"]
    assert version["price"] == "999.00" and version["overage_price_per_gb"] == "10.00"
    assert version["tax"] == {"sac": "998422", "rate": "18", "exempt": False}
    assert read_api.get(f"/plans/{fiber100.pk}/versions/1").json()["id"] == version["id"]


def test_create_a_plan(admin_api, operator):
    response = admin_api.post("/plans", {"code": "fiber50", "name": "Fiber 50", "terms": TERMS})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "FIBER50"
    version = body["current_version"]
    assert version["version"] == 1 and version["created_by"] == "api:test-admin-all"
    assert version["overage_tiers"] == [
        {"up_to_gb": 50, "per_gb": "10.00"},
        {"up_to_gb": None, "per_gb": "8.00"},
    ]


def _with(**changes):
    terms = copy.deepcopy(TERMS)
    for key, value in changes.items():
        if value is ...:
            terms.pop(key)
        else:
            terms[key] = value
    return {"code": "BAD", "name": "Bad", "terms": terms}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (_with(price=799), 400, "terms.price"),  # a JSON number: money is a string
        (_with(price="7.999"), 400, "price"),
        (_with(price="-1"), 400, "price"),
        (_with(price="99999999999.00"), 400, "price"),
        (_with(price=...), 400, "terms.price"),
        (_with(interval="fortnight"), 400, "terms.interval"),
        (_with(down_kbps=0), 400, "terms.down_kbps"),
        (_with(tax={"sac": "998422", "rate": "180"}), 400, "tax rate"),
        (_with(tax={"sac": "998422", "rate": "1e2"}), 400, "terms.tax.rate"),
        (_with(overage_price_per_gb="5.00"), 400, "overage_tiers"),
        (
            _with(
                overage_tiers=[{"up_to_gb": None, "per_gb": "1"}, {"up_to_gb": 5, "per_gb": "1"}]
            ),
            400,
            "overage_tiers",
        ),  # noqa: E501
        (_with(allowance_bytes=None), 400, "allowance_bytes"),
        (_with(addons=["NOPE"]), 404, "addons"),
        (_with(colour="blue"), 400, "terms.colour"),
        ({"code": "FIBER100", "name": "Again", "terms": TERMS}, 409, "code"),
        ({"code": "bad code!", "name": "X", "terms": TERMS}, 400, "code"),
        (
            {"code": "PRE", "name": "Prepaid", "kind": "prepaid", "terms": TERMS},
            400,
            "prepaid_validity_days",
        ),  # noqa: E501
    ],
)
def test_bad_plans_write_nothing(admin_api, fiber100, body, status, field):
    plans, versions, categories = (
        Plan.objects.count(),
        PlanVersion.objects.count(),
        TaxCategory.objects.count(),
    )
    response = admin_api.post("/plans", body)
    assert response.status_code == status, response.content
    detail = error_of(response)
    assert field in (detail["field"] or "") or field in detail["detail"]
    assert (Plan.objects.count(), PlanVersion.objects.count()) == (plans, versions)
    assert TaxCategory.objects.count() == categories


def test_publish_a_new_version(admin_api, fiber100):
    response = admin_api.post(
        f"/plans/{fiber100.pk}/versions", {"price": "1099.00", "reason": "price rise"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 2 and body["price"] == "1099.00"
    assert body["down_kbps"] == 100_000  # the rest carried over
    versions = admin_api.get(f"/plans/{fiber100.pk}/versions").json()["items"]
    assert [v["version"] for v in versions] == [1, 2]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"price": "999.00"}, 400),  # identical to the current version
        ({"price": None}, 400),
        ({"down_kbps": -5}, 400),
        ({"tax": None}, 400),
        ({"allowance_bytes": None}, 400),  # unlimited with overage pricing
    ],
)
def test_bad_versions_write_nothing(admin_api, fiber100, body, status):
    response = admin_api.post(f"/plans/{fiber100.pk}/versions", body)
    assert response.status_code == status, response.content
    error_of(response)
    assert PlanVersion.objects.count() == 1


def test_unknown_plans_and_versions_are_404(read_api, fiber100):
    paths = ["/plans/999999999", "/plans/999999999/versions", f"/plans/{fiber100.pk}/versions/7"]
    for path in paths:
        response = read_api.get(path)
        assert response.status_code == 404, path
        error_of(response)
