"""Stripe adapter: Octet's :class:`~octet.gateways.base.Gateway` on Stripe's official SDK.

* Checkout is a hosted Checkout Session (mode ``payment``, one ``price_data`` line); with
  ``save_method`` the card is saved for off-session use (``setup_future_usage``).
* Auto-pay confirms a PaymentIntent off-session on the saved payment method.
* Refunds are Refunds of the PaymentIntent.
* Every creating call passes Octet's idempotency key in the request options, so a retried
  call returns what the first one made; the SDK's own network retries are off (a retry is
  Octet's decision, always with the same key).
* Webhooks are verified with ``stripe.Webhook.construct_event`` (the ``Stripe-Signature``
  header, HMAC-SHA256, 300 s tolerance) before anything in them is read.

Pure module: no Django, no database. Never logs keys, secrets, card numbers or payloads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import stripe

from octet.core.money import Money
from octet.gateways.base import (
    ChargeResult,
    Checkout,
    EventKind,
    GatewayConfig,
    GatewayError,
    GatewayEvent,
    InvalidSignature,
    RefundResult,
)

__all__ = ["REQUEST_TIMEOUT", "StripeGateway", "octet_method"]

log = logging.getLogger(__name__)

# (connect, read) seconds for every API call; the SDK's default read timeout is 80 s.
REQUEST_TIMEOUT = (5.0, 30.0)
_SIGNATURE_HEADER = "stripe-signature"

# Stripe payment method types -> payments.models.Method values that may go through a
# gateway (payments.ledger.GATEWAY_METHODS). Anything else (Link, wallets in Checkout) is
# collected like a card.
_METHODS = {
    "card": "card",
    "link": "card",
    "upi": "upi",
    "netbanking": "netbanking",
    "paypal": "wallet",
    "amazon_pay": "wallet",
    "alipay": "wallet",
    "wechat_pay": "wallet",
    "cashapp": "wallet",
}


def octet_method(types: object) -> str:
    """Octet's method for a Stripe payment method type (or list of them): card by default."""
    if isinstance(types, list | tuple):
        found = {_METHODS.get(str(t), "card") for t in types}
        return found.pop() if len(found) == 1 else "card"
    return _METHODS.get(str(types or "card"), "card")


class StripeGateway:
    """One Stripe account (secret key and webhook signing secret from ``config``)."""

    provider = "stripe"

    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._currency = config.currency.strip().upper()
        self._client = stripe.StripeClient(
            config.secret_key,
            base_addresses={"api": config.api_base.rstrip("/")} if config.api_base else None,
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=REQUEST_TIMEOUT),
        )

    def __repr__(self) -> str:
        # Never the config: it holds the secret key and the webhook secret.
        return f"<StripeGateway {self._currency}>"

    # -- checkout --------------------------------------------------------------------------

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
    ) -> Checkout:
        """A hosted Checkout Session for ``amount``; the same key again: the same session.

        Stripe requires ``success_url`` for a hosted page: the caller passes ``return_url``
        (Octet's own "thank you" page unless told otherwise); it is also the cancel URL.
        Stripe Checkout collects the phone itself, so ``customer_phone`` is not sent.
        """
        units = self._minor_units(amount)
        meta = {str(k): str(v) for k, v in metadata.items()}
        intent: dict[str, Any] = {"metadata": meta, "description": description[:1000]}
        if save_method:
            intent["setup_future_usage"] = "off_session"
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": amount.currency.lower(),
                        "unit_amount": units,
                        "product_data": {"name": description[:250] or "Payment"},
                    },
                }
            ],
            "metadata": meta,
            "payment_intent_data": intent,
        }
        reference = meta.get("invoice_id") or meta.get("customer_id")
        if reference:
            params["client_reference_id"] = reference
        if customer_email:
            params["customer_email"] = customer_email
        if save_method:
            # A saved card must belong to a Stripe Customer: create one at completion.
            params["customer_creation"] = "always"
        if return_url:
            params["success_url"] = return_url
            params["cancel_url"] = return_url
        session = self._call(
            "the checkout session",
            lambda: self._client.v1.checkout.sessions.create(
                params, {"idempotency_key": idempotency_key}
            ),
        )
        data = session.to_dict()
        session_id, url = data.get("id"), data.get("url")
        if not isinstance(session_id, str) or not isinstance(url, str) or not url:
            raise GatewayError("Stripe's checkout session has no id or URL")
        return Checkout(provider_id=session_id, url=url)

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """Verify with the SDK (else :class:`InvalidSignature`), then translate."""
        secret = self._config.webhook_secret
        if not secret:
            # An empty HMAC key is one anybody can sign with: refuse rather than "verify".
            raise InvalidSignature("no Stripe webhook secret is configured")
        signature = _header(headers, _SIGNATURE_HEADER)
        if not signature:
            raise InvalidSignature("Stripe webhook without a Stripe-Signature header")
        try:
            event = stripe.Webhook.construct_event(bytes(body), signature, secret)
        except stripe.SignatureVerificationError:
            raise InvalidSignature("Stripe webhook signature does not verify") from None
        except (ValueError, TypeError, AttributeError):
            # Signed but not an event: not JSON, JSON that is no object, a v2 notification.
            raise GatewayError("Stripe webhook body is not an event") from None
        data = event.to_dict()
        event_id, kind = data.get("id"), data.get("type")
        obj = (data.get("data") or {}).get("object")
        if not isinstance(event_id, str) or not isinstance(kind, str) or not isinstance(obj, dict):
            raise GatewayError("Stripe webhook is not an event envelope")
        translate = _TRANSLATORS.get(kind)
        if translate is None:
            return GatewayEvent(event_id=event_id, kind=EventKind.IGNORED)
        try:
            return translate(event_id, kind, obj)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GatewayError(f"Stripe {kind} event is malformed ({type(exc).__name__})") from None

    # -- auto-pay --------------------------------------------------------------------------

    def charge_saved_method(
        self,
        amount: Money,
        *,
        provider_customer_id: str,
        provider_method_id: str,
        description: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ChargeResult:
        """Confirm a PaymentIntent off-session on the saved method.

        A decline (``CardError``, HTTP 402) or another refusal Stripe answers definitely
        (HTTP 400/404: the method was detached, say) is a failed result; ``requires_action``
        or ``processing`` is pending (the webhook tells the outcome). A network failure or
        a Stripe server error raises :class:`GatewayError`: the outcome is unknown and the
        caller may ask again with the same key.
        """
        params: dict[str, Any] = {
            "amount": self._minor_units(amount),
            "currency": amount.currency.lower(),
            "customer": provider_customer_id,
            "payment_method": provider_method_id,
            "off_session": True,
            "confirm": True,
            "description": description[:1000],
            "metadata": {str(k): str(v) for k, v in metadata.items()},
        }
        try:
            intent = self._client.v1.payment_intents.create(
                params, {"idempotency_key": idempotency_key}
            ).to_dict()
        except stripe.CardError as exc:
            return ChargeResult(
                succeeded=False,
                provider_payment_id=_intent_id_of(exc),
                amount=amount,
                failure_reason=_reason(exc),
            )
        except stripe.InvalidRequestError as exc:
            return ChargeResult(
                succeeded=False,
                provider_payment_id=_intent_id_of(exc),
                amount=amount,
                failure_reason=_reason(exc),
            )
        except stripe.StripeError as exc:
            raise _gateway_error("the off-session charge", exc) from None
        intent_id = str(intent.get("id") or "")
        status = intent.get("status")
        charged = self._money(intent.get("amount_received") or intent.get("amount"), intent)
        if status == "succeeded":
            return ChargeResult(succeeded=True, provider_payment_id=intent_id, amount=charged)
        if status in {"requires_action", "processing", "requires_confirmation", "requires_capture"}:
            return ChargeResult(
                succeeded=False, pending=True, provider_payment_id=intent_id, amount=amount
            )
        error = intent.get("last_payment_error") or {}
        return ChargeResult(
            succeeded=False,
            provider_payment_id=intent_id,
            amount=amount,
            failure_reason=str(error.get("message") or f"payment intent {status}"),
        )

    # -- refunds ---------------------------------------------------------------------------

    def refund(
        self, provider_payment_id: str, amount: Money, *, reason: str, idempotency_key: str
    ) -> RefundResult:
        """Refund (part of) a PaymentIntent; the same key twice returns the first refund.

        Octet's reason stays in Octet (Stripe's ``reason`` is an enumeration); Stripe is
        told the refund was requested by the customer.
        """
        params: dict[str, Any] = {
            "payment_intent": provider_payment_id,
            "amount": self._minor_units(amount),
            "reason": "requested_by_customer",
        }
        refund = self._call(
            "the refund",
            lambda: self._client.v1.refunds.create(params, {"idempotency_key": idempotency_key}),
        ).to_dict()
        refund_id = refund.get("id")
        if not isinstance(refund_id, str) or not refund_id:
            raise GatewayError("Stripe's refund has no id")
        status = refund.get("status")
        if status == "succeeded":
            return RefundResult(provider_refund_id=refund_id, succeeded=True)
        if status in {"failed", "canceled"}:
            return RefundResult(
                provider_refund_id=refund_id,
                succeeded=False,
                failure_reason=str(refund.get("failure_reason") or f"refund {status}"),
            )
        return RefundResult(provider_refund_id=refund_id, succeeded=False, pending=True)

    # -- helpers ---------------------------------------------------------------------------

    def _call(self, what: str, call: Any) -> Any:
        try:
            return call()
        except stripe.StripeError as exc:
            raise _gateway_error(what, exc) from None

    def _minor_units(self, amount: Money) -> int:
        if not isinstance(amount, Money):
            raise TypeError(f"amount must be Money, got {type(amount).__name__}")
        if amount.currency != self._currency:
            raise GatewayError(
                f"this Stripe account charges in {self._currency}, not {amount.currency}"
            )
        if not amount.is_positive():
            raise GatewayError(f"amount must be positive, got {amount}")
        return amount.to_minor_units()

    @staticmethod
    def _money(units: object, obj: Mapping[str, Any]) -> Money | None:
        currency = obj.get("currency")
        if isinstance(units, bool) or not isinstance(units, int) or not isinstance(currency, str):
            return None
        return Money.from_minor_units(units, currency.upper())


# -- event translation -------------------------------------------------------------------


def _id_of(value: object) -> str:
    """An id field that may come expanded (an object) or not (a string)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata")
    return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


def _amount(units: object, currency: object) -> Money | None:
    if isinstance(units, bool) or not isinstance(units, int) or not isinstance(currency, str):
        return None
    return Money.from_minor_units(units, currency.upper())


def _card_label(method: Mapping[str, Any]) -> str:
    card = method.get("card")
    if isinstance(card, dict):
        brand = str(card.get("brand") or "card").replace("_", " ").title()
        last4 = str(card.get("last4") or "")
        # Only ever the last four digits, whatever else the object carries.
        return f"{brand} •••• {last4}" if len(last4) == 4 and last4.isdigit() else brand
    kind = str(method.get("type") or "")
    return kind.replace("_", " ").title() if kind else ""


def _on_session(event_id: str, kind: str, session: dict[str, Any]) -> GatewayEvent:
    if session.get("mode") != "payment":
        return GatewayEvent(event_id=event_id, kind=EventKind.IGNORED)
    failed = kind == "checkout.session.async_payment_failed"
    if not failed and session.get("payment_status") not in {"paid", "no_payment_required"}:
        # Completed but not yet paid (a delayed method): async_payment_succeeded follows.
        return GatewayEvent(event_id=event_id, kind=EventKind.IGNORED)
    return GatewayEvent(
        event_id=event_id,
        kind=EventKind.PAYMENT_FAILED if failed else EventKind.PAYMENT_SUCCEEDED,
        provider_payment_id=_id_of(session.get("payment_intent")),
        amount=_amount(session.get("amount_total"), session.get("currency")),
        method=octet_method(session.get("payment_method_types")),
        metadata=_metadata(session),
        provider_customer_id=_id_of(session.get("customer")),
        failure_reason="the delayed payment failed" if failed else "",
    )


def _on_intent(event_id: str, kind: str, intent: dict[str, Any]) -> GatewayEvent:
    failed = kind == "payment_intent.payment_failed"
    method = intent.get("payment_method")
    label = _card_label(method) if isinstance(method, dict) else ""
    error = intent.get("last_payment_error") or {}
    units = intent.get("amount") if failed else intent.get("amount_received", intent.get("amount"))
    return GatewayEvent(
        event_id=event_id,
        kind=EventKind.PAYMENT_FAILED if failed else EventKind.PAYMENT_SUCCEEDED,
        provider_payment_id=_id_of(intent),
        amount=_amount(units, intent.get("currency")),
        method=octet_method(
            method.get("type") if isinstance(method, dict) else intent.get("payment_method_types")
        ),
        metadata=_metadata(intent),
        provider_customer_id=_id_of(intent.get("customer")),
        provider_method_id=_id_of(method),
        method_label=label,
        failure_reason=_error_text(error) if failed else "",
    )


def _refund_kind(status: object) -> str:
    if status == "succeeded":
        return EventKind.REFUND_SUCCEEDED
    if status in {"failed", "canceled"}:
        return EventKind.REFUND_FAILED
    return EventKind.IGNORED  # pending / requires_action: nothing changed for Octet


def _on_refund(event_id: str, kind: str, refund: dict[str, Any]) -> GatewayEvent:
    refund_kind = _refund_kind(refund.get("status"))
    return GatewayEvent(
        event_id=event_id,
        kind=refund_kind,
        provider_payment_id=_id_of(refund.get("payment_intent")),
        amount=_amount(refund.get("amount"), refund.get("currency")),
        metadata=_metadata(refund),
        provider_refund_id=_id_of(refund),
        failure_reason=str(refund.get("failure_reason") or "")
        if refund_kind == EventKind.REFUND_FAILED
        else "",
    )


def _on_charge_refunded(event_id: str, kind: str, charge: dict[str, Any]) -> GatewayEvent:
    # Since API version 2022-11-15 a charge lists its refunds only when expanded; without
    # them the refund.* events carry the news, so this one has nothing to add.
    refunds = charge.get("refunds")
    items = refunds.get("data") if isinstance(refunds, dict) else None
    if not isinstance(items, list) or not items:
        return GatewayEvent(event_id=event_id, kind=EventKind.IGNORED)
    latest = max(
        (r for r in items if isinstance(r, dict)), key=lambda r: r.get("created") or 0, default={}
    )
    if not latest:
        return GatewayEvent(event_id=event_id, kind=EventKind.IGNORED)
    event = _on_refund(event_id, kind, latest)
    if not event.provider_payment_id:
        event = replace(event, provider_payment_id=_id_of(charge.get("payment_intent")))
    return event


def _on_method(event_id: str, kind: str, obj: dict[str, Any]) -> GatewayEvent:
    if kind == "setup_intent.succeeded":
        method = obj.get("payment_method")
        return GatewayEvent(
            event_id=event_id,
            kind=EventKind.METHOD_SAVED,
            method=octet_method(
                method.get("type") if isinstance(method, dict) else obj.get("payment_method_types")
            ),
            metadata=_metadata(obj),
            provider_customer_id=_id_of(obj.get("customer")),
            provider_method_id=_id_of(method),
            method_label=_card_label(method) if isinstance(method, dict) else "",
        )
    # payment_method.attached: the object is the PaymentMethod itself.
    return GatewayEvent(
        event_id=event_id,
        kind=EventKind.METHOD_SAVED,
        method=octet_method(obj.get("type")),
        metadata=_metadata(obj),
        provider_customer_id=_id_of(obj.get("customer")),
        provider_method_id=_id_of(obj),
        method_label=_card_label(obj),
    )


_TRANSLATORS = {
    "checkout.session.completed": _on_session,
    "checkout.session.async_payment_succeeded": _on_session,
    "checkout.session.async_payment_failed": _on_session,
    "payment_intent.succeeded": _on_intent,
    "payment_intent.payment_failed": _on_intent,
    "charge.refunded": _on_charge_refunded,
    "refund.created": _on_refund,
    "refund.updated": _on_refund,
    "refund.failed": _on_refund,
    "setup_intent.succeeded": _on_method,
    "payment_method.attached": _on_method,
}


# -- errors ------------------------------------------------------------------------------


def _error_text(error: Mapping[str, Any]) -> str:
    code = error.get("decline_code") or error.get("code") or ""
    message = error.get("message") or "payment failed"
    return f"{message} ({code})" if code else str(message)


def _reason(exc: stripe.StripeError) -> str:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    if error:
        return _error_text(error)
    return exc.user_message or type(exc).__name__


def _intent_id_of(exc: stripe.StripeError) -> str:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return _id_of(error.get("payment_intent"))


def _gateway_error(what: str, exc: stripe.StripeError) -> GatewayError:
    """A message safe for staff: Stripe's own text (it masks keys), never the request."""
    if isinstance(exc, stripe.APIConnectionError):
        return GatewayError(f"Stripe could not be reached for {what}")
    if isinstance(exc, stripe.AuthenticationError):
        return GatewayError(f"Stripe refused the API key for {what}: check the account's keys")
    status = f" (HTTP {exc.http_status})" if exc.http_status else ""
    return GatewayError(f"Stripe refused {what}{status}: {exc.user_message or 'no message'}")


def _header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive lookup; also accepts WSGI-style names (HTTP_STRIPE_SIGNATURE)."""
    for key, value in headers.items():
        normal = str(key).lower().replace("_", "-").removeprefix("http-")
        if normal == name:
            return str(value).strip()
    return ""
