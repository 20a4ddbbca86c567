"""Plans and their versions: list, read, create (admin), publish a new version (admin)."""

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status

from octet.api import schemas as s
from octet.api import serialize
from octet.api.auth import require
from octet.api.idempotency import idempotent
from octet.api.models import Scope
from octet.api.pagination import paginate
from octet.api.routers.common import IdempotencyKey, Page, PathId, read, write
from octet.catalog import services
from octet.catalog.models import AddOn, Plan, PlanVersion
from octet.core.errors import InvalidInput, NotFound

router = Router(tags=["plans"])

_VERSIONS = PlanVersion.objects.select_related("plan", "tax_category").prefetch_related(
    "included_addons"
)


def _addons(codes: list[str]) -> list[AddOn]:
    wanted = {c.strip().upper() for c in codes}
    found = list(AddOn.objects.filter(code__in=wanted, active=True))
    missing = wanted - {a.code.upper() for a in found}
    if missing:
        raise NotFound(f"no active add-on {', '.join(sorted(missing))}", field="addons")
    return found


def _terms(data: dict[str, Any]) -> dict[str, Any]:
    """API terms → the catalog's: tax as a category, add-ons by code, tiers as JSON."""
    terms = dict(data)
    if "tax" in terms:
        tax = terms.pop("tax")
        if tax is None:
            raise InvalidInput("a plan needs its tax (sac and rate)", field="tax")
        terms["tax_category"] = services.tax_category_for(tax["sac"], tax["rate"])
    if "addons" in terms:
        terms["included_addons"] = _addons(terms.pop("addons") or [])
    for field in ("price", "setup_fee"):
        if field in terms and terms[field] is None:
            raise InvalidInput(f"{field} cannot be null", field=field)
    return terms


def _plan(plan_id: int) -> Plan:
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None:
        raise NotFound(f"no plan with id {plan_id}")
    return plan


@router.get("", response=read(s.PlanPage), summary="List plans")
def list_plans(request: HttpRequest, page: Page) -> dict:
    """Every plan, with its current version (the terms new subscribers get)."""
    return paginate(Plan.objects.all(), limit=page.limit, cursor=page.cursor, item=serialize.plan)


@router.post("", response=write(s.PlanOut, 201), summary="Create a plan")
@idempotent
def create_plan(
    request: HttpRequest, payload: s.PlanIn, idempotency_key: IdempotencyKey = None
) -> Status:
    """Needs the admin scope. The terms become version 1 of the plan."""
    token = require(request, Scope.ADMIN)
    with transaction.atomic():  # a refused plan leaves no tax category behind either
        plan = services.create_plan(
            code=payload.code,
            name=payload.name,
            kind=payload.kind,
            description=payload.description,
            terms=_terms(payload.terms.model_dump(mode="json")),
            actor=token.actor,
            reason="created through the API",
        )
    return Status(201, serialize.plan(plan))


@router.get("/{plan_id}", response=read(s.PlanOut), summary="A plan")
def get_plan(request: HttpRequest, plan_id: PathId) -> s.PlanOut:
    return serialize.plan(_plan(plan_id))


@router.get("/{plan_id}/versions", response=read(s.PlanVersionPage), summary="A plan's versions")
def list_versions(request: HttpRequest, plan_id: PathId, page: Page) -> dict:
    """Oldest first. Versions never change; subscribers stay on theirs until moved."""
    plan = _plan(plan_id)
    return paginate(
        _VERSIONS.filter(plan=plan),
        limit=page.limit,
        cursor=page.cursor,
        item=serialize.plan_version,
    )


@router.post(
    "/{plan_id}/versions", response=write(s.PlanVersionOut, 201), summary="Publish a new version"
)
@idempotent
def revise_plan(
    request: HttpRequest,
    plan_id: PathId,
    payload: s.PlanVersionIn,
    idempotency_key: IdempotencyKey = None,
) -> Status:
    """Needs the admin scope. The current terms with the changes sent."""
    token = require(request, Scope.ADMIN)
    plan = _plan(plan_id)
    changes = payload.model_dump(mode="json", exclude_unset=True)
    reason = changes.pop("reason", None) or "new version through the API"
    if not changes:
        raise InvalidInput("nothing to change: send at least one term")
    with transaction.atomic():
        version = services.revise_plan(plan, _terms(changes), actor=token.actor, reason=reason)
    return Status(201, serialize.plan_version(_VERSIONS.get(pk=version.pk)))


@router.get("/{plan_id}/versions/{version}", response=read(s.PlanVersionOut), summary="One version")
def get_version(request: HttpRequest, plan_id: PathId, version: PathId) -> s.PlanVersionOut:
    found = _VERSIONS.filter(plan_id=plan_id, version=version).first()
    if found is None:
        raise NotFound(f"plan {plan_id} has no version {version}")
    return serialize.plan_version(found)
