"""The one interface every payment gateway adapter implements.

Pure: no Django, no database. An adapter turns Octet's requests into calls of the
provider's official SDK, and the provider's webhooks into :class:`GatewayEvent` values,
after verifying their signature with the SDK's own check. Amounts cross this boundary as
:class:`~octet.core.money.Money`; adapters convert to and from the provider's minor units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from octet.core.money import Money

__all__ = [
    "ChargeResult",
    "Checkout",
    "EventKind",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "GatewayEvent",
    "InvalidSignature",
    "RefundResult",
]


class GatewayError(Exception):
    """The provider refused or could not be reached (message safe to show to staff)."""


class InvalidSignature(GatewayError):
    """A webhook whose signature does not verify: dropped, never acted on."""


@dataclass(frozen=True)
class GatewayConfig:
    """What an adapter needs; secrets are already decrypted by the caller."""

    provider: str  # "stripe" | "razorpay"
    key_id: str  # Stripe: unused ("" ok); Razorpay: key_id
    secret_key: str  # Stripe: sk_...; Razorpay: key_secret
    webhook_secret: str  # Stripe: whsec_...; Razorpay: webhook secret
    api_base: str = ""  # "" = the provider's public API; tests point it at a local server
    currency: str = "INR"


@dataclass(frozen=True)
class Checkout:
    """A hosted checkout page or payment link the customer is sent to."""

    provider_id: str  # Stripe checkout session id (cs_...); Razorpay payment link id (plink_...)
    url: str


class EventKind:
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    METHOD_SAVED = "method.saved"  # a card/UPI mandate saved for auto-pay
    IGNORED = "ignored"  # a verified event Octet has no use for


@dataclass(frozen=True)
class GatewayEvent:
    """A verified webhook, in Octet's terms."""

    event_id: str  # the provider's event id: a replay carries the same id
    kind: str  # an EventKind value
    provider_payment_id: str = ""  # pi_... / pay_...: Payment.gateway_payment_id
    amount: Money | None = None
    method: str = ""  # payments.models.Method value: card, upi, netbanking, wallet
    # What Octet put in the checkout/charge metadata (Stripe metadata, Razorpay notes):
    # {"invoice_id": "12", "customer_id": "3", "purpose": "invoice"|"top_up"|"auto_pay"}
    metadata: Mapping[str, str] = field(default_factory=dict)
    provider_customer_id: str = ""  # cus_... / cust_...
    provider_method_id: str = ""  # pm_... / token_...: for METHOD_SAVED and auto-pay
    method_label: str = ""  # "Visa •••• 4242", "UPI mandate ab@okbank": never a full number
    provider_refund_id: str = ""  # re_... / rfnd_...
    failure_reason: str = ""


@dataclass(frozen=True)
class ChargeResult:
    """An off-session charge of a saved method (auto-pay)."""

    succeeded: bool
    provider_payment_id: str = ""
    amount: Money | None = None
    failure_reason: str = ""
    pending: bool = False  # accepted, outcome arrives by webhook (e.g. UPI mandate debit)


@dataclass(frozen=True)
class RefundResult:
    provider_refund_id: str
    succeeded: bool  # False with pending=True: outcome arrives by webhook
    pending: bool = False
    failure_reason: str = ""


class Gateway(Protocol):
    """One provider. Every method that creates something takes an idempotency key the
    adapter passes to the provider where its API has one, so a retried call never charges
    or refunds twice."""

    provider: str

    def create_checkout(
        self,
        amount: Money,
        *,
        description: str,
        metadata: Mapping[str, str],
        customer_email: str = "",
        customer_phone: str = "",
        customer_name: str = "",
        return_url: str = "",
        save_method: bool = False,
        idempotency_key: str,
    ) -> Checkout: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """Verify with the SDK's signature check (raise InvalidSignature) and translate."""
        ...

    def charge_saved_method(
        self,
        amount: Money,
        *,
        provider_customer_id: str,
        provider_method_id: str,
        description: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ChargeResult: ...

    def refund(
        self, provider_payment_id: str, amount: Money, *, reason: str, idempotency_key: str
    ) -> RefundResult: ...
