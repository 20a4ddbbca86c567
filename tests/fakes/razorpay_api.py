"""A local fake of the Razorpay REST API, for testing the adapter through the real SDK.

Speaks the documented shapes of what the adapter uses (``/v1`` payment links, orders,
recurring payments, refunds, customers), checks HTTP Basic auth against the configured
key pair, keeps state in memory and records every request so tests can assert on what the
SDK actually sent. The SDK sends request bodies as JSON and GET filters as query strings.

Usage::

    with FakeRazorpay() as fake:
        gateway = RazorpayGateway(GatewayConfig(..., api_base=fake.url))

``signed_webhook`` builds a webhook envelope signed the way Razorpay signs it (HMAC-SHA256
of the raw body, hex, in ``X-Razorpay-Signature``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "FakeRazorpay",
    "RecordedRequest",
    "payment_entity",
    "refund_entity",
    "signed_webhook",
    "token_entity",
]

DECLINED_TOKEN = "token_declined"  # recurring charges on this token are declined by the bank
PENDING_TOKEN = "token_pending"  # recurring charges stay "created" (e.g. eMandate, UPI debit)
ACCOUNT_ID = "acc_FakeOctet0001"
_MAX_NOTES = 15  # Razorpay: at most 15 notes, 256 characters each
_MAX_NOTE_LENGTH = 256


class ApiError(Exception):
    """A Razorpay error response: ``{"error": {"code": ..., "description": ...}}``."""

    def __init__(self, status: int, description: str, *, field: str | None = None, **extra: Any):
        super().__init__(description)
        self.status = status
        self.body = {
            "error": {
                "code": "BAD_REQUEST_ERROR",
                "description": description,
                "source": extra.pop("source", "business"),
                "step": extra.pop("step", "payment_initiation"),
                "reason": extra.pop("reason", "input_validation_failed"),
                "metadata": extra.pop("metadata", {}),
                **({"field": field} if field else {}),
            }
        }


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # the decoded JSON body (amounts stay int; a float would arrive as Decimal)
    authorized: bool


# -- documented entity shapes (also used to build webhook payloads) ---------------------


def _notes(notes: Mapping[str, str] | None) -> Any:
    # Razorpay serialises empty notes as a JSON list, not an object.
    return dict(notes) if notes else []


def payment_entity(
    payment_id: str,
    amount: int,
    *,
    currency: str = "INR",
    status: str = "captured",
    method: str = "card",
    notes: Mapping[str, str] | None = None,
    order_id: str | None = None,
    customer_id: str | None = None,
    token_id: str | None = None,
    card_network: str = "Visa",
    card_last4: str = "4242",
    vpa: str = "gaurav.kumar@okhdfcbank",
    bank: str = "HDFC",
    wallet: str = "paytm",
    error_description: str | None = None,
    email: str = "gaurav.kumar@example.com",
    contact: str = "+919000090000",
) -> dict[str, Any]:
    """A payment entity as the API and webhooks show it."""
    failed = status == "failed"
    return {
        "id": payment_id,
        "entity": "payment",
        "amount": amount,
        "currency": currency,
        "status": status,
        "order_id": order_id,
        "invoice_id": None,
        "international": False,
        "method": method,
        "amount_refunded": 0,
        "refund_status": None,
        "captured": status in {"captured", "refunded"},
        "description": "Octet payment",
        "card_id": "card_FakeCard000001" if method in {"card", "emi"} else None,
        "card": (
            {
                "id": "card_FakeCard000001",
                "entity": "card",
                "name": "Gaurav Kumar",
                "last4": card_last4,
                "network": card_network,
                "type": "credit",
                "issuer": "HDFC",
                "international": False,
                "emi": method == "emi",
            }
            if method in {"card", "emi"}
            else None
        ),
        "bank": bank if method in {"netbanking", "emandate"} else None,
        "wallet": wallet if method == "wallet" else None,
        "vpa": vpa if method == "upi" else None,
        "email": email,
        "contact": contact,
        "customer_id": customer_id,
        "token_id": token_id,
        "notes": _notes(notes),
        "fee": None if failed else amount * 2 // 100,
        "tax": None if failed else amount * 36 // 10000,
        "error_code": "BAD_REQUEST_ERROR" if failed else None,
        "error_description": error_description if failed else None,
        "error_source": "bank" if failed else None,
        "error_step": "payment_authorization" if failed else None,
        "error_reason": "payment_declined" if failed else None,
        "acquirer_data": {},
        "created_at": int(time.time()),
    }


def refund_entity(
    refund_id: str,
    payment_id: str,
    amount: int,
    *,
    currency: str = "INR",
    status: str = "processed",
    notes: Mapping[str, str] | None = None,
    receipt: str | None = None,
    speed: str = "normal",
) -> dict[str, Any]:
    return {
        "id": refund_id,
        "entity": "refund",
        "amount": amount,
        "currency": currency,
        "payment_id": payment_id,
        "notes": _notes(notes),
        "receipt": receipt,
        "acquirer_data": {"arn": None},
        "created_at": int(time.time()),
        "batch_id": None,
        "status": status,
        "speed_processed": speed,
        "speed_requested": speed,
    }


def token_entity(
    token_id: str,
    *,
    method: str = "card",
    customer_id: str | None = "cust_FakeCustomer01",
    card_network: str = "Visa",
    card_last4: str = "1111",
    vpa_username: str = "gaurav.kumar",
    vpa_handle: str = "okhdfcbank",
    bank: str = "HDFC",
    status: str = "confirmed",
) -> dict[str, Any]:
    """A recurring token (mandate) entity as ``token.*`` webhooks carry it."""
    entity: dict[str, Any] = {
        "id": token_id,
        "entity": "token",
        "token": "FakeTokenValue01",
        "bank": bank if method in {"emandate", "nach"} else None,
        "wallet": None,
        "method": method,
        "recurring": True,
        "recurring_details": {"status": status, "failure_reason": None},
        "auth_type": None,
        "mrn": None,
        "used_at": None,
        "created_at": int(time.time()),
        "expired_at": None,
        "dcc_enabled": False,
        "notes": [],
    }
    if customer_id is not None:
        entity["customer_id"] = customer_id
    if method == "card":
        entity["card"] = {
            "entity": "card",
            "name": "Gaurav Kumar",
            "last4": card_last4,
            "network": card_network,
            "type": "debit",
            "issuer": "HDFC",
            "international": False,
            "emi": False,
            "expiry_month": 12,
            "expiry_year": 2030,
        }
    if method == "upi":
        entity["vpa"] = {"username": vpa_username, "handle": vpa_handle, "name": None}
    return entity


def signed_webhook(
    event: str,
    payload: Mapping[str, Any],
    secret: str,
    *,
    event_id: str | None = None,
    created_at: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Build and sign a webhook as Razorpay delivers it: ``(body, headers)``.

    ``payload`` is the envelope's ``payload`` object, e.g.
    ``{"payment": {"entity": payment_entity(...)}}``.
    """
    envelope = {
        "entity": "event",
        "account_id": ACCOUNT_ID,
        "event": event,
        "contains": list(payload),
        "payload": dict(payload),
        "created_at": created_at if created_at is not None else int(time.time()),
    }
    body = json.dumps(envelope, separators=(",", ":")).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": signature,
        "X-Razorpay-Event-Id": event_id or _new_id("evt")[4:],  # Razorpay's ids have no prefix
    }
    return body, headers


_ALPHABET = string.digits + string.ascii_letters


def _new_id(prefix: str) -> str:
    # Razorpay ids are a prefix and 14 base62 characters.
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(14))}"


# -- validation helpers ------------------------------------------------------------------


def _require(body: Mapping[str, Any], name: str) -> Any:
    if body.get(name) in (None, ""):
        raise ApiError(400, f"The {name} field is required.", field=name)
    return body[name]


def _only(body: Mapping[str, Any], allowed: set[str]) -> None:
    # Razorpay refuses fields it does not know rather than ignoring them.
    extra = sorted(set(body) - allowed)
    if extra:
        raise ApiError(400, f"{', '.join(extra)} is/are not required and should not be sent")


def _amount(body: Mapping[str, Any], minimum: int = 100) -> int:
    amount = _require(body, "amount")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ApiError(400, "The amount must be an integer.", field="amount")
    if amount < minimum:
        raise ApiError(400, "The amount must be atleast INR 1.00", field="amount")
    return amount


def _currency(body: Mapping[str, Any]) -> str:
    currency = body.get("currency", "INR")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ApiError(400, "The currency is invalid.", field="currency")
    return currency


def _check_notes(body: Mapping[str, Any]) -> dict[str, str]:
    notes = body.get("notes") or {}
    if not isinstance(notes, dict):
        raise ApiError(400, "The notes must be an object.", field="notes")
    if len(notes) > _MAX_NOTES:
        raise ApiError(400, "Number of fields in notes should be less than or equal to 15")
    for value in notes.values():
        if not isinstance(value, str) or len(value) > _MAX_NOTE_LENGTH:
            raise ApiError(400, "The notes value should be a string of at most 256 characters.")
    return notes


def _collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}


# -- the server --------------------------------------------------------------------------

Route = tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]


@dataclass
class _State:
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeRazorpay:
    """An in-memory Razorpay API on 127.0.0.1 (random port), served from a thread."""

    DECLINED_TOKEN = DECLINED_TOKEN
    PENDING_TOKEN = PENDING_TOKEN
    DECLINE_MESSAGE = (
        "Your payment didn't go through as it was declined by the bank. "
        "Try another payment method or contact your bank."
    )

    def __init__(self, key_id: str = "rzp_test_FakeKey0001", key_secret: str = "fake_secret"):
        self.key_id = key_id
        self.key_secret = key_secret
        self.requests: list[RecordedRequest] = []
        self.state = _State()
        self.refund_status = "processed"  # set to "pending" to emulate a slow refund
        self._lock = threading.Lock()
        self._routes: list[Route] = [
            ("POST", re.compile(r"/v1/payment_links/?"), self._create_link),
            ("GET", re.compile(r"/v1/payment_links/?"), self._list_links),
            ("GET", re.compile(r"/v1/payment_links/(plink_\w+)"), self._fetch_link),
            ("POST", re.compile(r"/v1/orders/?"), self._create_order),
            ("GET", re.compile(r"/v1/orders/?"), self._list_orders),
            ("GET", re.compile(r"/v1/orders/(order_\w+)"), self._fetch_order),
            ("GET", re.compile(r"/v1/orders/(order_\w+)/payments"), self._order_payments),
            ("POST", re.compile(r"/v1/payments/create/recurring"), self._create_recurring),
            ("GET", re.compile(r"/v1/payments/(pay_\w+)"), self._fetch_payment),
            ("POST", re.compile(r"/v1/payments/(pay_\w+)/refund"), self._refund),
            ("GET", re.compile(r"/v1/payments/(pay_\w+)/refunds"), self._list_refunds),
            ("POST", re.compile(r"/v1/customers/?"), self._create_customer),
            ("GET", re.compile(r"/v1/customers/(cust_\w+)"), self._fetch_customer),
        ]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeRazorpay:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # so stop() returns at once
            name="fake-razorpay",
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

    def __enter__(self) -> FakeRazorpay:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the SDK (it appends ``/v1/...`` itself)."""
        assert self._server is not None, "FakeRazorpay is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test helpers --------------------------------------------------------------------

    def requests_to(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """Recorded authorised requests whose path fully matches ``path_pattern`` (regex)."""
        pattern = re.compile(path_pattern)
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == method and r.authorized and pattern.fullmatch(r.path)
            ]

    def add_customer(
        self, name: str = "Gaurav Kumar", email: str = "gaurav@example.com", contact: str = ""
    ) -> str:
        with self._lock:
            customer = self._new_customer(name, email, contact or "+919000090000", {})
        return customer["id"]

    def add_captured_payment(
        self,
        amount: int,
        *,
        currency: str = "INR",
        method: str = "card",
        notes: Mapping[str, str] | None = None,
    ) -> str:
        """A captured payment to refund against, as if a customer had paid."""
        with self._lock:
            payment = payment_entity(
                _new_id("pay"), amount, currency=currency, method=method, notes=notes
            )
            self.state.payments[payment["id"]] = payment
        return payment["id"]

    def pay_link(
        self, link_id: str, *, method: str = "upi", **payment_fields: Any
    ) -> dict[str, Any]:
        """Pay a link in full as a customer would; returns the ``payment_link.paid`` payload."""
        with self._lock:
            link = self.state.links[link_id]
            order = self._new_order(link["amount"], link["currency"], None, {})
            payment = payment_entity(
                _new_id("pay"),
                link["amount"],
                currency=link["currency"],
                method=method,
                order_id=order["id"],
                **payment_fields,
            )
            self.state.payments[payment["id"]] = payment
            order.update(status="paid", amount_paid=link["amount"], amount_due=0, attempts=1)
            link.update(
                status="paid",
                amount_paid=link["amount"],
                order_id=order["id"],
                payments=[
                    {
                        "payment_id": payment["id"],
                        "amount": payment["amount"],
                        "method": method,
                        "status": "captured",
                        "plink_id": link_id,
                        "created_at": payment["created_at"],
                    }
                ],
            )
            return {
                "payment_link": {"entity": dict(link)},
                "order": {"entity": dict(order)},
                "payment": {"entity": dict(payment)},
            }

    # -- request handling (called from the server's threads) -----------------------------

    def handle(
        self, method: str, raw_path: str, auth_header: str | None, raw_body: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query))
        body: Any = None
        body_error: str | None = None
        if raw_body:
            try:
                body = json.loads(raw_body, parse_float=Decimal)
            except ValueError:
                body_error = "The request body is not valid JSON."
        authorized = self._authorized(auth_header)
        with self._lock:
            self.requests.append(RecordedRequest(method, parts.path, query, body, authorized))
            if not authorized:
                error = ApiError(401, "Authentication failed", source="NA", step="NA", reason="NA")
                return error.status, error.body
            try:
                if body_error:
                    raise ApiError(400, body_error)
                if method == "POST" and not isinstance(body, dict):
                    raise ApiError(400, "The request body must be a JSON object.")
                for route_method, pattern, action in self._routes:
                    match = pattern.fullmatch(parts.path)
                    if route_method == method and match:
                        return action(*match.groups(), body=body or {}, query=query)
                raise ApiError(404, "The requested URL was not found on the server.")
            except ApiError as error:
                return error.status, error.body

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        key_id, _, secret = decoded.partition(":")
        return hmac.compare_digest(key_id, self.key_id) and hmac.compare_digest(
            secret.encode(), self.key_secret.encode()
        )

    # -- payment links ---------------------------------------------------------------------

    _LINK_FIELDS = {
        "amount",
        "currency",
        "accept_partial",
        "first_min_partial_amount",
        "description",
        "customer",
        "notify",
        "reminder_enable",
        "notes",
        "callback_url",
        "callback_method",
        "reference_id",
        "expire_by",
        "upi_link",
        "options",
    }

    def _create_link(self, *, body: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        _only(body, self._LINK_FIELDS)
        amount = _amount(body)
        currency = _currency(body)
        notes = _check_notes(body)
        reference_id = body.get("reference_id")
        if reference_id is not None:
            if not isinstance(reference_id, str) or len(reference_id) > 40:
                raise ApiError(400, "The reference id may not be greater than 40 characters.")
            if any(link["reference_id"] == reference_id for link in self.state.links.values()):
                raise ApiError(400, f"Payment Link with reference_id {reference_id} already exists")
        if body.get("callback_url") and body.get("callback_method") != "get":
            raise ApiError(400, "callback_method should be get when callback_url is passed")
        customer = body.get("customer") or {}
        if not isinstance(customer, dict) or set(customer) - {"name", "email", "contact"}:
            raise ApiError(400, "The customer field is invalid.", field="customer")
        link_id = _new_id("plink")
        now = int(time.time())
        link = {
            "id": link_id,
            "accept_partial": bool(body.get("accept_partial", False)),
            "amount": amount,
            "amount_paid": 0,
            "callback_method": body.get("callback_method", ""),
            "callback_url": body.get("callback_url", ""),
            "cancelled_at": 0,
            "created_at": now,
            "currency": currency,
            "customer": customer,
            "description": body.get("description", ""),
            "expire_by": body.get("expire_by", 0),
            "expired_at": 0,
            "first_min_partial_amount": 0,
            "notes": notes or None,
            "notify": body.get("notify") or {"email": False, "sms": False},
            "payments": None,
            "reference_id": reference_id or "",
            "reminder_enable": bool(body.get("reminder_enable", False)),
            "reminders": [],
            "short_url": f"https://rzp.io/i/{link_id[-10:]}",
            "status": "created",
            "updated_at": now,
            "upi_link": bool(body.get("upi_link", False)),
            "user_id": "",
        }
        self.state.links[link_id] = link
        return 200, link

    def _list_links(self, *, body: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        links = list(self.state.links.values())
        if "reference_id" in query:
            links = [link for link in links if link["reference_id"] == query["reference_id"]]
        if "payment_id" in query:
            links = [
                link
                for link in links
                if any(p["payment_id"] == query["payment_id"] for p in link["payments"] or [])
            ]
        return 200, {"payment_links": list(reversed(links))}  # newest first, as Razorpay does

    def _fetch_link(self, link_id: str, **_: Any) -> tuple[int, Any]:
        if link_id not in self.state.links:
            raise ApiError(400, "The id provided does not exist")
        return 200, self.state.links[link_id]

    # -- orders ----------------------------------------------------------------------------

    def _new_order(
        self, amount: int, currency: str, receipt: str | None, notes: dict[str, str]
    ) -> dict[str, Any]:
        order = {
            "id": _new_id("order"),
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": currency,
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": _notes(notes),
            "created_at": int(time.time()),
        }
        self.state.orders[order["id"]] = order
        return order

    def _create_order(self, *, body: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        _only(body, {"amount", "currency", "receipt", "notes", "payment_capture", "method"})
        amount = _amount(body)
        currency = _currency(body)
        notes = _check_notes(body)
        receipt = body.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise ApiError(400, "The receipt may not be greater than 40 characters.")
        if body.get("payment_capture") not in (None, True, False, 0, 1, "0", "1"):
            raise ApiError(400, "The payment capture field is invalid.")
        order = self._new_order(amount, currency, receipt, notes)
        order["_capture"] = body.get("payment_capture") in (True, 1, "1", None)
        return 200, self._public(order)

    def _list_orders(self, *, body: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        orders = list(self.state.orders.values())
        if "receipt" in query:
            orders = [o for o in orders if o["receipt"] == query["receipt"]]
        return 200, _collection([self._public(o) for o in reversed(orders)])

    def _fetch_order(self, order_id: str, **_: Any) -> tuple[int, Any]:
        if order_id not in self.state.orders:
            raise ApiError(400, "The id provided does not exist")
        return 200, self._public(self.state.orders[order_id])

    def _order_payments(self, order_id: str, **_: Any) -> tuple[int, Any]:
        if order_id not in self.state.orders:
            raise ApiError(400, "The id provided does not exist")
        payments = [p for p in self.state.payments.values() if p["order_id"] == order_id]
        return 200, _collection(list(reversed(payments)))

    @staticmethod
    def _public(entity: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entity.items() if not k.startswith("_")}

    # -- recurring payments ----------------------------------------------------------------

    _RECURRING_FIELDS = {
        "email",
        "contact",
        "amount",
        "currency",
        "order_id",
        "customer_id",
        "token",
        "recurring",
        "description",
        "notes",
    }

    def _create_recurring(self, *, body: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        _only(body, self._RECURRING_FIELDS)
        for name in ("email", "contact", "order_id", "customer_id", "token", "recurring"):
            _require(body, name)
        if str(body["recurring"]) not in {"1", "True", "true"}:
            raise ApiError(400, "The recurring field is invalid.", field="recurring")
        amount = _amount(body)
        currency = _currency(body)
        notes = _check_notes(body)
        order = self.state.orders.get(body["order_id"])
        if order is None or body["customer_id"] not in self.state.customers:
            raise ApiError(400, "The id provided does not exist")
        if order["amount"] != amount or order["currency"] != currency:
            raise ApiError(400, "The amount/currency does not match the order.")
        if order["status"] == "paid":
            raise ApiError(400, "Order has already been paid")
        token = body["token"]
        order["attempts"] += 1
        declined = token == DECLINED_TOKEN
        status = "failed" if declined else "created" if token == PENDING_TOKEN else "captured"
        if status == "captured" and not order.get("_capture", True):
            status = "authorized"
        payment = payment_entity(
            _new_id("pay"),
            amount,
            currency=currency,
            status=status,
            method="card",
            notes=notes,
            order_id=order["id"],
            customer_id=body["customer_id"],
            token_id=token,
            email=body["email"],
            contact=body["contact"],
            error_description=self.DECLINE_MESSAGE if declined else None,
        )
        self.state.payments[payment["id"]] = payment
        if declined:
            raise ApiError(
                400,
                self.DECLINE_MESSAGE,
                source="bank",
                step="payment_authorization",
                reason="payment_declined",
                metadata={"payment_id": payment["id"], "order_id": order["id"]},
            )
        if status == "captured":
            order.update(status="paid", amount_paid=amount, amount_due=0)
        else:
            order["status"] = "attempted"
        signature = hmac.new(
            self.key_secret.encode(), f"{order['id']}|{payment['id']}".encode(), hashlib.sha256
        ).hexdigest()
        return 200, {
            "razorpay_payment_id": payment["id"],
            "razorpay_order_id": order["id"],
            "razorpay_signature": signature,
        }

    def _fetch_payment(self, payment_id: str, **_: Any) -> tuple[int, Any]:
        if payment_id not in self.state.payments:
            raise ApiError(400, "The id provided does not exist")
        return 200, self.state.payments[payment_id]

    # -- refunds ---------------------------------------------------------------------------

    def _refund(self, payment_id: str, *, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        _only(body, {"amount", "speed", "notes", "receipt"})
        payment = self.state.payments.get(payment_id)
        if payment is None:
            raise ApiError(400, "The id provided does not exist")
        receipt = body.get("receipt")
        if receipt is not None:
            for refund in self.state.refunds.values():
                # A receipt already used on this payment answers with the first refund.
                if refund["payment_id"] == payment_id and refund["receipt"] == receipt:
                    return 200, refund
        if not payment["captured"]:
            raise ApiError(400, "The payment has not been captured")
        remaining = payment["amount"] - payment["amount_refunded"]
        amount = _amount(body, minimum=1) if "amount" in body else remaining
        if amount > remaining:
            raise ApiError(
                400,
                "The refund amount provided is greater than amount captured",
                field="amount",
            )
        speed = body.get("speed", "normal")
        if speed not in {"normal", "optimum"}:
            raise ApiError(400, "The selected speed is invalid.", field="speed")
        refund = refund_entity(
            _new_id("rfnd"),
            payment_id,
            amount,
            currency=payment["currency"],
            status=self.refund_status,
            notes=_check_notes(body),
            receipt=receipt,
            speed=speed,
        )
        self.state.refunds[refund["id"]] = refund
        payment["amount_refunded"] += amount
        full = payment["amount_refunded"] == payment["amount"]
        payment["refund_status"] = "full" if full else "partial"
        if full:
            payment["status"] = "refunded"
        return 200, refund

    def _list_refunds(self, payment_id: str, **_: Any) -> tuple[int, Any]:
        if payment_id not in self.state.payments:
            raise ApiError(400, "The id provided does not exist")
        refunds = [r for r in self.state.refunds.values() if r["payment_id"] == payment_id]
        return 200, _collection(list(reversed(refunds)))

    # -- customers -------------------------------------------------------------------------

    def _new_customer(
        self, name: str, email: str, contact: str, notes: dict[str, str]
    ) -> dict[str, Any]:
        customer = {
            "id": _new_id("cust"),
            "entity": "customer",
            "name": name,
            "email": email,
            "contact": contact,
            "gstin": None,
            "notes": _notes(notes),
            "created_at": int(time.time()),
        }
        self.state.customers[customer["id"]] = customer
        return customer

    def _create_customer(self, *, body: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        _only(body, {"name", "email", "contact", "fail_existing", "gstin", "notes"})
        customer = self._new_customer(
            str(body.get("name", "")),
            str(body.get("email", "")),
            str(body.get("contact", "")),
            _check_notes(body),
        )
        return 200, customer

    def _fetch_customer(self, customer_id: str, **_: Any) -> tuple[int, Any]:
        if customer_id not in self.state.customers:
            raise ApiError(400, "The id provided does not exist")
        return 200, self.state.customers[customer_id]


def _make_handler(fake: FakeRazorpay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeRazorpay/1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            status, payload = fake.handle(
                self.command, self.path, self.headers.get("Authorization"), raw_body
            )
            data = json.dumps(payload, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep pytest output quiet

    return Handler
