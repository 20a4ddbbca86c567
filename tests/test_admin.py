"""The Django admin (staff back office), driven through the test client as a superuser."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from octet.catalog.models import PlanVersion
from octet.core.models import AuditEntry
from octet.customers.models import Customer


@pytest.fixture
def subscribed(asha, fiber100):
    from octet.subscriptions.services import subscribe

    return subscribe(asha, fiber100, username="asha.rao", password="s3cret-Pass", actor="test")


@pytest.mark.parametrize(
    "model",
    [
        "customers_customer",
        "catalog_plan",
        "catalog_planversion",
        "subscriptions_subscription",
        "core_auditentry",
    ],
)
def test_changelist_pages(admin_client, subscribed, model):
    response = admin_client.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_changelists_show_the_rows(admin_client, subscribed):
    page = admin_client.get(reverse("admin:customers_customer_changelist")).content.decode()
    assert "AC000001" in page
    assert "Asha Rao" in page
    page = admin_client.get(reverse("admin:subscriptions_subscription_changelist"))
    assert "asha.rao" in page.content.decode()
    page = admin_client.get(reverse("admin:catalog_planversion_changelist"))
    assert "FIBER100 Fiber 100" in page.content.decode()


def _search(client, q):
    response = client.get(reverse("admin:customers_customer_changelist"), {"q": q})
    assert response.status_code == 200
    return [c.account_number for c in response.context["cl"].result_list]


@pytest.mark.parametrize(
    "query", ["Asha", "asha@example", "9845012345", "AC000001", "asha.rao", "98450 12345"]
)
def test_customer_search(admin_client, subscribed, query):
    from octet.customers.services import create_customer

    create_customer(
        {"name": "Ravi Kumar", "email": "ravi@example.in", "phone": "9900011223"}
        | {"state_code": "29"},
        actor="test",
    )
    assert _search(admin_client, query) == ["AC000001"]


def test_customer_search_without_match(admin_client, subscribed):
    assert _search(admin_client, "Zoya") == []


def _management_form(prefix, total=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_add_customer_through_the_admin(admin_client, operator):
    data = {
        "name": "Meera Nair",
        "kind": "individual",
        "group": "default",
        "email": "meera@example.in",
        "phone": "94470 12345",
        "alt_phone": "",
        "billing_address": "3 Marine Drive",
        "billing_city": "Kochi",
        "billing_postal_code": "682031",
        "state_code": "32",
        "country": "IN",
        "service_address": "",
        "service_city": "",
        "service_postal_code": "",
        "gstin": "",
        "vat_id": "",
        "notes": "",
        "_save": "Save",
        **_management_form("subscriptions"),
    }
    response = admin_client.post(reverse("admin:customers_customer_add"), data)
    assert response.status_code == 302, response.context and response.context.get("errors")
    customer = Customer.objects.get()
    assert customer.name == "Meera Nair"
    assert customer.account_number == "AC000001"
    assert customer.phone == "+919447012345"
    assert customer.state_code == "32"
    entry = AuditEntry.objects.get(action="customer.created")
    assert entry.actor == "admin"
    assert entry.entity_id == str(customer.pk)
    assert entry.reason == "created in admin"
    assert entry.after["account_number"] == "AC000001"


def test_add_customer_with_invalid_gstin_shows_the_error(admin_client, operator):
    data = {
        "name": "Sri Lakshmi Traders",
        "kind": "business",
        "group": "default",
        "state_code": "29",
        "country": "IN",
        "gstin": "29AABCT1332L1ZB",
        "_save": "Save",
        **_management_form("subscriptions"),
    }
    response = admin_client.post(reverse("admin:customers_customer_add"), data)
    assert response.status_code == 200
    assert "check digit" in response.content.decode()
    assert Customer.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_plan_version_change_page_has_nothing_to_save(admin_client, fiber100):
    version = fiber100.current_version
    url = reverse("admin:catalog_planversion_change", args=[version.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["adminform"].form.fields == {}
    page = response.content.decode()
    assert 'name="price"' not in page
    assert 'name="_save"' not in page
    assert "999.00" in page

    before = (PlanVersion.objects.count(), AuditEntry.objects.count())
    response = admin_client.post(url, {"price": "1.00", "plan": fiber100.pk, "_save": "Save"})
    assert response.status_code == 403
    version = PlanVersion.objects.get(pk=version.pk)
    assert version.price == Decimal("999.00")
    assert (PlanVersion.objects.count(), AuditEntry.objects.count()) == before


def test_audit_entries_are_read_only(admin_client, asha):
    entry = AuditEntry.objects.get(action="customer.created")
    url = reverse("admin:core_auditentry_change", args=[entry.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"actor": "someone else", "reason": "rewritten"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.actor == "test"
    assert admin_client.get(reverse("admin:core_auditentry_add")).status_code == 403


def test_new_terms_are_added_as_the_next_version(admin_client, fiber100, gst18):
    url = reverse("admin:catalog_planversion_add")
    assert admin_client.get(url).status_code == 200
    data = {
        "plan": fiber100.pk,
        "price": "1099.00",
        "currency": "INR",
        "interval": "month",
        "alignment": "calendar",
        "fee_timing": "advance",
        "proration": "daily",
        "setup_fee": "0.00",
        "allowance_bytes": "500000000000",
        "allowance_counts": "download",
        "overage_price_per_gb": "10.00",
        "overage_rounding": "up",
        "down_kbps": "100000",
        "up_kbps": "100000",
        "tax_category": gst18.pk,
        "_save": "Save",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302
    v1, v2 = fiber100.versions.order_by("version")
    assert (v1.version, v1.price) == (1, Decimal("999.00"))
    assert (v2.version, v2.price, v2.created_by) == (2, Decimal("1099.00"), "admin")
    entry = AuditEntry.objects.get(action="plan_version.created", entity_id=str(v2.pk))
    assert entry.actor == "admin"
