"""What the API takes and gives, as pydantic schemas (they make the OpenAPI document).

Money travels as a decimal string in the currency's minor units ("646.46"), never a JSON
number. Inputs refuse fields they do not know, and ``null`` where a value is required.
"""

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from ninja import Schema
from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyAddress,
    Strict,
    StrictBool,
    create_model,
)

from octet.api.models import Scope
from octet.payments.models import Method

MAX_ID = 2**53  # exact in every JSON parser; far beyond any id
MAX_BYTES = 2**63 - 1
MAX_INT = 2**31 - 1


def Int(ge: int, le: int) -> Any:  # noqa: N802 - a type, as used in annotations
    """A JSON integer from ``ge`` to ``le``: not "5", not 5.0, not true."""
    return Annotated[int, Strict(), Field(ge=ge, le=le)]


Id = Int(1, MAX_ID)  # in a body
QueryId = Annotated[int, Field(ge=1, le=MAX_ID)]  # in a query string: text by nature
Bool = StrictBool


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


def _iso_datetime(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("a time is an ISO 8601 string with its offset")
    return value


def _true_false(value: Any) -> Any:
    if isinstance(value, str) and value not in {"true", "false"}:
        raise ValueError("use true or false")
    return value


QueryDate = Annotated[date, BeforeValidator(_iso_date)]
QueryBool = Annotated[bool, BeforeValidator(_true_false)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_datetime)]
MoneyIn = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]{1,15}(\.[0-9]{1,3})?$",
        description='An amount as a decimal string, e.g. "646.46"; no more decimal places '
        "than the currency has (INR: 2)",
        examples=["646.46"],
    ),
]
Money = Annotated[str, Field(description='A decimal string, e.g. "646.46"', examples=["646.46"])]
Rate = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,3}(\.[0-9]{1,2})?$",
        description='A percentage, e.g. "18"',
        examples=["18"],
    ),
]
Kbps = Int(1, MAX_INT)
OptionalKbps = Int(1, MAX_INT) | None
Bytes = Int(0, MAX_BYTES)
IpAddress = Annotated[IPvAnyAddress, Field(description="An IPv4 or IPv6 address")]


def _text(max_length: int, min_length: int = 0) -> Any:
    """A string of bounded length, without NUL (PostgreSQL cannot store it)."""
    return Annotated[
        str, Field(min_length=min_length, max_length=max_length, pattern=r"^[^\x00]*$")
    ]


Reason = Annotated[_text(500, 1), Field(description="Why (audit log)")]
Note = _text(1000)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def unset() -> Any:
    """Not sent: left as it is. Shown without a default; ``null`` is refused."""
    return Field(None, json_schema_extra=_no_default)


class In(Schema):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Error(Schema):
    detail: str = Field(description="What went wrong, for a person to read")
    field: str | None = Field(None, description="The input it is about, if one")
    request_id: str | None = Field(None, description="Server errors: quote it to support")


# -- enums -------------------------------------------------------------------------------


class CustomerKind(StrEnum):
    INDIVIDUAL = "individual"
    BUSINESS = "business"


class PlanKind(StrEnum):
    POSTPAID = "postpaid"
    PREPAID = "prepaid"


class Interval(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class Alignment(StrEnum):
    CALENDAR = "calendar"
    ANNIVERSARY = "anniversary"


class FeeTiming(StrEnum):
    ADVANCE = "advance"
    ARREARS = "arrears"


class Proration(StrEnum):
    DAILY = "daily"
    NONE = "none"


class OverageRounding(StrEnum):
    UP = "up"
    EXACT = "exact"


class AllowanceCounts(StrEnum):
    DOWNLOAD = "download"
    TOTAL = "total"


class SubscriptionState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class SuspendReason(StrEnum):
    NON_PAYMENT = "non_payment"
    CUSTOMER_REQUEST = "customer_request"
    STAFF = "staff"
    ABUSE = "abuse"
    PREPAID_EXPIRED = "prepaid_expired"


class When(StrEnum):
    NOW = "now"
    PERIOD_END = "period_end"


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class DocumentStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    VOID = "void"


class PaymentMethod(StrEnum):
    """How money recorded by hand came (cards, net banking, wallets come through a gateway)."""

    CASH = "cash"
    CHEQUE = "cheque"
    BANK_TRANSFER = "bank_transfer"
    UPI = "upi"


AnyPaymentMethod = StrEnum("AnyPaymentMethod", {m.upper(): m for m in Method.values})


class NasVendor(StrEnum):
    MIKROTIK = "mikrotik"
    CISCO = "cisco"
    JUNIPER = "juniper"
    GENERIC = "generic"


ScopeName = StrEnum("ScopeName", {s.upper(): s for s in Scope.values})


# -- customers -----------------------------------------------------------------------------


class CustomerIn(In):
    name: _text(200, 1)
    kind: CustomerKind = CustomerKind.INDIVIDUAL
    email: _text(254) = ""
    phone: _text(40) = Field("", description="Stored in E.164 (+91…)")
    alt_phone: _text(40) = ""
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")] = "IN"
    state_code: _text(2) = Field("", description="GST state code (place of supply), India")
    billing_address: _text(2000) = ""
    billing_city: _text(100) = ""
    billing_postal_code: _text(12) = ""
    service_address: _text(2000) = ""
    service_city: _text(100) = ""
    service_postal_code: _text(12) = ""
    gstin: _text(15) = ""
    vat_id: _text(20) = ""
    tax_exempt: Bool = False
    group: _text(50, 1) = Field("default", description="Dunning policy group")
    notes: _text(10000) = ""


class CustomerPatch(In):
    """Only the fields sent change; ``null`` is not a value."""

    name: _text(200, 1) = unset()
    kind: CustomerKind = unset()
    email: _text(254) = unset()
    phone: _text(40) = unset()
    alt_phone: _text(40) = unset()
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")] = unset()
    state_code: _text(2) = unset()
    billing_address: _text(2000) = unset()
    billing_city: _text(100) = unset()
    billing_postal_code: _text(12) = unset()
    service_address: _text(2000) = unset()
    service_city: _text(100) = unset()
    service_postal_code: _text(12) = unset()
    gstin: _text(15) = unset()
    vat_id: _text(20) = unset()
    tax_exempt: Bool = unset()
    group: _text(50, 1) = unset()
    notes: _text(10000) = unset()
    reason: Reason = "updated through the API"


class CustomerOut(Schema):
    id: int
    account_number: str
    name: str
    kind: CustomerKind
    email: str
    phone: str
    alt_phone: str
    country: str
    state_code: str
    billing_address: str
    billing_city: str
    billing_postal_code: str
    service_address: str
    service_city: str
    service_postal_code: str
    gstin: str
    vat_id: str
    tax_exempt: bool
    group: str
    notes: str
    created_at: datetime
    updated_at: datetime


class BalanceOut(Schema):
    customer_id: int
    currency: str
    due: Money = Field(description="Open on issued invoices")
    credit: Money = Field(description="Payments and credit notes not yet applied")


# -- plans ---------------------------------------------------------------------------------


class TaxIn(In):
    sac: Annotated[str, Field(pattern=r"^[0-9]{0,8}$")] = Field(description="SAC/HSN code")
    rate: Rate


class TaxOut(Schema):
    sac: str
    rate: str
    exempt: bool


class TierIn(In):
    up_to_gb: Int(1, MAX_INT) | None = Field(
        description="Cumulative GB over the allowance; null for the last, open tier"
    )
    per_gb: MoneyIn


class TierOut(Schema):
    up_to_gb: int | None
    per_gb: Money


class PlanTermsIn(In):
    price: MoneyIn = Field(description="Per interval, tax excluded unless tax_inclusive")
    interval: Interval
    alignment: Alignment
    fee_timing: FeeTiming = FeeTiming.ADVANCE
    proration: Proration = Proration.DAILY
    tax_inclusive: Bool = False
    setup_fee: MoneyIn = "0"
    allowance_bytes: Bytes | None = Field(None, description="null: unlimited")
    allowance_counts: AllowanceCounts = AllowanceCounts.DOWNLOAD
    overage_price_per_gb: MoneyIn | None = None
    overage_tiers: Annotated[list[TierIn], Field(min_length=1, max_length=20)] | None = None
    overage_rounding: OverageRounding = OverageRounding.UP
    fair_use_down_kbps: OptionalKbps = None
    fair_use_up_kbps: OptionalKbps = None
    down_kbps: Kbps
    up_kbps: Kbps
    burst_down_kbps: OptionalKbps = None
    burst_up_kbps: OptionalKbps = None
    burst_threshold_down_kbps: OptionalKbps = None
    burst_threshold_up_kbps: OptionalKbps = None
    burst_time_s: Int(1, MAX_INT) | None = None
    prepaid_validity_days: Int(1, 3660) | None = None
    tax: TaxIn
    addons: Annotated[list[_text(30, 1)], Field(max_length=20)] = Field(
        [], description="Codes of add-ons included in the plan"
    )


class PlanVersionIn(In):
    """A new version: the current terms with these changes (only the fields sent)."""

    price: MoneyIn = unset()
    interval: Interval = unset()
    alignment: Alignment = unset()
    fee_timing: FeeTiming = unset()
    proration: Proration = unset()
    tax_inclusive: Bool = unset()
    setup_fee: MoneyIn = unset()
    allowance_bytes: Bytes | None = None
    allowance_counts: AllowanceCounts = unset()
    overage_price_per_gb: MoneyIn | None = None
    overage_tiers: Annotated[list[TierIn], Field(min_length=1, max_length=20)] | None = None
    overage_rounding: OverageRounding = unset()
    fair_use_down_kbps: OptionalKbps = unset()
    fair_use_up_kbps: OptionalKbps = unset()
    down_kbps: Kbps = unset()
    up_kbps: Kbps = unset()
    burst_down_kbps: OptionalKbps = unset()
    burst_up_kbps: OptionalKbps = unset()
    burst_threshold_down_kbps: OptionalKbps = unset()
    burst_threshold_up_kbps: OptionalKbps = unset()
    burst_time_s: Int(1, MAX_INT) | None = None
    prepaid_validity_days: Int(1, 3660) | None = None
    tax: TaxIn = unset()
    addons: Annotated[list[_text(30, 1)], Field(max_length=20)] = unset()
    reason: Reason = "new version through the API"


class PlanIn(In):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,29}$")]
    name: _text(100, 1)
    kind: PlanKind = PlanKind.POSTPAID
    description: _text(5000) = ""
    terms: PlanTermsIn


class PlanVersionOut(Schema):
    id: int
    plan_id: int
    plan_code: str
    version: int
    created_at: datetime
    created_by: str
    currency: str
    price: Money
    tax_inclusive: bool
    interval: Interval
    alignment: Alignment
    fee_timing: FeeTiming
    proration: Proration
    setup_fee: Money
    allowance_bytes: int | None
    allowance_counts: AllowanceCounts
    overage_price_per_gb: Money | None
    overage_tiers: list[TierOut] | None
    overage_rounding: OverageRounding
    fair_use_down_kbps: int | None
    fair_use_up_kbps: int | None
    down_kbps: int
    up_kbps: int
    burst_down_kbps: int | None
    burst_up_kbps: int | None
    burst_threshold_down_kbps: int | None
    burst_threshold_up_kbps: int | None
    burst_time_s: int | None
    prepaid_validity_days: int | None
    tax: TaxOut
    addons: list[str]


class PlanOut(Schema):
    id: int
    code: str
    name: str
    kind: PlanKind
    description: str
    available: bool
    created_at: datetime
    current_version: PlanVersionOut | None


# -- subscriptions ------------------------------------------------------------------------


class SubscriptionIn(In):
    customer_id: Id
    plan: _text(30, 1) = Field(description="Plan code; its current version")
    username: _text(64, 1) = Field(description="RADIUS User-Name")
    password: _text(128, 6) = Field(description="RADIUS password (stored encrypted)")
    activate: Bool = Field(True, description="false: pending until activated")
    static_ip: IpAddress | None = None
    framed_pool: _text(64) = ""
    addons: Annotated[list[_text(30, 1)], Field(max_length=20)] = []


class PlanChangeOut(Schema):
    id: int
    subscription_id: int
    from_plan: str
    from_version_id: int
    to_plan: str
    to_version_id: int
    when: When
    requested_at: datetime
    effective_at: datetime
    status: str
    reason: str


class SubscriptionOut(Schema):
    id: int
    customer_id: int
    plan_code: str
    plan_version_id: int
    plan_version: int
    state: SubscriptionState
    suspend_reason: str
    username: str
    static_ip: str | None
    framed_pool: str
    addons: list[str]
    anchor_date: date | None
    created_at: datetime
    activated_at: datetime | None
    terminated_at: datetime | None
    prepaid_expires_at: datetime | None
    cancel_at: datetime | None
    pending_plan_change: PlanChangeOut | None


class StateChangeOut(Schema):
    at: datetime
    from_state: str
    to_state: str
    reason: str
    note: str
    actor: str


class ChangePlanIn(In):
    plan: _text(30, 1) = Field(description="Code of the plan to move to")
    when: When = When.PERIOD_END
    reason: Reason = "plan change"


class SuspendIn(In):
    reason: SuspendReason
    note: Note = ""


class NoteIn(In):
    note: Note = ""


class CancelIn(In):
    when: When
    reason: _text(40, 1) = Field("cancelled", description="Short: kept with the state change")


class PasswordIn(In):
    password: _text(128, 6)
    reason: Reason = "password reset"


# -- usage, sessions, NAS --------------------------------------------------------------------


class UsageOut(Schema):
    subscription_id: int
    period_start: date
    period_end: date = Field(description="Exclusive")
    download_bytes: int
    upload_bytes: int
    allowance_bytes: int | None
    updated_at: datetime


class SessionOut(Schema):
    id: int
    subscription_id: int | None
    username: str
    nas_id: int
    acct_session_id: str
    started_at: datetime
    updated_at: datetime
    stopped_at: datetime | None
    download_bytes: int
    upload_bytes: int
    framed_ip: str | None
    calling_station_id: str
    nas_port_id: str
    terminate_cause: str


class NasIn(In):
    name: _text(100, 1)
    address: _text(64, 1) = Field(description="IP address or subnet (CIDR) it sends from")
    secret: _text(128, 8) = Field(description="RADIUS shared secret (stored encrypted)")
    vendor: NasVendor = NasVendor.GENERIC
    coa_port: Int(1, 65535) = 3799
    coa_address: IpAddress | None = None


class NasOut(Schema):
    id: int
    name: str
    address: str
    vendor: NasVendor
    coa_address: str | None
    coa_port: int
    require_message_authenticator: bool
    enabled: bool
    description: str
    created_at: datetime


# -- invoices and credit notes ---------------------------------------------------------------


class LineTaxOut(Schema):
    name: str
    rate: str
    amount: Money


class LineOut(Schema):
    position: int
    kind: str
    description: str
    quantity: str
    unit_price: Money
    amount: Money = Field(description="Net of tax")
    tax_rate: str
    taxes: list[LineTaxOut]
    tax_amount: Money
    total: Money
    period_start: date | None
    period_end: date | None = Field(description="Exclusive")
    sac: str
    subscription_id: int | None


class InvoiceOut(Schema):
    id: int
    kind: DocumentKind
    status: DocumentStatus
    number: str | None
    customer_id: int
    subscription_id: int | None
    against_id: int | None = Field(description="Credit notes: the invoice they correct")
    currency: str
    created_at: datetime
    issued_at: datetime | None
    due_date: date | None
    subtotal: Money
    tax_total: Money
    total: Money
    tax_regime: str
    place_of_supply: str
    tax_note: str
    reason: str


class InvoiceDetailOut(InvoiceOut):
    lines: list[LineOut]
    open_amount: Money | None = Field(description="Issued invoices: what is left to pay")
    credited: Money | None = Field(description="Issued invoices: credited by credit notes")


class CreditNoteIn(In):
    amount: MoneyIn = Field(description="Tax included; at most what is left to credit")
    reason: Reason


class WriteOffIn(In):
    amount: MoneyIn | None = Field(None, description="null: everything still open")
    reason: Reason


class WriteOffOut(Schema):
    id: int
    invoice_id: int
    customer_id: int
    amount: Money
    at: datetime
    reason: str


class VoidIn(In):
    reason: Reason


# -- payments --------------------------------------------------------------------------------


class AllocationOut(Schema):
    id: int
    customer_id: int
    invoice_id: int
    payment_id: int | None
    credit_note_id: int | None
    amount: Money
    at: datetime
    reversed_at: datetime | None


class PaymentIn(In):
    customer_id: Id
    amount: MoneyIn
    method: PaymentMethod
    reference: _text(100) = Field("", description="UTR, cheque number, UPI reference")
    invoice_id: Id | None = Field(None, description="Settle this invoice first")
    note: Note = ""


class PaymentOut(Schema):
    id: int
    customer_id: int
    amount: Money
    currency: str
    method: str
    reference: str
    gateway: str
    status: str
    received_at: datetime
    recorded_at: datetime
    receipt_number: str | None
    note: str
    allocations: list[AllocationOut]


class ReverseIn(In):
    reason: Reason


class RefundIn(In):
    customer_id: Id
    amount: MoneyIn
    method: PaymentMethod
    reason: Reason
    payment_id: Id | None = Field(None, description="The payment refunded, if one")
    reference: _text(100) = ""


class RefundOut(Schema):
    id: int
    customer_id: int
    payment_id: int | None
    amount: Money
    currency: str
    method: str
    reference: str
    status: str
    at: datetime
    reason: str


# -- tokens ----------------------------------------------------------------------------------


class TokenIn(In):
    name: _text(100, 1)
    scopes: Annotated[list[ScopeName], Field(min_length=1, max_length=4)]
    customer_id: Id | None = Field(None, description="Set: the token sees only this customer")
    rate_limit: Int(1, 100_000) = Field(120, description="Requests a minute")
    expires_at: Timestamp | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to tell it apart")
    scopes: list[ScopeName]
    customer_id: int | None
    rate_limit: int
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The token itself: shown this once, never again")


# -- pages -----------------------------------------------------------------------------------


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """``{"items": [item…], "next": cursor or null}`` under its own schema name."""
    return create_model(
        name,
        __base__=Schema,
        items=(list[item], ...),
        next=(str | None, Field(description="Cursor of the next page; null on the last")),
    )


CustomerPage = page_of(CustomerOut, "CustomerPage")
PlanPage = page_of(PlanOut, "PlanPage")
PlanVersionPage = page_of(PlanVersionOut, "PlanVersionPage")
SubscriptionPage = page_of(SubscriptionOut, "SubscriptionPage")
StateChangePage = page_of(StateChangeOut, "StateChangePage")
UsagePage = page_of(UsageOut, "UsagePage")
SessionPage = page_of(SessionOut, "SessionPage")
NasPage = page_of(NasOut, "NasPage")
InvoicePage = page_of(InvoiceOut, "InvoicePage")
PaymentPage = page_of(PaymentOut, "PaymentPage")
AllocationPage = page_of(AllocationOut, "AllocationPage")
RefundPage = page_of(RefundOut, "RefundPage")
TokenPage = page_of(TokenOut, "TokenPage")
