"""Customers: search, pages, create, update, balance, and what bad input gets."""

from __future__ import annotations

import pytest

from octet.core.models import AuditEntry
from octet.customers.models import Customer
from octet.customers.services import create_customer

from .client import error_of


def _many(n: int) -> list[Customer]:
    return [
        create_customer({"name": f"Customer {i:02d}", "state_code": "29"}, actor="test")
        for i in range(n)
    ]


def test_pages_follow_the_cursor(admin_api, operator):
    made = _many(7)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = admin_api.get("/customers", params).json()
        seen += [c["id"] for c in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [c.pk for c in made] and pages == 3


def test_a_new_row_does_not_shift_the_pages(admin_api, operator):
    _many(4)
    first = admin_api.get("/customers", {"limit": 2}).json()
    create_customer({"name": "Late Arrival", "state_code": "29"}, actor="test")
    second = admin_api.get("/customers", {"limit": 2, "cursor": first["next"]}).json()
    ids = [c["id"] for c in first["items"] + second["items"]]
    assert ids == sorted(set(ids)) and len(ids) == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not*base64"}, "cursor"),
        ({"cursor": "eDo1"}, "cursor"),  # base64 of "x:5"
        ({"cursor": "djE6LTE"}, "cursor"),  # "v1:-1"
    ],
)
def test_bad_paging_is_400(admin_api, operator, params, field):
    response = admin_api.get("/customers", params)
    assert response.status_code == 400
    assert error_of(response)["field"] == field


def test_search_by_name_account_email_and_phone(admin_api, asha, ravi):
    def found(q: str) -> list[int]:
        return [c["id"] for c in admin_api.get("/customers", {"q": q}).json()["items"]]

    assert found("asha") == [asha.pk]
    assert found(asha.account_number) == [asha.pk]
    assert found("ravi@example") == [ravi.pk]
    assert found("98860 55555") == [ravi.pk]
    assert found("nobody") == []


def test_create_a_customer(admin_api, operator):
    response = admin_api.post(
        "/customers",
        {
            "name": " Meera Nair ",
            "kind": "business",
            "phone": "098450 11111",
            "gstin": "29AABCT1332L1ZA",
            "email": "Accounts@Example.IN",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    customer = Customer.objects.get(pk=body["id"])
    assert body["name"] == "Meera Nair" and body["phone"] == "+919845011111"
    assert body["state_code"] == "29"  # from the GSTIN
    assert body["account_number"] == customer.account_number
    entry = AuditEntry.objects.get(action="customer.created", entity_id=str(customer.pk))
    assert entry.actor == "api:test-admin-all"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   ", "state_code": "29"}, "name"),
        ({"name": "X", "state_code": "29", "phone": "12"}, "phone"),
        ({"name": "X", "state_code": "29", "email": "not-an-address"}, "email"),
        ({"name": "X", "gstin": "29AAAAA0000A1Z0"}, "gstin"),
        ({"name": "X"}, "state_code"),
        ({"name": "X", "state_code": "29", "kind": "alien"}, "kind"),
        ({"name": "X", "state_code": "29", "account_number": "AC9"}, "account_number"),
        ({"name": "X", "state_code": "29", "tax_exempt": "perhaps"}, "tax_exempt"),
        ({"name": "X\u0000Y", "state_code": "29"}, "name"),
        ({"name": "X" * 201, "state_code": "29"}, "name"),
        ({"name": 5, "state_code": "29"}, "name"),
    ],
)
def test_bad_customers_are_refused(admin_api, operator, body, field):
    response = admin_api.post("/customers", body)
    assert response.status_code == 400, response.content
    detail = error_of(response)
    assert field in (detail["field"] or detail["detail"])
    assert Customer.objects.count() == 0


def test_get_a_customer_and_its_balance(admin_api, asha_invoice, asha):
    assert admin_api.get(f"/customers/{asha.pk}").json()["name"] == "Asha Rao"
    balance = admin_api.get(f"/customers/{asha.pk}/balance").json()
    assert balance == {
        "customer_id": asha.pk,
        "currency": "INR",
        "due": str(asha_invoice.total.quantize(asha_invoice.total.__class__("0.01"))),
        "credit": "0.00",
    }


@pytest.mark.parametrize("path", ["/customers/999999999", "/customers/999999999/balance"])
def test_an_unknown_customer_is_404(admin_api, operator, path):
    response = admin_api.get(path)
    assert response.status_code == 404
    assert error_of(response)["detail"] == "no customer with id 999999999"


def test_update_a_customer(admin_api, asha):
    response = admin_api.patch(
        f"/customers/{asha.pk}", {"billing_city": "Mysuru", "reason": "moved"}
    )
    assert response.status_code == 200
    asha.refresh_from_db()
    assert asha.billing_city == "Mysuru" and asha.name == "Asha Rao"
    entry = AuditEntry.objects.get(action="customer.updated")
    assert entry.reason == "moved" and entry.after["billing_city"] == "Mysuru"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": None}, 400),
        ({"email": "nope"}, 400),
        ({"reason": "only a reason"}, 400),
        ({}, 400),
        ({"colour": "blue"}, 400),
        ({"gstin": "27AABCT1332L1ZA"}, 400),  # Maharashtra's GSTIN for a Karnataka customer
    ],
)
def test_bad_updates_change_nothing(admin_api, asha, body, status):
    before = Customer.objects.filter(pk=asha.pk).values().get()
    response = admin_api.patch(f"/customers/{asha.pk}", body)
    assert response.status_code == status
    error_of(response)
    assert Customer.objects.filter(pk=asha.pk).values().get() == before
