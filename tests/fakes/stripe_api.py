"""A local fake of the Stripe API, for testing the adapter through the real SDK.

Speaks Stripe's documented shapes for exactly what the adapter uses (Checkout Sessions,
PaymentIntents confirmed off-session, Refunds), checks the Bearer secret key, parses the
form-encoded bodies the SDK sends (``metadata[invoice_id]=12``,
``line_items[0][price_data][unit_amount]=64646``), honours ``Idempotency-Key`` (the same
key and parameters: the same answer; other parameters: an ``idempotency_error``), answers
errors in Stripe's error shape and records every request.

Test payment methods, as in Stripe's test mode: ``pm_card_visa`` succeeds,
``pm_card_chargeDeclined`` is declined (HTTP 402 ``card_declined``), ``pm_card_processing``
stays ``processing``. ``declined_methods`` can be changed by a test.

``signed_event`` builds a webhook Event and its ``Stripe-Signature`` header
(``t=TIMESTAMP,v1=HEX(HMAC-SHA256(secret, f"{t}.{body}"))``); the fake only signs, the
product verifies with the SDK.

Usage::

    with FakeStripe() as fake:
        gateway = StripeGateway(GatewayConfig(..., secret_key=fake.secret_key,
                                              api_base=fake.url))
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FakeStripe", "RecordedRequest", "parse_form", "signed_event"]

API_VERSION = "2025-09-30.clover"
DECLINED = "pm_card_chargeDeclined"
PROCESSING = "pm_card_processing"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]  # the form body (POST) or query (GET), nested as Stripe reads it
    idempotency_key: str
    authorized: bool
    status: int


class StripeApiError(Exception):
    """An error answered in Stripe's shape: {"error": {"type", "code", "message", ...}}."""

    def __init__(self, status: int, type_: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, **extra}}


_ALPHABET = string.digits + string.ascii_letters


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


# -- form decoding -------------------------------------------------------------------------

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def parse_form(body: str) -> dict[str, Any]:
    """Decode Stripe's form encoding: ``a[b][0][c]=1`` -> ``{"a": {"b": [{"c": "1"}]}}``."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + (_KEY_PART.findall("[" + rest) if rest else [])
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _int(params: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise StripeApiError(
                400, "invalid_request_error", f"Missing required param: {name}.", param=name
            )
        return None
    if not isinstance(value, str) or not value.isdigit():
        raise StripeApiError(400, "invalid_request_error", f"Invalid integer: {value}", param=name)
    return int(value)


def _bool(value: object) -> bool:
    return value in ("true", "True", "1")


# -- webhooks ------------------------------------------------------------------------------


def signed_event(
    type_: str,
    data_object: Mapping[str, Any],
    secret: str,
    *,
    timestamp: int | None = None,
    event_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An Event envelope around ``data_object`` and the headers Stripe sends with it."""
    t = int(time.time()) if timestamp is None else timestamp
    event = {
        "id": event_id or _new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": t,
        "data": {"object": dict(data_object)},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    signature = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": f"t={t},v1={signature}",
    }


# -- the fake ------------------------------------------------------------------------------


class FakeStripe:
    """An in-memory Stripe API on 127.0.0.1 (random port), served from a thread."""

    DECLINED = DECLINED
    PROCESSING = PROCESSING

    def __init__(
        self,
        secret_key: str = "sk_test_FakeOctetKey0001",
        webhook_secret: str = "whsec_FakeOctetSecret0001",
    ) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.declined_methods: set[str] = {DECLINED}
        self.refund_status = "succeeded"  # "pending" to emulate a slow refund
        self._idempotent: dict[tuple[str, str], tuple[dict[str, Any], int, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for one poll
            name="fake-stripe",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeStripe is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test helpers ----------------------------------------------------------------------

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Authorised requests to exactly ``path`` (e.g. "/v1/checkout/sessions")."""
        with self._lock:
            return [
                r for r in self.requests if r.method == method and r.path == path and r.authorized
            ]

    def event(
        self,
        type_: str,
        data_object: Mapping[str, Any],
        *,
        timestamp: int | None = None,
        event_id: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        return signed_event(
            type_, data_object, self.webhook_secret, timestamp=timestamp, event_id=event_id
        )

    def pay_session(
        self,
        session_id: str,
        *,
        payment_method: str = "pm_card_visa",
        amount: int | None = None,
        currency: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The customer pays a session: returns (session, payment intent) as webhooks show
        them. ``amount``/``currency`` override what was charged (to test mismatches)."""
        with self._lock:
            session = self.sessions[session_id]
            intent_data = session.pop("_intent_data", {})
            customer = session.get("customer")
            if session.pop("_customer_creation", "") == "always" and not customer:
                customer = _new_id("cus")
            charged = session["amount_total"] if amount is None else amount
            intent = self._new_intent(
                charged,
                currency or session["currency"],
                customer=customer,
                payment_method=payment_method,
                metadata=intent_data.get("metadata") or {},
                description=intent_data.get("description"),
                setup_future_usage=intent_data.get("setup_future_usage"),
                status="succeeded",
            )
            session.update(
                status="complete",
                payment_status="paid",
                payment_intent=intent["id"],
                customer=customer,
                amount_total=charged,
                currency=intent["currency"],
            )
            return dict(session), dict(intent)

    def payment_method_object(
        self, payment_method: str, *, customer: str | None, brand: str = "visa", last4: str = "4242"
    ) -> dict[str, Any]:
        """A PaymentMethod as payment_method.attached carries it."""
        return {
            "id": payment_method,
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {
                "brand": brand,
                "last4": last4,
                "exp_month": 12,
                "exp_year": 2030,
                "funding": "credit",
                "country": "IN",
            },
            "billing_details": {"email": None, "name": None, "phone": None, "address": None},
            "created": int(time.time()),
            "livemode": False,
            "metadata": {},
        }

    def refund_object(self, refund_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.refunds[refund_id])

    # -- request handling (from the server's threads) -------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        params = parse_form(body.decode() if method == "POST" else parts.query)
        key = headers.get("Idempotency-Key", "")
        authorized = self._authorized(headers.get("Authorization"))
        with self._lock:
            status, answer = self._answer(method, parts.path, params, key, authorized)
            self.requests.append(
                RecordedRequest(method, parts.path, params, key, authorized, status)
            )
            return status, answer

    def _answer(
        self, method: str, path: str, params: dict[str, Any], key: str, authorized: bool
    ) -> tuple[int, Any]:
        if not authorized:
            return 401, {
                "error": {
                    "type": "invalid_request_error",
                    "message": "Invalid API Key provided: sk_test_****",
                }
            }
        if method == "POST" and key:
            seen = self._idempotent.get((path, key))
            if seen is not None:
                first_params, status, answer = seen
                if first_params != params:
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the "
                            "same parameters they were first used with.",
                        }
                    }
                return status, answer
        try:
            status, answer = self._route(method, path, params)
        except StripeApiError as error:
            status, answer = error.status, error.body
        if method == "POST" and key and status != 400:
            # Stripe saves the result once the endpoint started executing, errors included
            # (a decline replays as the same decline); a failed validation is not saved.
            self._idempotent[(path, key)] = (params, status, answer)
        return status, answer

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].encode(), self.secret_key.encode())

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self._create_session(params)
        if method == "POST" and path == "/v1/payment_intents":
            return self._create_intent(params)
        if method == "POST" and path == "/v1/refunds":
            return 200, self._create_refund(params)
        raise StripeApiError(
            404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})."
        )

    # -- checkout sessions -----------------------------------------------------------------

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeApiError(400, "invalid_request_error", "Missing mode.", param="mode")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeApiError(
                400, "invalid_request_error", "line_items is required.", param="line_items"
            )
        total, currency = 0, None
        for n, item in enumerate(items):
            price = item.get("price_data") or {}
            unit = _int(price, "unit_amount")
            quantity = _int(item, "quantity", required=False) or 1
            if not (price.get("product_data") or {}).get("name"):
                raise StripeApiError(
                    400,
                    "invalid_request_error",
                    "Missing required param: line_items[0][price_data][product_data][name].",
                    param=f"line_items[{n}][price_data][product_data][name]",
                )
            if currency not in (None, price.get("currency")):
                raise StripeApiError(400, "invalid_request_error", "Currencies must match.")
            currency = price.get("currency")
            total += unit * quantity
        if not currency or not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeApiError(400, "invalid_request_error", "Invalid currency.")
        metadata = params.get("metadata") or {}
        _check_metadata(metadata)
        intent_data = params.get("payment_intent_data") or {}
        _check_metadata(intent_data.get("metadata") or {})
        if intent_data.get("setup_future_usage") not in (None, "off_session", "on_session"):
            raise StripeApiError(400, "invalid_request_error", "Invalid setup_future_usage.")
        session_id = _new_id("cs")
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": params.get("customer"),
            "customer_creation": params.get("customer_creation"),
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "metadata": metadata,
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"{self.url}/c/pay/{session_id}",
            "_intent_data": intent_data,
            "_customer_creation": params.get("customer_creation") or "",
        }
        self.sessions[session_id] = session
        return {k: v for k, v in session.items() if not k.startswith("_")}

    # -- payment intents -------------------------------------------------------------------

    def _new_intent(
        self,
        amount: int,
        currency: str,
        *,
        customer: str | None,
        payment_method: str,
        metadata: dict[str, Any],
        description: str | None,
        setup_future_usage: str | None,
        status: str,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        intent_id = _new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount if status == "succeeded" else 0,
            "currency": currency,
            "customer": customer,
            "description": description,
            "latest_charge": _new_id("ch") if status == "succeeded" else None,
            "last_payment_error": error,
            "livemode": False,
            "metadata": metadata,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "setup_future_usage": setup_future_usage,
            "status": status,
            "created": int(time.time()),
        }
        self.payment_intents[intent_id] = intent
        return intent

    def _create_intent(self, params: dict[str, Any]) -> tuple[int, Any]:
        amount = _int(params, "amount")
        currency = params.get("currency")
        if not currency or not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeApiError(400, "invalid_request_error", "Invalid currency.")
        if amount is None or amount < 1:
            raise StripeApiError(400, "invalid_request_error", "Amount must be at least 1.")
        metadata = params.get("metadata") or {}
        _check_metadata(metadata)
        method = params.get("payment_method") or ""
        if not method.startswith("pm_"):
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"No such PaymentMethod: '{method}'",
                code="resource_missing",
                param="payment_method",
            )
        confirm = _bool(params.get("confirm"))
        common = {
            "customer": params.get("customer"),
            "payment_method": method,
            "metadata": metadata,
            "description": params.get("description"),
            "setup_future_usage": None,
        }
        if confirm and method in self.declined_methods:
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
            }
            intent = self._new_intent(
                amount,
                currency,
                status="requires_payment_method",
                error={**error, "payment_method": {"id": method, "object": "payment_method"}},
                **common,
            )
            charge = _new_id("ch")
            return 402, {"error": {**error, "charge": charge, "payment_intent": dict(intent)}}
        if not confirm:
            status = "requires_confirmation"
        elif method == PROCESSING:
            status = "processing"
        else:
            status = "succeeded"
        return 200, dict(self._new_intent(amount, currency, status=status, **common))

    # -- refunds ---------------------------------------------------------------------------

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent") or ""
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                code="resource_missing",
                param="payment_intent",
            )
        if intent["status"] != "succeeded":
            raise StripeApiError(
                400,
                "invalid_request_error",
                "This PaymentIntent does not have a successful charge to refund.",
                code="charge_not_refundable",
            )
        already = sum(
            r["amount"]
            for r in self.refunds.values()
            if r["payment_intent"] == intent_id and r["status"] not in {"failed", "canceled"}
        )
        left = intent["amount_received"] - already
        amount = _int(params, "amount", required=False)
        amount = left if amount is None else amount
        if amount < 1 or amount > left:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        if params.get("reason") not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise StripeApiError(400, "invalid_request_error", "Invalid reason.", param="reason")
        refund_id = _new_id("re")
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "created": int(time.time()),
            "currency": intent["currency"],
            "metadata": params.get("metadata") or {},
            "payment_intent": intent_id,
            "reason": params.get("reason"),
            "status": self.refund_status,
        }
        self.refunds[refund_id] = refund
        return dict(refund)


def _check_metadata(metadata: object) -> None:
    if not isinstance(metadata, dict):
        raise StripeApiError(400, "invalid_request_error", "Invalid metadata.", param="metadata")
    if len(metadata) > 50:
        raise StripeApiError(400, "invalid_request_error", "Metadata: at most 50 keys.")
    for key, value in metadata.items():
        if len(key) > 40 or not isinstance(value, str) or len(value) > 500:
            raise StripeApiError(
                400, "invalid_request_error", "Metadata keys: 40 characters; values: 500."
            )


def _make_handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, answer = fake.handle(method, self.path, self.headers, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", _new_id("req"))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: the test output is for the tests

    return Handler
