"""The scenario file format (../shared/scenarios/FORMAT.md) as a validated schema.

Validation happens before any database work so a malformed file changes nothing and the
message names the field (``events[3].payment.amount: …``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from octet.core.money import InvalidCurrency, minor_units
from octet.customers import validators


class ScenarioError(ValueError):
    """A scenario that cannot be understood; the message names the field."""


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError('write amounts as quoted strings ("999.00"), never as floats')
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"{value!r} is not a decimal number") from exc


Amount = Annotated[Decimal, BeforeValidator(_decimal)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaxSettings(Strict):
    regime: Literal["in_gst", "eu_vat", "none"]
    state_code: str | None = None
    gstin: str | None = None
    vat_id: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TaxSettings:
        if self.regime == "in_gst":
            if not self.state_code:
                raise ValueError("state_code is required for in_gst")
            validators.validate_indian_state_code(self.state_code)
            if self.gstin:
                validators.validate_gstin(self.gstin)
        if self.vat_id:
            validators.validate_eu_vat_id(self.vat_id)
        return self


class Dunning(Strict):
    remind_days_before_due: list[Annotated[int, Field(ge=0)]] = []
    remind_days_after_due: list[Annotated[int, Field(ge=1)]] = []
    suspend_days_after_due: Annotated[int, Field(ge=1)] | None = None
    terminate_days_after_due: Annotated[int, Field(ge=1)] | None = None


class OperatorSpec(Strict):
    name: Annotated[str, Field(min_length=1)]
    time_zone: str = "Asia/Kolkata"
    currency: str = "INR"
    tax: TaxSettings = TaxSettings(regime="none")
    invoice_series: str = "INV/{fy}/"
    credit_note_series: str = "CN/{fy}/"
    payment_terms_days: Annotated[int, Field(ge=0)] = 14
    dunning: Dunning = Dunning()
    upi_id: str | None = None

    @model_validator(mode="after")
    def _check(self) -> OperatorSpec:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"time_zone {self.time_zone!r} is not an IANA time zone") from exc
        try:
            minor_units(self.currency)
        except InvalidCurrency as exc:
            raise ValueError(str(exc)) from exc
        for series in (self.invoice_series, self.credit_note_series):
            if len(series.replace("{fy}", "25-26")) + 6 > 16:
                raise ValueError(f"series {series!r} makes numbers longer than 16 characters")
        return self


class OverageTier(Strict):
    up_to_gb: Annotated[int, Field(gt=0)] | None  # cumulative GB over the allowance
    per_gb: Amount


class Overage(Strict):
    per_gb: Amount | None = None
    tiers: list[OverageTier] | None = None  # graduated prices instead of per_gb
    rounding: Literal["up", "exact"] = "up"

    @model_validator(mode="after")
    def _price(self) -> Overage:
        if (self.per_gb is None) == (self.tiers is None):
            raise ValueError("give per_gb or tiers")
        return self


class Speed(Strict):
    down_kbps: Annotated[int, Field(gt=0)]
    up_kbps: Annotated[int, Field(gt=0)]


class PlanSpec(Strict):
    code: Annotated[str, Field(min_length=1, max_length=30)]
    name: Annotated[str, Field(min_length=1)]
    kind: Literal["postpaid", "prepaid"] = "postpaid"
    price: Amount
    interval: Literal["month", "quarter", "year"] = "month"
    alignment: Literal["calendar", "anniversary"] = "calendar"
    fee_timing: Literal["advance", "arrears"] = "advance"
    proration: Literal["daily", "none"] = "daily"
    setup_fee: Amount = Decimal("0")
    allowance_gb: Amount | None = None
    overage: Overage | None = None
    fair_use_speed_kbps: Annotated[int, Field(gt=0)] | None = None
    speed: Speed
    tax_rate: Amount = Decimal("0")
    sac: str = ""
    prepaid_validity_days: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _check(self) -> PlanSpec:
        if self.price < 0:
            raise ValueError(f"price cannot be negative (got {self.price})")
        if self.setup_fee < 0:
            raise ValueError("setup_fee cannot be negative")
        if self.allowance_gb is not None and self.allowance_gb < 0:
            raise ValueError("allowance_gb cannot be negative")
        if self.overage and self.overage.per_gb is not None and self.overage.per_gb < 0:
            raise ValueError("overage.per_gb cannot be negative")
        if self.overage and any(t.per_gb < 0 for t in self.overage.tiers or []):
            raise ValueError("overage tier prices cannot be negative")
        if not Decimal(0) <= self.tax_rate <= Decimal(100):
            raise ValueError("tax_rate must be a percentage between 0 and 100")
        if self.kind == "prepaid" and not self.prepaid_validity_days:
            raise ValueError("a prepaid plan needs prepaid_validity_days")
        return self


class RadiusCredentials(Strict):
    username: Annotated[str, Field(min_length=1)]
    password: Annotated[str, Field(min_length=1)]


class CustomerSpec(Strict):
    ref: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    email: str | None = None
    phone: str | None = None
    country: str = "IN"
    state_code: str | None = None
    gstin: str | None = None
    vat_id: str | None = None
    group: str = "default"
    radius: RadiusCredentials | None = None


When = Literal["now", "period_end"]


class Subscribe(Strict):
    customer: str
    plan: str
    static_ip: str | None = None


class ChangePlan(Strict):
    customer: str
    plan: str
    when: When = "now"


class Cancel(Strict):
    customer: str
    when: When = "now"


class Suspend(Strict):
    customer: str
    reason: str = "staff"


class Reconnect(Strict):
    customer: str


class Usage(Strict):
    customer: str
    download_bytes: Annotated[int, Field(ge=0)]
    upload_bytes: Annotated[int, Field(ge=0)] = 0


class Payment(Strict):
    customer: str
    amount: Amount
    method: str
    reference: str | None = None


class CreditNote(Strict):
    invoice: str
    amount: Amount
    reason: str


class Renew(Strict):
    """A prepaid recharge (an Octet extension of the format)."""

    customer: str


class OneOff(Strict):
    """A one-off charge for the next invoice (an Octet extension of the format)."""

    customer: str
    description: str
    amount: Amount
    quantity: Annotated[int, Field(ge=1)] = 1


class Radius(Strict):
    packets: list[dict[str, Any]]


EVENT_KINDS = (
    "subscribe",
    "change_plan",
    "cancel",
    "suspend",
    "reconnect",
    "usage",
    "payment",
    "credit_note",
    "renew",
    "one_off",
    "radius",
    "run_until",
)


class Event(Strict):
    at: datetime
    subscribe: Subscribe | None = None
    change_plan: ChangePlan | None = None
    cancel: Cancel | None = None
    suspend: Suspend | None = None
    reconnect: Reconnect | None = None
    usage: Usage | None = None
    payment: Payment | None = None
    credit_note: CreditNote | None = None
    renew: Renew | None = None
    one_off: OneOff | None = None
    radius: Radius | None = None
    run_until: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Event:
        if self.at.tzinfo is None:
            raise ValueError("at must carry its UTC offset, e.g. 2026-01-15T09:00:00+05:30")
        kinds = [k for k in EVENT_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"an event needs exactly one of {', '.join(EVENT_KINDS)} (got {kinds or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in EVENT_KINDS if getattr(self, k) is not None)

    @property
    def body(self) -> Any:
        return getattr(self, self.kind)


class Scenario(Strict):
    operator: OperatorSpec
    plans: list[PlanSpec] = []
    customers: list[CustomerSpec] = []
    events: list[Event] = []

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        plan_codes = [p.code.upper() for p in self.plans]
        refs = [c.ref for c in self.customers]
        for label, values in (("plans", plan_codes), ("customers", refs)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"{label}: duplicate {', '.join(dupes)}")
        usernames = [c.radius.username for c in self.customers if c.radius]
        if len(set(usernames)) != len(usernames):
            raise ValueError("customers: two customers share a RADIUS username")
        previous = None
        for i, event in enumerate(self.events):
            if previous is not None and event.at < previous:
                raise ValueError(f"events[{i}].at: events must be in time order")
            previous = event.at
            body = event.body
            customer = getattr(body, "customer", None)
            if customer is not None and customer not in refs:
                raise ValueError(
                    f"events[{i}].{event.kind}.customer: unknown customer {customer!r}"
                )
            plan = getattr(body, "plan", None)
            if plan is not None and plan.upper() not in plan_codes:
                raise ValueError(f"events[{i}].{event.kind}.plan: unknown plan {plan!r}")
            if event.kind == "subscribe":
                spec = self.customers[refs.index(customer)]
                if spec.radius is None:
                    raise ValueError(
                        f"customers: {customer!r} needs radius credentials to subscribe"
                    )
        return self


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_scenario(data: Any) -> Scenario:
    """Validate loaded YAML; raise ScenarioError naming the first bad field."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a mapping with operator, plans, customers and events")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors()[:5]:
            where = _location(tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            messages.append(f"{where}: {msg}" if where else msg)
        raise ScenarioError("; ".join(messages)) from exc
