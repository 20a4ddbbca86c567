"""Run a validated scenario through Octet's own services on a simulated clock."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from octet import jobs
from octet.billing import services as billing
from octet.billing.models import DocumentKind, DocumentStatus, Invoice
from octet.catalog import services as catalog
from octet.catalog.models import GB, PlanKind
from octet.core import clock
from octet.core.errors import NotFound
from octet.core.models import Operator
from octet.core.money import Money
from octet.core.periods import local_date
from octet.customers import services as customers
from octet.customers.models import Customer
from octet.metering import services as metering
from octet.metering.accounting import AccountingRecord, Status
from octet.metering.counters import Counters
from octet.network import services as network
from octet.network.models import Nas
from octet.notifications.models import Notification
from octet.payments import services as payments
from octet.payments.models import Payment
from octet.simulation.schema import CustomerSpec, Event, PlanSpec, Scenario
from octet.subscriptions import services as subscriptions
from octet.subscriptions.lifecycle import State
from octet.subscriptions.models import StateChange, Subscription

ACTOR = "scenario"

# Event kinds later issues add; reported as not simulated until then.
NOT_YET: frozenset[str] = frozenset()
SCENARIO_NAS_SECRET = "scenario-secret"  # noqa: S105 - a throwaway NAS on loopback


class ScenarioRunner:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.customers: dict[str, Customer] = {}
        self.specs: dict[str, CustomerSpec] = {c.ref: c for c in scenario.customers}
        self.skipped: dict[str, int] = {}
        self.nas: Nas | None = None
        self.radius = None  # a RadiusServer on loopback, started by the first radius event
        self.usage_sessions = 0

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
            "overage_tiers": [
                {"up_to_gb": t.up_to_gb, "per_gb": str(t.per_gb)} for t in spec.overage.tiers
            ]
            if spec.overage and spec.overage.tiers
            else None,
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
        jobs.run_due(moment, on_each=clock.set_time)
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
        elif kind == "usage":
            self._usage(body, event.at)
        elif kind == "payment":
            payments.record_payment(
                self.customers[body.customer],
                body.amount,
                body.method,
                reference=body.reference or "",
                actor=ACTOR,
            )
        elif kind == "credit_note":
            invoice = Invoice.objects.filter(number=body.invoice).first()
            if invoice is None:
                raise NotFound(f"no invoice numbered {body.invoice!r}", field="invoice")
            billing.issue_credit_note(invoice, body.amount, reason=body.reason, actor=ACTOR)
        elif kind == "renew":
            billing.renew_prepaid(self._subscription(body.customer), actor=ACTOR)
        elif kind == "one_off":
            billing.add_one_off_charge(
                self._subscription(body.customer),
                description=body.description,
                unit_price=body.amount,
                quantity=body.quantity,
                actor=ACTOR,
            )
        elif kind == "radius":
            self._radius(body.packets)

    def _usage(self, body, at: datetime) -> None:
        """One accounting session: Start, then Stop with the counters, at that time."""
        sub = self._subscription(body.customer)
        self.usage_sessions += 1
        common = {
            "nas_id": self.nas.pk,
            "at": at,
            "session_id": f"scenario-{self.usage_sessions}",
            "username": sub.username,
        }
        metering.record_accounting(
            [
                AccountingRecord(status=Status.START, **common),
                AccountingRecord(
                    status=Status.STOP,
                    counters=Counters(download=body.download_bytes, upload=body.upload_bytes),
                    session_time=0,
                    terminate_cause="User-Request",
                    **common,
                ),
            ]
        )

    def _radius(self, packets: list[dict[str, Any]]) -> None:
        from octet.simulation.radius import send_packets, start_server

        if self.radius is None:
            self.radius = start_server()
        send_packets(self.radius, packets, SCENARIO_NAS_SECRET)

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
                self.nas = network.create_nas(
                    name="scenario",
                    address="127.0.0.1",
                    secret=SCENARIO_NAS_SECRET,
                    vendor="mikrotik",
                    actor=ACTOR,
                )
            for event in events:
                self.advance_to(event.at)
                self.handle(event)
            return self.report()
        finally:
            if self.radius is not None:
                from octet.simulation.radius import stop_server

                stop_server(self.radius)
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
        notifications = [
            {
                "customer": ref_of[n.customer_id],
                "at": stamp(n.at),
                "kind": n.kind,
                "channel": n.channel,
            }
            for n in Notification.objects.order_by("at", "id")
        ]
        return {
            "documents": self._documents_report(ref_of, stamp),
            "payments": self._payments_report(ref_of, stamp),
            "usage": self._usage_report(ref_of, tz),
            "notifications": notifications,
            "service": service,
            "balances": self._balances_report(),
        }

    def _documents_report(self, ref_of: dict[int, str], stamp) -> list[dict[str, Any]]:
        def money(value, currency: str) -> str:
            return str(Money(value, currency).amount)

        out = []
        for doc in (
            Invoice.objects.filter(status=DocumentStatus.ISSUED)
            .select_related("against")
            .prefetch_related("lines")
            .order_by("issued_at", "id")
        ):
            item: dict[str, Any] = {
                "type": doc.kind,
                "number": doc.number,
                "customer": ref_of[doc.customer_id],
                "issued_at": stamp(doc.issued_at),
            }
            if doc.kind == DocumentKind.INVOICE:
                item["due_date"] = doc.due_date.isoformat()
            else:
                item["against"] = doc.against.number
            item["lines"] = [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "amount": money(line.amount, doc.currency),
                    "taxes": line.taxes,
                }
                for line in doc.lines.all()
            ]
            item["subtotal"] = money(doc.subtotal, doc.currency)
            item["tax"] = money(doc.tax_total, doc.currency)
            item["total"] = money(doc.total, doc.currency)
            out.append(item)
        return out

    def _payments_report(self, ref_of: dict[int, str], stamp) -> list[dict[str, Any]]:
        out = []
        for payment in Payment.objects.prefetch_related("allocations__invoice").order_by(
            "received_at", "id"
        ):
            out.append(
                {
                    "customer": ref_of[payment.customer_id],
                    "at": stamp(payment.received_at),
                    "amount": str(Money(payment.amount, payment.currency).amount),
                    "method": payment.method,
                    "allocated": [
                        {
                            "document": a.invoice.number,
                            "amount": str(Money(a.amount, payment.currency).amount),
                        }
                        for a in payment.allocations.all()
                        if a.reversed_at is None
                    ],
                }
            )
        return out

    def _balances_report(self) -> list[dict[str, Any]]:
        payments.check_ledger(self.customers.values())  # the ledger must say the same
        out = []
        for ref, customer in self.customers.items():
            due, credit = payments.balances(customer)
            out.append({"customer": ref, "due": str(due.amount), "credit": str(credit.amount)})
        return out

    def _usage_report(self, ref_of: dict[int, str], tz: ZoneInfo) -> list[dict[str, Any]]:
        """Every billing period of every subscription up to now, the first from activation."""
        today = local_date(clock.now(), tz)
        rows = []
        for sub in (
            Subscription.objects.filter(activated_at__isnull=False)
            .select_related("plan_version")
            .order_by("customer_id", "id")
        ):
            day = local_date(sub.activated_at, tz)
            # Service ends at termination; a live one is reported up to today's period.
            end = local_date(sub.terminated_at, tz) if sub.terminated_at else today + timedelta(1)
            while day < end:
                period = subscriptions.period_at(sub, day)
                usage = metering.usage_for(sub, period)
                rows.append(
                    {
                        "customer": ref_of[sub.customer_id],
                        "period": period.clip(start=day).label,
                        "download_bytes": usage.download_bytes,
                        "upload_bytes": usage.upload_bytes,
                        "allowance_bytes": usage.allowance_bytes,
                    }
                )
                day = period.end
        return rows


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
