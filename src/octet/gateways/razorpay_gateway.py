"""Razorpay adapter: Octet's :class:`~octet.gateways.base.Gateway` on Razorpay's official SDK.

* Checkout is a Standard Payment Link (``client.payment_link``); the idempotency key is the
  link's ``reference_id``, which Razorpay keeps unique, so a retried call finds the link it
  made the first time.
* Auto-pay charges a saved token with an order and a recurring payment
  (``client.order.create`` + ``client.payment.createRecurring``).
* Refunds go through ``client.payment.refund``.
* Webhooks are verified with the SDK's ``utility.verify_webhook_signature`` (HMAC-SHA256 of
  the raw body with the webhook secret) before anything in them is read.

Razorpay has no idempotency header on these APIs, so the adapter makes retries safe itself:
the key goes in a field Razorpay stores (``reference_id``/``receipt``) and is looked up
before anything is created a second time.

Pure module: no Django. Never logs keys, secrets, card numbers or full UPI ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import razorpay
import requests
from razorpay.errors import BadRequestError, ServerError, SignatureVerificationError
from razorpay.errors import GatewayError as SdkGatewayError

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

__all__ = [
    "DEFAULT_API_BASE",
    "InvalidRequest",
    "RazorpayGateway",
    "RazorpayRefused",
    "mask_vpa",
    "octet_method",
]

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.razorpay.com"  # the SDK appends /v1/... itself
# (connect, read) seconds: the SDK sets no timeout, and a hung call would hold a worker.
REQUEST_TIMEOUT = (5.0, 30.0)
_MAX_REFERENCE = 40  # Razorpay: reference_id and receipt are at most 40 characters
_MAX_NOTES = 15  # Razorpay: at most 15 notes of at most 256 characters each
_MAX_NOTE_LENGTH = 256
# Ids end up in URL paths (/v1/payments/{id}/refund): anything else could re-route a call.
_ID = re.compile(r"[A-Za-z]+_[A-Za-z0-9]+")
_SIGNATURE_HEADER = "x-razorpay-signature"
_EVENT_ID_HEADER = "x-razorpay-event-id"

# Razorpay payment methods -> payments.models.Method values. Only card, netbanking, upi and
# wallet may go through a gateway (payments.ledger.GATEWAY_METHODS), so every Razorpay
# method lands on one of them: EMI is card credit, pay-later works like a wallet, and
# eMandate/NACH/bank transfers are debits of a bank account.
_METHODS = {
    "card": "card",
    "emi": "card",
    "cardless_emi": "card",
    "paylater": "wallet",
    "app": "wallet",
    "wallet": "wallet",
    "upi": "upi",
    "netbanking": "netbanking",
    "emandate": "netbanking",
    "nach": "netbanking",
    "bank_transfer": "netbanking",
    "intl_bank_transfer": "netbanking",
}
_FALLBACK_METHOD = "card"


class InvalidRequest(GatewayError, ValueError):
    """A request Octet should not have made (wrong currency, amount not positive, bad id).

    Both a :class:`GatewayError` (callers catch one type) and a :class:`ValueError` (it is
    a caller bug, not a provider answer)."""


class RazorpayRefused(GatewayError):
    """Razorpay answered with a documented error (``BAD_REQUEST_ERROR``)."""

    def __init__(self, what: str, description: str) -> None:
        super().__init__(f"Razorpay refused {what}: {description}")
        self.description = description


class _Malformed(Exception):
    """A verified webhook whose payload lacks what its event promises."""


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout; the SDK passes none of its own."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: Any, url: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)


class RazorpayGateway:
    """One Razorpay account (key id/secret and webhook secret from ``config``)."""

    provider = "razorpay"

    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._currency = config.currency.strip().upper()
        self._client = razorpay.Client(
            session=_TimeoutSession(REQUEST_TIMEOUT),
            auth=(config.key_id, config.secret_key),
            base_url=_base_url(config.api_base),
        )
        self._client.set_app_details({"title": "Octet"})  # shows in the User-Agent

    def __repr__(self) -> str:
        # Never the config: it holds the key secret and the webhook secret.
        return f"<RazorpayGateway {self._currency}>"

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
        """Create a Standard Payment Link; a retry with the same key returns the same link.

        ``save_method``: the Payment Links API cannot ask for a recurring token (mandates
        are registered through Razorpay's recurring-payments flow: a registration link or
        an authorisation payment). So it is accepted and has no effect on the link; a
        mandate saved on Razorpay's side reaches Octet as a ``token.confirmed`` webhook,
        which :meth:`parse_webhook` turns into ``METHOD_SAVED``.
        """
        paise = self._paise(amount)
        reference = _reference(idempotency_key)
        request: dict[str, Any] = {
            "amount": paise,
            "currency": amount.currency,
            "description": description,
            "reference_id": reference,
            "notes": _notes(metadata),
            # Octet sends its own invoice and reminder messages.
            "notify": {"sms": False, "email": False},
            "reminder_enable": False,
        }
        customer = {
            key: value
            for key, value in (
                ("name", customer_name),
                ("email", customer_email),
                ("contact", customer_phone),
            )
            if value
        }
        if customer:
            request["customer"] = customer
        if return_url:
            request["callback_url"] = return_url
            request["callback_method"] = "get"  # the only method Razorpay accepts
        try:
            link = self._api("the payment link", lambda: self._client.payment_link.create(request))
        except RazorpayRefused as refused:
            # Razorpay refuses a reference_id it has seen: this is a retry, so answer with
            # the link made the first time. Looked up on any refusal rather than by matching
            # the error text, which Razorpay does not document.
            try:
                existing = self._link_by_reference(reference)
            except GatewayError:
                existing = None
            if existing is None:
                raise refused from None
            link = _same_link(existing, paise, amount.currency)
            logger.info("Razorpay payment link %s returned again for a retry", link.get("id"))
        return Checkout(provider_id=_required_str(link, "id"), url=_required_str(link, "short_url"))

    def _link_by_reference(self, reference: str) -> dict[str, Any] | None:
        answer = self._api(
            "the payment link lookup",
            lambda: self._client.payment_link.all({"reference_id": reference}),
        )
        # Documented as {"payment_links": [...]}; "items" is the usual collection shape.
        links = answer.get("payment_links") or answer.get("items") or []
        for link in links:
            if isinstance(link, dict) and link.get("reference_id") == reference:
                return link
        return None

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """Verify the signature with the SDK (else :class:`InvalidSignature`), translate."""
        text = self._verified_text(body, headers)
        try:
            # Decimal for any non-integer number: money never passes through float.
            envelope = json.loads(text, parse_float=Decimal)
        except ValueError:
            raise GatewayError("Razorpay webhook body is not JSON") from None
        if (
            not isinstance(envelope, dict)
            or not isinstance(envelope.get("event"), str)
            or not isinstance(envelope.get("payload"), dict)
        ):
            raise GatewayError("Razorpay webhook is not an event envelope")
        event: str = envelope["event"]
        payload: dict[str, Any] = envelope["payload"]
        try:
            # Razorpay retries a webhook with the same X-Razorpay-Event-Id: the dedupe key.
            event_id = _header(headers, _EVENT_ID_HEADER) or _fallback_event_id(event, payload)
            translate = _TRANSLATORS.get(event)
            if translate is None:
                return GatewayEvent(event_id=event_id, kind=EventKind.IGNORED)
            return translate(self, event_id, payload)
        except (_Malformed, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GatewayError(f"Razorpay {event} webhook is malformed: {exc}") from None

    def _verified_text(self, body: bytes, headers: Mapping[str, str]) -> str:
        secret = self._config.webhook_secret
        if not secret:
            # An empty HMAC key is one anybody can sign with: refuse rather than "verify".
            raise InvalidSignature("no Razorpay webhook secret is configured")
        signature = _header(headers, _SIGNATURE_HEADER)
        if not signature:
            raise InvalidSignature("Razorpay webhook without X-Razorpay-Signature")
        try:
            # The SDK signs str bodies as UTF-8, which round-trips the raw bytes exactly.
            text = bytes(body).decode("utf-8")
            self._client.utility.verify_webhook_signature(text, signature, secret)
        except (SignatureVerificationError, UnicodeDecodeError, TypeError):
            # TypeError: hmac.compare_digest refuses a non-ASCII signature string.
            raise InvalidSignature("Razorpay webhook signature does not verify") from None
        return text

    def _payment_event(
        self, event_id: str, payload: Mapping[str, Any], kind: str, link_notes: dict[str, str]
    ) -> GatewayEvent:
        payment = _entity(payload, "payment")
        failure = ""
        if kind == EventKind.PAYMENT_FAILED:
            failure = (
                _text(payment.get("error_description"))
                or _text(payment.get("error_reason"))
                or "payment failed"
            )
        return GatewayEvent(
            event_id=event_id,
            kind=kind,
            provider_payment_id=_entity_id(payment),
            amount=self._money(payment),
            method=octet_method(payment.get("method")),
            # What Octet wrote on the link wins over payment notes, which checkout can set.
            metadata={**_notes_of(payment), **link_notes},
            provider_customer_id=_text(payment.get("customer_id")),
            provider_method_id=_text(payment.get("token_id")),
            method_label=_method_label(payment),
            failure_reason=failure,
        )

    def _on_link_paid(self, event_id: str, payload: Mapping[str, Any]) -> GatewayEvent:
        link = _entity(payload, "payment_link")
        return self._payment_event(event_id, payload, EventKind.PAYMENT_SUCCEEDED, _notes_of(link))

    def _on_payment_captured(self, event_id: str, payload: Mapping[str, Any]) -> GatewayEvent:
        return self._payment_event(event_id, payload, EventKind.PAYMENT_SUCCEEDED, {})

    def _on_payment_failed(self, event_id: str, payload: Mapping[str, Any]) -> GatewayEvent:
        return self._payment_event(event_id, payload, EventKind.PAYMENT_FAILED, {})

    def _refund_event(self, event_id: str, payload: Mapping[str, Any], kind: str) -> GatewayEvent:
        refund = _entity(payload, "refund")
        payment = _entity(payload, "payment", required=False)
        return GatewayEvent(
            event_id=event_id,
            kind=kind,
            provider_refund_id=_entity_id(refund),
            provider_payment_id=_text(refund.get("payment_id")) or _text(payment.get("id")),
            amount=self._money(refund),
            method=octet_method(payment.get("method")) if payment else "",
            metadata={**_notes_of(payment), **_notes_of(refund)},
            failure_reason="Razorpay could not process the refund"
            if kind == EventKind.REFUND_FAILED
            else "",
        )

    def _on_refund_processed(self, event_id: str, payload: Mapping[str, Any]) -> GatewayEvent:
        return self._refund_event(event_id, payload, EventKind.REFUND_SUCCEEDED)

    def _on_refund_failed(self, event_id: str, payload: Mapping[str, Any]) -> GatewayEvent:
        return self._refund_event(event_id, payload, EventKind.REFUND_FAILED)

    def _on_token_confirmed(self, event_id: str, payload: Mapping[str, Any]) -> GatewayEvent:
        token = _entity(payload, "token")
        return GatewayEvent(
            event_id=event_id,
            kind=EventKind.METHOD_SAVED,
            method=octet_method(token.get("method")),
            metadata=_notes_of(token),
            provider_customer_id=_text(token.get("customer_id")),
            provider_method_id=_entity_id(token),
            method_label=_method_label(token, mandate=True),
        )

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
        """Charge a confirmed token: an order, then a recurring payment on it.

        Razorpay's answer to a recurring payment holds only ids, so the payment is fetched
        for its status: captured -> succeeded; created/authorized -> pending (eMandate and
        UPI debits settle later, by webhook); failed or a documented refusal -> a failed
        result with Razorpay's description. A retry with the same key finds the order by
        its receipt and reports that order's payment instead of charging again.
        """
        paise = self._paise(amount)
        receipt = _reference(idempotency_key)
        customer_id = _checked_id(provider_customer_id, "provider_customer_id")
        token_id = _checked_id(provider_method_id, "provider_method_id")
        notes = _notes(metadata)

        order = self._order_by_receipt(receipt)
        if order is not None:
            if order.get("amount") != paise or order.get("currency") != amount.currency:
                raise GatewayError(
                    "idempotency key already used by a Razorpay order for another amount"
                )
            previous = self._latest_payment(_required_str(order, "id"))
            if previous is not None:
                return self._charge_result(previous, amount)

        # Razorpay requires the customer's email and contact on every recurring payment.
        customer = self._api(
            "the customer lookup", lambda: self._client.customer.fetch(customer_id)
        )
        if order is None:
            order_request = {
                "amount": paise,
                "currency": amount.currency,
                "receipt": receipt,
                "notes": notes,
                "payment_capture": True,  # documented as boolean: capture at once
            }
            order = self._api("the order", lambda: self._client.order.create(order_request))
        payment_request = {
            "email": _text(customer.get("email")),
            "contact": _text(customer.get("contact")),
            "amount": paise,
            "currency": amount.currency,
            "order_id": _required_str(order, "id"),
            "customer_id": customer_id,
            "token": token_id,
            "recurring": "1",
            "description": description,
            "notes": notes,
        }
        try:
            answer = self._api(
                "the recurring payment",
                lambda: self._client.payment.createRecurring(payment_request),
            )
        except RazorpayRefused as refused:
            # A documented refusal here is a decline (bank, expired or paused mandate...).
            return ChargeResult(succeeded=False, amount=amount, failure_reason=refused.description)
        payment_id = answer.get("razorpay_payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise GatewayError("Razorpay accepted the recurring payment but sent no payment id")
        try:
            payment = self._api(
                "the payment lookup", lambda: self._client.payment.fetch(payment_id)
            )
        except GatewayError:
            # The charge was submitted: say pending (the webhook settles it) rather than
            # raise, which would invite a caller to charge again.
            return ChargeResult(
                succeeded=False, pending=True, provider_payment_id=payment_id, amount=amount
            )
        return self._charge_result(payment, amount)

    def _order_by_receipt(self, receipt: str) -> dict[str, Any] | None:
        answer = self._api("the order lookup", lambda: self._client.order.all({"receipt": receipt}))
        orders = [
            order
            for order in answer.get("items") or []
            if isinstance(order, dict) and order.get("receipt") == receipt
        ]
        return max(orders, key=lambda o: o.get("created_at") or 0) if orders else None

    def _latest_payment(self, order_id: str) -> dict[str, Any] | None:
        answer = self._api("the order's payments", lambda: self._client.order.payments(order_id))
        payments = [p for p in answer.get("items") or [] if isinstance(p, dict)]
        if not payments:
            return None
        # A live payment (captured, or still in progress) outranks earlier failures.
        rank = {"captured": 3, "refunded": 3, "authorized": 2, "created": 2, "pending": 2}
        return max(payments, key=lambda p: (rank.get(p.get("status"), 1), p.get("created_at") or 0))

    def _charge_result(self, payment: Mapping[str, Any], requested: Money) -> ChargeResult:
        payment_id = _required_str(payment, "id")
        status = payment.get("status")
        amount = self._money(payment) if "amount" in payment else requested
        if status in {"captured", "refunded"}:
            return ChargeResult(succeeded=True, provider_payment_id=payment_id, amount=amount)
        if status == "failed":
            reason = _text(payment.get("error_description")) or "payment failed"
            return ChargeResult(
                succeeded=False,
                provider_payment_id=payment_id,
                amount=amount,
                failure_reason=reason,
            )
        return ChargeResult(
            succeeded=False, pending=True, provider_payment_id=payment_id, amount=amount
        )

    # -- refunds ---------------------------------------------------------------------------

    def refund(
        self, provider_payment_id: str, amount: Money, *, reason: str, idempotency_key: str
    ) -> RefundResult:
        """Refund (part of) a payment; the same key twice returns the first refund."""
        paise = self._paise(amount)
        payment_id = _checked_id(provider_payment_id, "provider_payment_id")
        receipt = _reference(idempotency_key)
        # Razorpay does not promise to dedupe refund receipts, so look for ours first.
        refund = self._refund_by_receipt(payment_id, receipt)
        if refund is None:
            request: dict[str, Any] = {
                "amount": paise,
                "speed": "normal",
                "notes": {"reason": reason[:_MAX_NOTE_LENGTH]} if reason else {},
                "receipt": receipt,
            }
            refund = self._api(
                "the refund", lambda: self._client.payment.refund(payment_id, request)
            )
        elif refund.get("amount") != paise:
            raise GatewayError(
                "idempotency key already used by a Razorpay refund for another amount"
            )
        refund_id = _required_str(refund, "id")
        status = refund.get("status")
        if status == "processed":
            return RefundResult(provider_refund_id=refund_id, succeeded=True)
        if status == "failed":
            return RefundResult(
                provider_refund_id=refund_id,
                succeeded=False,
                failure_reason="Razorpay could not process the refund",
            )
        # "pending" (or "created"): the outcome arrives as refund.processed/refund.failed.
        return RefundResult(provider_refund_id=refund_id, succeeded=False, pending=True)

    def _refund_by_receipt(self, payment_id: str, receipt: str) -> dict[str, Any] | None:
        answer = self._api(
            "the refund lookup", lambda: self._client.payment.fetch_multiple_refund(payment_id)
        )
        for refund in answer.get("items") or []:
            if isinstance(refund, dict) and refund.get("receipt") == receipt:
                return refund
        return None

    # -- helpers ---------------------------------------------------------------------------

    def _api(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        """Run one SDK call; every failure becomes a :class:`GatewayError`."""
        try:
            answer = call()
        except BadRequestError as exc:
            raise RazorpayRefused(what, str(exc) or "bad request") from None
        except (SdkGatewayError, ServerError) as exc:
            raise GatewayError(f"Razorpay failed on {what}: {exc or 'server error'}") from None
        except requests.RequestException as exc:
            # Includes timeouts, refused connections and unreadable (non-JSON) answers.
            raise GatewayError(
                f"Razorpay could not be reached for {what} ({type(exc).__name__})"
            ) from None
        except ValueError:
            raise GatewayError(f"Razorpay sent an unreadable answer for {what}") from None
        if not isinstance(answer, dict):
            raise GatewayError(f"Razorpay sent an unexpected answer for {what}")
        return answer

    def _paise(self, amount: Money) -> int:
        if not isinstance(amount, Money):
            raise TypeError(f"amount must be Money, got {type(amount).__name__}")
        if amount.currency != self._currency:
            raise InvalidRequest(
                f"this Razorpay account charges in {self._currency}, not {amount.currency}"
            )
        if not amount.is_positive():
            raise InvalidRequest(f"amount must be positive, got {amount}")
        return amount.to_minor_units()

    def _money(self, entity: Mapping[str, Any]) -> Money:
        units = entity.get("amount")
        if isinstance(units, bool) or not isinstance(units, int):
            raise _Malformed(f"amount is not an integer count of minor units: {units!r}")
        currency = entity.get("currency") or self._currency
        return Money.from_minor_units(units, currency)


_TRANSLATORS: dict[str, Callable[[RazorpayGateway, str, Mapping[str, Any]], GatewayEvent]] = {
    "payment_link.paid": RazorpayGateway._on_link_paid,
    "payment.captured": RazorpayGateway._on_payment_captured,
    "payment.failed": RazorpayGateway._on_payment_failed,
    "refund.processed": RazorpayGateway._on_refund_processed,
    "refund.failed": RazorpayGateway._on_refund_failed,
    "token.confirmed": RazorpayGateway._on_token_confirmed,
}


# -- pure helpers ----------------------------------------------------------------------------


def octet_method(razorpay_method: object) -> str:
    """Octet's payment method (a ``payments.models.Method`` value) for a Razorpay one."""
    method = _text(razorpay_method).lower()
    if method in _METHODS:
        return _METHODS[method]
    # The money still came through the gateway, so it must be a gateway method.
    logger.warning("unknown Razorpay payment method %r recorded as card", method[:32])
    return _FALLBACK_METHOD


def mask_vpa(vpa: str) -> str:
    """``gaurav.kumar@okhdfcbank`` -> ``ga***@okhdfcbank``: enough to recognise, not to use."""
    user, at, handle = vpa.partition("@")
    shown = user[:2] if len(user) > 4 else user[:1]
    return f"{shown}***{at}{handle}"


def _method_label(entity: Mapping[str, Any], *, mandate: bool = False) -> str:
    method = _text(entity.get("method")).lower()
    if method in {"card", "emi"}:
        card = entity.get("card") if isinstance(entity.get("card"), dict) else {}
        network = _text(card.get("network")) or "Card"
        last4 = _text(card.get("last4"))
        # Only ever the last four digits, whatever else the entity carries.
        return f"{network} •••• {last4}" if re.fullmatch(r"\d{4}", last4) else network
    if method == "upi":
        vpa = entity.get("vpa")
        if isinstance(vpa, dict):  # tokens: {"username": ..., "handle": ...}
            vpa = f"{_text(vpa.get('username'))}@{_text(vpa.get('handle'))}"
        elif not vpa and isinstance(entity.get("upi"), dict):
            vpa = entity["upi"].get("vpa")
        prefix = "UPI mandate" if mandate else "UPI"
        return f"{prefix} {mask_vpa(_text(vpa))}" if _text(vpa) else prefix
    if method in {"netbanking", "emandate", "nach"}:
        name = {"netbanking": "Netbanking", "emandate": "eMandate", "nach": "NACH"}[method]
        bank = _text(entity.get("bank"))
        return f"{name} {bank}" if bank else name
    if method == "wallet":
        wallet = _text(entity.get("wallet"))
        return f"Wallet {wallet}" if wallet else "Wallet"
    return method


def _base_url(api_base: str) -> str:
    base = (api_base or DEFAULT_API_BASE).rstrip("/")
    # The SDK adds /v1 to every path; tolerate a configured base that already has it.
    return base.removesuffix("/v1")


def _reference(idempotency_key: str) -> str:
    """The key as a ``reference_id``/``receipt`` (at most 40 characters).

    A longer key is shortened with a digest of the whole key, not cut, so two keys that
    share their first 40 characters still differ.
    """
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise InvalidRequest("idempotency_key is required")
    if len(idempotency_key) <= _MAX_REFERENCE:
        return idempotency_key
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    return f"{idempotency_key[: _MAX_REFERENCE - 17]}-{digest}"


def _notes(metadata: Mapping[str, str]) -> dict[str, str]:
    notes = {str(key): str(value) for key, value in metadata.items()}
    if len(notes) > _MAX_NOTES:
        raise InvalidRequest(f"Razorpay takes at most {_MAX_NOTES} notes, got {len(notes)}")
    for key, value in notes.items():
        if len(value) > _MAX_NOTE_LENGTH:
            raise InvalidRequest(f"note {key!r} is longer than {_MAX_NOTE_LENGTH} characters")
    return notes


def _notes_of(entity: Mapping[str, Any] | None) -> dict[str, str]:
    # Razorpay sends empty notes as [] (and sometimes null), never as {}.
    notes = (entity or {}).get("notes")
    if not isinstance(notes, dict):
        return {}
    return {str(key): _text(value) for key, value in notes.items()}


def _header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive lookup; also accepts WSGI-style names (HTTP_X_RAZORPAY_...)."""
    for key, value in headers.items():
        normal = str(key).lower().replace("_", "-").removeprefix("http-")
        if normal == name:
            return str(value).strip()
    return ""


def _fallback_event_id(event: str, payload: Mapping[str, Any]) -> str:
    # Without the header, the event name and its entities' ids name it deterministically,
    # so a redelivery still dedupes.
    ids = sorted(
        _text(value["entity"].get("id"))
        for value in payload.values()
        if isinstance(value, dict) and isinstance(value.get("entity"), dict)
    )
    return f"{event}:{','.join(ids)}"


def _entity(payload: Mapping[str, Any], name: str, *, required: bool = True) -> dict[str, Any]:
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    if isinstance(entity, dict):
        return entity
    if required:
        raise _Malformed(f"payload has no {name} entity")
    return {}


def _entity_id(entity: Mapping[str, Any]) -> str:
    value = entity.get("id")
    if not isinstance(value, str) or not value:
        raise _Malformed(f"{entity.get('entity', 'entity')} without an id")
    return value


def _required_str(answer: Mapping[str, Any], key: str) -> str:
    value = answer.get(key)
    if not isinstance(value, str) or not value:
        raise GatewayError(f"Razorpay's answer has no {key}")
    return value


def _checked_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidRequest(f"{what} is not a Razorpay id")
    return value


def _same_link(link: Mapping[str, Any], paise: int, currency: str) -> dict[str, Any]:
    """The link found for a retried key, if it is still the one the caller asked for."""
    if link.get("amount") != paise or link.get("currency") != currency:
        raise GatewayError("idempotency key already used by a payment link for another amount")
    if link.get("status") in {"cancelled", "expired"}:
        raise GatewayError(
            f"the payment link for this idempotency key is {link['status']}; use a new key"
        )
    return dict(link)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
