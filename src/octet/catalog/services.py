"""Plan catalog use cases. Plan terms are never edited in place: a change is a new version."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from octet.catalog.models import AddOn, Plan, PlanKind, PlanVersion, TaxCategory
from octet.core import audit, clock
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.core.models import Operator
from octet.core.validation import clean_or_refuse

VERSION_FIELDS = frozenset(
    f.name
    for f in PlanVersion._meta.concrete_fields
    if f.name not in {"id", "plan", "version", "created_at", "created_by"}
) | {"tax_category"}
DECIMAL_FIELDS = frozenset({"price", "setup_fee", "overage_price_per_gb"})


def _coerce(terms: dict[str, Any]) -> dict[str, Any]:
    unknown = set(terms) - VERSION_FIELDS - {"included_addons"}
    if unknown:
        raise InvalidInput(f"unknown plan field(s): {', '.join(sorted(unknown))}")
    out = dict(terms)
    for field in DECIMAL_FIELDS & set(out):
        value = out[field]
        if value is None:
            continue
        if isinstance(value, float):
            raise InvalidInput("money must be given as a string or Decimal, not float", field=field)
        try:
            out[field] = Decimal(str(value))
        except InvalidOperation as exc:
            raise InvalidInput(f"{value!r} is not a number", field=field) from exc
    return out


def tax_category_for(sac: str, rate: Decimal | str, name: str = "") -> TaxCategory:
    """The tax category with this SAC code and rate, created on first use."""
    rate = Decimal(str(rate))
    if rate < 0 or rate > 100:
        raise InvalidInput(f"tax rate must be between 0 and 100 percent, got {rate}")
    code = f"{sac or 'none'}-{rate.normalize()}"
    category, _ = TaxCategory.objects.get_or_create(
        code=code,
        defaults={"name": name or f"SAC {sac} at {rate.normalize()}%", "sac": sac, "rate": rate},
    )
    return category


def _new_version(plan: Plan, number: int, terms: dict[str, Any], actor: str) -> PlanVersion:
    addons: list[AddOn] = list(terms.pop("included_addons", []) or [])
    terms.setdefault("currency", Operator.current().currency)
    version = PlanVersion(
        plan=plan, version=number, created_at=clock.now(), created_by=actor, **terms
    )
    clean_or_refuse(version)
    version.save()
    if addons:
        version.included_addons.set(addons)
    return version


@transaction.atomic
def create_plan(
    *,
    code: str,
    name: str,
    terms: dict[str, Any],
    kind: str = PlanKind.POSTPAID,
    description: str = "",
    actor: str,
    reason: str = "new plan",
) -> Plan:
    code = (code or "").strip().upper()
    if not code:
        raise InvalidInput("a plan needs a code", field="code")
    if Plan.objects.filter(code=code).exists():
        raise Conflict(f"plan code {code} is already taken", field="code")
    plan = Plan(code=code, name=name, kind=kind, description=description, created_at=clock.now())
    clean_or_refuse(plan)
    plan.save()
    version = _new_version(plan, 1, _coerce(terms), actor)
    audit.record(actor=actor, action="plan.created", instance=plan, reason=reason)
    audit.record(actor=actor, action="plan_version.created", instance=version, reason=reason)
    return plan


@transaction.atomic
def revise_plan(plan: Plan, changes: dict[str, Any], *, actor: str, reason: str) -> PlanVersion:
    """Publish a new version with these changes; subscribers keep theirs until moved."""
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    current = plan.current_version
    if current is None:
        raise NotFound(f"plan {plan.code} has no version to revise")
    changes = _coerce(changes)
    terms = {
        f.name: getattr(current, f.name)
        for f in PlanVersion._meta.concrete_fields
        if f.name in VERSION_FIELDS
    }
    terms["included_addons"] = list(current.included_addons.all())
    before = dict(terms)
    terms.update(changes)
    if terms == before:
        raise InvalidInput("the new version would be identical to the current one")
    version = _new_version(plan, current.version + 1, terms, actor)
    audit.record(
        actor=actor,
        action="plan_version.created",
        instance=version,
        reason=reason,
        before=audit.snapshot(current),
        after=audit.snapshot(version),
    )
    return version


@transaction.atomic
def publish_version(
    plan: Plan, terms: dict[str, Any], *, actor: str, reason: str = "new version"
) -> PlanVersion:
    """Publish a complete set of terms as the plan's next version."""
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    latest = plan.current_version
    version = _new_version(plan, (latest.version if latest else 0) + 1, _coerce(terms), actor)
    audit.record(actor=actor, action="plan_version.created", instance=version, reason=reason)
    return version


def plan_by_code(code: str) -> Plan:
    try:
        return Plan.objects.get(code=(code or "").strip().upper())
    except Plan.DoesNotExist as exc:
        raise NotFound(f"no plan with code {code!r}", field="plan") from exc
