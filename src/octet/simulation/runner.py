"""Run a validated scenario through Octet's own services on a simulated clock."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from octet.catalog import services as catalog
from octet.catalog.models import GB, PlanKind
from octet.core import clock
from octet.core.models import Operator
from octet.customers import services as customers
from octet.customers.models import Customer
from octet.simulation.schema import CustomerSpec, Event, PlanSpec, Scenario
from octet.subscriptions import services as subscriptions
from octet.subscriptions.lifecycle import State
from octet.subscriptions.models import PlanChange, PlanChangeStatus, StateChange, Subscription

ACTOR = "scenario"

# Event kinds later issues add (metering, billing, payments); refused until then.
NOT_YET = frozenset({"usage", "payment", "credit_note", "radius"})


class ScheduledJob:
    """A job the scheduler runs at its time; the simulation asks when it is next due."""

    def __init__(
        self,
        name: str,
        next_due: Callable[[datetime], datetime | None],
        run: Callable[[datetime], Any],
    ) -> None:
        self.name, self.next_due, self.run = name, next_due, run


def _next_plan_change(after: datetime) -> datetime | None:
    change = (
        PlanChange.objects.filter(status=PlanChangeStatus.PENDING)
        .order_by("effective_at")
        .values_list("effective_at", flat=True)
        .first()
    )
    cancel = (
        Subscription.objects.filter(cancel_at__isnull=False)
        .exclude(state=State.TERMINATED)
        .order_by("cancel_at")
        .values_list("cancel_at", flat=True)
        .first()
    )
    due = [t for t in (change, cancel) if t is not None]
    return min(due) if due else None


JOBS: list[ScheduledJob] = [
    ScheduledJob("plan_changes", _next_plan_change, lambda at: subscriptions.apply_due_changes(at)),
]


class ScenarioRunner:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.customers: dict[str, Customer] = {}
        self.specs: dict[str, CustomerSpec] = {c.ref: c for c in scenario.customers}
        self.skipped: dict[str, int] = {}

    # -- set-up -------------------------------------------------------------
    def _operator(self) -> Operator:
        spec = self.scenario.operator
        operator = Operator.current()
        operator.name = spec.name
        operator.time_zone = spec.time_zone
        operator.currency = spec.currency.upper()
        operator.tax_regime = spec.tax.regime
        operator.state_code = spec.tax.state_code or ""
        operator.gstin = spec.tax.gstin or ""
        operator.vat_id = spec.tax.vat_id or ""
        operator.invoice_series = spec.invoice_series
        operator.credit_note_series = spec.credit_note_series
        operator.payment_terms_days = spec.payment_terms_days
        operator.dunning = spec.dunning.model_dump()
        operator.upi_id = spec.upi_id or ""
        operator.save()
        return operator

    def _plan(self, spec: PlanSpec) -> None:
        terms: dict[str, Any] = {
            "price": spec.price,
            "interval": spec.interval,
            "alignment": spec.alignment,
            "fee_timing": spec.fee_timing,
            "proration": spec.proration,
            "setup_fee": spec.setup_fee,
            "allowance_bytes": None if spec.allowance_gb is None else int(spec.allowance_gb * GB),
            "overage_price_per_gb": spec.overage.per_gb if spec.overage else None,
            "overage_rounding": spec.overage.rounding if spec.overage else "up",
            "fair_use_down_kbps": spec.fair_use_speed_kbps,
            "fair_use_up_kbps": spec.fair_use_speed_kbps,
            "down_kbps": spec.speed.down_kbps,
            "up_kbps": spec.speed.up_kbps,
            "prepaid_validity_days": spec.prepaid_validity_days,
            "tax_category": catalog.tax_category_for(spec.sac, spec.tax_rate),
        }
        catalog.create_plan(
            code=spec.code,
            name=spec.name,
            kind=PlanKind(spec.kind),
            terms=terms,
            actor=ACTOR,
        )

    def _customer(self, spec: CustomerSpec) -> None:
        data = {
            "name": spec.name,
            "email": spec.email or "",
            "phone": spec.phone or "",
            "country": spec.country,
            "state_code": spec.state_code or "",
            "gstin": spec.gstin or "",
            "vat_id": spec.vat_id or "",
            "group": spec.group,
        }
        self.customers[spec.ref] = customers.create_customer(data, actor=ACTOR)

    # -- the timeline -------------------------------------------------------
    def advance_to(self, moment: datetime) -> None:
        """Run every scheduled job due up to and including ``moment``, each at its own time."""
        while True:
            due = [(job.next_due(moment), job) for job in JOBS]
            due = [(t, job) for t, job in due if t is not None and t <= moment]
            if not due:
                break
            at, job = min(due, key=lambda pair: pair[0])
            clock.set_time(at)
            job.run(at)
        clock.set_time(moment)

    def _subscription(self, ref: str) -> Subscription:
        return subscriptions.live_subscription(self.customers[ref])

    def handle(self, event: Event) -> None:
        body = event.body
        kind = event.kind
        if kind in NOT_YET:
            self.skipped[kind] = self.skipped.get(kind, 0) + 1
            return
        if kind == "run_until":
            return
        if kind == "subscribe":
            creds = self.specs[body.customer].radius
            subscriptions.subscribe(
                self.customers[body.customer],
                catalog.plan_by_code(body.plan),
                username=creds.username,
                password=creds.password,
                static_ip=body.static_ip,
                actor=ACTOR,
            )
        elif kind == "change_plan":
            subscriptions.change_plan(
                self._subscription(body.customer),
                catalog.plan_by_code(body.plan),
                when=body.when,
                actor=ACTOR,
            )
        elif kind == "cancel":
            subscriptions.cancel(self._subscription(body.customer), when=body.when, actor=ACTOR)
        elif kind == "suspend":
            subscriptions.suspend(
                self._subscription(body.customer), reason=body.reason, actor=ACTOR
            )
        elif kind == "reconnect":
            subscriptions.reconnect(self._subscription(body.customer), actor=ACTOR)

    def run(self) -> dict[str, Any]:
        events = self.scenario.events
        start = events[0].at if events else clock.now()
        clock.set_time(start)
        try:
            with transaction.atomic():
                self._operator()
                for plan in self.scenario.plans:
                    self._plan(plan)
                for spec in self.scenario.customers:
                    self._customer(spec)
            for event in events:
                self.advance_to(event.at)
                self.handle(event)
            return self.report()
        finally:
            clock.set_time(None)

    # -- the output ---------------------------------------------------------
    def report(self) -> dict[str, Any]:
        tz = ZoneInfo(Operator.current().time_zone)
        ref_of = {c.pk: ref for ref, c in self.customers.items()}

        def stamp(moment: datetime) -> str:
            return moment.astimezone(tz).isoformat()

        service = [
            {
                "customer": ref_of[change.subscription.customer_id],
                "at": stamp(change.at),
                "state": change.to_state,
                "reason": change.reason,
            }
            for change in StateChange.objects.select_related("subscription")
            .exclude(to_state=State.PENDING)
            .order_by("at", "id")
        ]
        return {"service": service}


def run_scenario(
    scenario: Scenario, *, warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    runner = ScenarioRunner(scenario)
    result = runner.run()
    if runner.skipped:
        skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(runner.skipped.items()))
        (warn or (lambda m: print(m, file=sys.stderr)))(
            f"warning: this version of Octet does not simulate these events yet: {skipped}"
        )
    return result
