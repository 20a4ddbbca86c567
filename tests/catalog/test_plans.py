"""Plan catalog: plans are created at version 1 and revised only by new, immutable versions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from octet.catalog import services
from octet.catalog.models import GB, ImmutableVersion, Plan, PlanKind, PlanVersion
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import AuditEntry


@pytest.fixture
def terms(gst18):
    return {
        "price": "599.00",
        "interval": "month",
        "alignment": "calendar",
        "allowance_bytes": 300 * GB,
        "overage_price_per_gb": "10.00",
        "down_kbps": 50_000,
        "up_kbps": 50_000,
        "tax_category": gst18,
    }


def _create(terms, code="FIBRE50", **kwargs):
    return services.create_plan(code=code, name="Fibre 50", terms=terms, actor="pm", **kwargs)


def test_create_plan_makes_version_one(operator, terms):
    plan = _create(terms, code=" fibre50 ")
    assert plan.code == "FIBRE50"
    versions = list(plan.versions.all())
    assert len(versions) == 1
    version = versions[0]
    assert version.version == 1
    assert version.price == Decimal("599.00")
    assert version.overage_price_per_gb == Decimal("10.00")
    assert version.currency == "INR"
    assert version.created_by == "pm"
    assert plan.current_version == version
    actions = sorted(AuditEntry.objects.values_list("action", "actor"))
    assert actions == [("plan.created", "pm"), ("plan_version.created", "pm")]


def test_revise_plan_makes_version_two_and_subscribers_stay_on_version_one(operator, terms, asha):
    from octet.subscriptions.services import subscribe

    plan = _create(terms)
    sub = subscribe(asha, plan, username="asha", password="s3cret-Pass", actor="test")

    v2 = services.revise_plan(plan, {"price": "649.00"}, actor="pm", reason="price revision")

    assert v2.version == 2
    assert v2.price == Decimal("649.00")
    # Everything not revised is carried over from version 1.
    assert v2.allowance_bytes == 300 * GB
    assert v2.down_kbps == 50_000
    assert v2.tax_category_id == terms["tax_category"].pk
    v1 = plan.versions.get(version=1)
    assert v1.price == Decimal("599.00")
    assert plan.current_version == v2

    sub.refresh_from_db()
    assert sub.plan_version == v1
    entry = AuditEntry.objects.get(action="plan_version.created", entity_id=str(v2.pk))
    assert entry.reason == "price revision"
    assert entry.before["price"] == "599.00"
    assert entry.after["price"] == "649.00"

    # New subscribers get the current version.
    from octet.customers.services import create_customer

    ravi = create_customer(
        {"name": "Ravi", "phone": "9900011223", "state_code": "29"}, actor="test"
    )
    newer = subscribe(ravi, plan, username="ravi", password="s3cret-Pass", actor="test")
    assert newer.plan_version == v2


def test_saving_an_existing_version_is_refused(fiber100):
    version = fiber100.current_version
    version.price = Decimal("1.00")
    with pytest.raises(ImmutableVersion):
        version.save()
    with pytest.raises(ImmutableVersion):
        version.delete()
    version = PlanVersion.objects.get(pk=version.pk)
    assert version.price == Decimal("999.00")
    assert PlanVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "kind", "field"),
    [
        pytest.param({"price": "-1.00"}, PlanKind.POSTPAID, "price", id="negative-price"),
        pytest.param(
            {"setup_fee": "-500.00"}, PlanKind.POSTPAID, "setup_fee", id="negative-setup-fee"
        ),
        pytest.param(
            {"fair_use_down_kbps": 5_000, "fair_use_up_kbps": 2_000},
            PlanKind.POSTPAID,
            "fair_use_down_kbps",
            id="overage-and-fair-use",
        ),
        pytest.param({}, PlanKind.PREPAID, "prepaid_validity_days", id="prepaid-without-validity"),
        pytest.param(
            {"overage_price_per_gb": "-2.00"},
            PlanKind.POSTPAID,
            "overage_price_per_gb",
            id="negative-overage",
        ),
        pytest.param({"down_kbps": 0}, PlanKind.POSTPAID, "down_kbps", id="zero-speed"),
    ],
)
def test_invalid_plan_is_refused_and_creates_nothing(operator, terms, change, kind, field):
    with pytest.raises(InvalidInput) as info:
        _create({**terms, **change}, kind=kind)
    assert f"{field}:" in str(info.value)
    assert Plan.objects.count() == 0
    assert PlanVersion.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_a_prepaid_plan_with_validity_is_accepted(operator, terms):
    plan = _create({**terms, "prepaid_validity_days": 30}, kind=PlanKind.PREPAID)
    assert plan.kind == PlanKind.PREPAID
    assert plan.current_version.prepaid_validity_days == 30


def test_money_as_float_is_refused(operator, terms):
    with pytest.raises(InvalidInput) as info:
        _create({**terms, "price": 599.0})
    assert info.value.field == "price"
    assert Plan.objects.count() == 0


def test_duplicate_plan_code_is_a_conflict(fiber100, terms):
    audit_before = AuditEntry.objects.count()
    with pytest.raises(Conflict) as info:
        _create(terms, code="fiber100")
    assert info.value.field == "code"
    assert Plan.objects.count() == 1
    assert AuditEntry.objects.count() == audit_before


def test_revise_with_identical_terms_is_refused(fiber100):
    audit_before = AuditEntry.objects.count()
    with pytest.raises(InvalidInput, match="identical"):
        services.revise_plan(fiber100, {"price": "999.00"}, actor="pm", reason="no-op")
    with pytest.raises(InvalidInput, match="identical"):
        services.revise_plan(fiber100, {}, actor="pm", reason="no-op")
    assert fiber100.versions.count() == 1
    assert AuditEntry.objects.count() == audit_before


def test_revise_with_invalid_terms_is_refused(fiber100):
    with pytest.raises(InvalidInput, match="price:"):
        services.revise_plan(fiber100, {"price": "-5"}, actor="pm", reason="oops")
    assert fiber100.versions.count() == 1


def test_unknown_field_is_refused(operator, fiber100, terms):
    with pytest.raises(InvalidInput, match="colour"):
        services.revise_plan(fiber100, {"colour": "blue"}, actor="pm", reason="x")
    with pytest.raises(InvalidInput, match="colour"):
        _create({**terms, "colour": "blue"})
    # The version number and who made it are not terms anyone may set.
    with pytest.raises(InvalidInput, match="version"):
        services.revise_plan(fiber100, {"version": 7}, actor="pm", reason="x")
    assert Plan.objects.count() == 1
    assert fiber100.versions.count() == 1
