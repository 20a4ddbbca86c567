"""Customer use cases: creation with normalisation and numbering, audited updates, search."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from octet.core import clock
from octet.core.errors import InvalidInput
from octet.core.models import AuditEntry
from octet.customers.models import Customer
from octet.customers.services import create_customer, search_customers, update_customer

IST = ZoneInfo("Asia/Kolkata")

# Valid GSTINs (check digits worked out with the Luhn mod 36 rule).
GSTIN_KA = "29AABCT1332L1ZA"  # Karnataka (29)
GSTIN_TN = "33AABCT1332L1ZL"  # Tamil Nadu (33), same PAN


def _data(**overrides):
    data = {
        "name": "Ravi Kumar",
        "email": "ravi@example.in",
        "phone": "99000 11223",
        "state_code": "29",
    }
    data.update(overrides)
    return data


def test_create_customer_normalises_phone_and_gstin(operator):
    customer = create_customer(
        _data(
            name="  Sri Lakshmi Traders ",
            kind="business",
            phone="098450 12345",
            alt_phone="+91 80 4123 4567",
            email="Accounts@Example.IN",
            gstin="  29aabct1332l1za ",
        ),
        actor="clerk",
    )
    customer.refresh_from_db()
    assert customer.name == "Sri Lakshmi Traders"
    assert customer.phone == "+919845012345"
    assert customer.alt_phone == "+918041234567"
    assert customer.gstin == GSTIN_KA
    # The domain is lower-cased, the local part keeps its case.
    assert customer.email == "Accounts@example.in"
    assert customer.state_code == "29"


def test_state_code_is_taken_from_the_gstin_when_missing(operator):
    customer = create_customer(_data(state_code="", gstin=GSTIN_TN), actor="clerk")
    assert customer.state_code == "33"


def test_account_numbers_are_sequential_with_the_operator_prefix(operator):
    first = create_customer(_data(name="One", phone="9900011221"), actor="clerk")
    second = create_customer(_data(name="Two", phone="9900011222"), actor="clerk")
    third = create_customer(_data(name="Three", phone="9900011223"), actor="clerk")
    assert [first.account_number, second.account_number, third.account_number] == [
        "AC000001",
        "AC000002",
        "AC000003",
    ]


def test_a_refused_customer_uses_no_account_number(operator):
    create_customer(_data(name="One"), actor="clerk")
    with pytest.raises(InvalidInput):
        create_customer(_data(name="Bad", email="not-an-address"), actor="clerk")
    later = create_customer(_data(name="Two"), actor="clerk")
    assert later.account_number == "AC000002"


def test_create_customer_writes_an_audit_entry(operator):
    customer = create_customer(_data(), actor="clerk", reason="walk-in")
    entry = AuditEntry.objects.get(action="customer.created")
    assert entry.actor == "clerk"
    assert entry.reason == "walk-in"
    assert entry.entity == "customers.customer"
    assert entry.entity_id == str(customer.pk)
    assert entry.before is None
    assert entry.after["account_number"] == customer.account_number
    assert entry.after["phone"] == "+919900011223"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"gstin": "29AABCT1332L1ZB"}, "gstin", id="gstin-bad-check-digit"),
        pytest.param({"gstin": GSTIN_TN, "state_code": "29"}, "gstin", id="gstin-other-state"),
        pytest.param({"phone": "12345"}, "phone", id="phone-invalid"),
        pytest.param({"phone": "98450 1234x"}, "phone", id="phone-letters"),
        pytest.param({"email": "asha.example.in"}, "email", id="email-without-at"),
        pytest.param({"email": "asha@localhost"}, "email", id="email-without-dot"),
        pytest.param({"state_code": ""}, "state_code", id="state-code-missing"),
        pytest.param({"state_code": "9"}, "state_code", id="state-code-one-digit"),
        pytest.param({"name": "   "}, "name", id="name-blank"),
    ],
)
def test_invalid_customer_is_refused_and_nothing_is_written(operator, overrides, field):
    customers_before = Customer.objects.count()
    audit_before = AuditEntry.objects.count()
    with pytest.raises(InvalidInput) as info:
        create_customer(_data(**overrides), actor="clerk")
    # The message names the field the way the form does ("gstin: ...").
    assert f"{field}:" in str(info.value)
    assert Customer.objects.count() == customers_before
    assert AuditEntry.objects.count() == audit_before


def test_gstin_of_another_state_explains_the_mismatch(operator):
    with pytest.raises(InvalidInput) as info:
        create_customer(_data(gstin=GSTIN_TN, state_code="29"), actor="clerk")
    assert "state 33" in str(info.value)
    assert "29" in str(info.value)


def test_unknown_and_read_only_fields_are_refused(operator):
    with pytest.raises(InvalidInput, match="colour"):
        create_customer(_data(colour="blue"), actor="clerk")
    with pytest.raises(InvalidInput, match="account_number"):
        create_customer(_data(account_number="AC999999"), actor="clerk")
    assert Customer.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_update_customer_audits_only_the_changed_fields(operator):
    created = datetime(2026, 1, 10, 10, 0, tzinfo=IST)
    updated = datetime(2026, 1, 12, 16, 30, tzinfo=IST)
    with clock.frozen_at(created):
        customer = create_customer(_data(), actor="clerk")
    with clock.frozen_at(updated):
        # The name is given but unchanged, so it must not show up in the audit entry.
        saved = update_customer(
            customer,
            {"name": "Ravi Kumar", "email": "ravi.kumar@example.in", "phone": "98450 12345"},
            actor="support",
            reason="customer called",
        )
    assert saved.phone == "+919845012345"
    customer.refresh_from_db()
    assert customer.email == "ravi.kumar@example.in"
    assert customer.updated_at == updated
    assert customer.created_at == created

    entry = AuditEntry.objects.get(action="customer.updated")
    assert entry.actor == "support"
    assert entry.reason == "customer called"
    assert entry.entity_id == str(customer.pk)
    assert set(entry.before) == set(entry.after) == {"email", "phone", "updated_at"}
    assert entry.before["email"] == "ravi@example.in"
    assert entry.after["email"] == "ravi.kumar@example.in"
    assert entry.before["phone"] == "+919900011223"
    assert entry.after["phone"] == "+919845012345"
    assert datetime.fromisoformat(entry.before["updated_at"]) == created
    assert datetime.fromisoformat(entry.after["updated_at"]) == updated


def test_refused_update_changes_nothing(operator):
    customer = create_customer(_data(), actor="clerk")
    audit_before = AuditEntry.objects.count()
    with pytest.raises(InvalidInput) as info:
        update_customer(customer, {"gstin": GSTIN_TN}, actor="support", reason="typo")
    assert "gstin:" in str(info.value)
    customer.refresh_from_db()
    assert customer.gstin == ""
    assert AuditEntry.objects.count() == audit_before


@pytest.fixture
def customers(operator, fiber100):
    from octet.subscriptions.services import subscribe

    asha = create_customer(
        {
            "name": "Asha Rao",
            "email": "asha@example.in",
            "phone": "98450 12345",
            "state_code": "29",
        },
        actor="test",
    )
    traders = create_customer(
        {
            "name": "Sri Lakshmi Traders",
            "kind": "business",
            "email": "accounts@lakshmi-traders.in",
            "phone": "94480 55555",
            "gstin": GSTIN_KA,
        },
        actor="test",
    )
    subscribe(traders, fiber100, username="lakshmi.biz", password="Tr4ders-pass", actor="test")
    return asha, traders


def _found(query):
    return list(search_customers(query))


@pytest.mark.parametrize(
    ("query", "who"),
    [
        pytest.param("asha", "asha", id="partial-name"),
        pytest.param("Lakshmi", "traders", id="partial-name-2"),
        pytest.param("asha@example", "asha", id="partial-email"),
        pytest.param("ACCOUNTS@LAKSHMI", "traders", id="email-any-case"),
        pytest.param("98450 12345", "asha", id="local-phone-spaced"),
        pytest.param("9845012345", "asha", id="local-phone"),
        pytest.param("+91 98450 12345", "asha", id="phone-with-country-code"),
        pytest.param("AC000001", "asha", id="account-number"),
        pytest.param("ac000002", "traders", id="account-number-lower-case"),
        pytest.param(GSTIN_KA, "traders", id="gstin"),
        pytest.param(GSTIN_KA.lower(), "traders", id="gstin-lower-case"),
        pytest.param("lakshmi.biz", "traders", id="radius-username"),
    ],
)
def test_search_finds_the_customer(customers, query, who):
    asha, traders = customers
    expected = {"asha": asha, "traders": traders}[who]
    assert _found(query) == [expected]


def test_search_without_a_match_or_query_finds_nobody(customers):
    assert _found("Zoya") == []
    assert _found("9999999999") == []
    assert _found("") == []
    assert _found("   ") == []


def test_search_by_account_prefix_lists_every_account(customers):
    asha, traders = customers
    assert _found("AC00000") == [asha, traders]
