"""SMS gateways: one small interface, a Twilio adapter, and the embedded defaults.

A gateway has ``send(to, body) -> provider message id`` and raises :class:`SmsError` when
the message is refused (``permanent`` says whether trying again could help). Which one is
used comes from settings.OCTET_SMS_BACKEND (a dotted path to a class with a
``from_settings(settings)`` constructor):

* :class:`DisabledSms` -- the embedded default: nothing is sent and each SMS delivery is
  marked skipped with the reason;
* :class:`ConsoleSms` -- for development: writes the message to stderr (number masked);
* :class:`TwilioSms` -- Twilio's Programmable Messaging REST API (or any service speaking
  its shape), with the standard library's HTTP client.

Nothing here logs a full phone number, the auth token, or a message body.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import re
import sys
import uuid
from typing import Any, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import Request, urlopen

from django.utils.module_loading import import_string

__all__ = [
    "ConsoleSms",
    "DisabledSms",
    "SmsError",
    "SmsGateway",
    "TwilioSms",
    "gateway",
    "mask_phone",
]

log = logging.getLogger(__name__)

TWILIO_API_BASE = "https://api.twilio.com"
REQUEST_TIMEOUT = 30.0  # seconds; a hung call would hold a worker (and its claimed rows)
# Refusals worth retrying: bad credentials (fixed by the operator), rate limit, conflict.
_TRANSIENT_STATUSES = frozenset({401, 403, 408, 409, 429})


class SmsError(Exception):
    """The gateway did not take the message. ``permanent``: trying again will not help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsGateway(Protocol):
    #: False when no gateway is configured: deliveries are skipped, not attempted.
    enabled: bool
    #: Why it is disabled, for the delivery log.
    disabled_reason: str

    def send(self, to: str, body: str) -> str:
        """Hand one message to the provider; returns its message id."""
        ...


def mask_phone(number: str) -> str:
    """'+919845012345' -> '+91******45': enough to tell numbers apart in a log."""
    number = (number or "").strip()
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


class DisabledSms:
    enabled = False
    disabled_reason = "no SMS gateway is configured (OCTET_SMS_BACKEND)"

    @classmethod
    def from_settings(cls, settings: Any) -> DisabledSms:
        return cls()

    def send(self, to: str, body: str) -> str:
        raise SmsError(self.disabled_reason, permanent=True)


class ConsoleSms:
    """Development: prints each SMS to stderr (never stdout: `octet simulate` prints JSON)."""

    enabled = True
    disabled_reason = ""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream

    @classmethod
    def from_settings(cls, settings: Any) -> ConsoleSms:
        return cls()

    def send(self, to: str, body: str) -> str:
        stream = self.stream or sys.stderr
        message_id = f"console-{uuid.uuid4().hex[:12]}"
        stream.write(f"SMS {message_id} to {mask_phone(to)}:\n{body}\n\n")
        stream.flush()
        return message_id


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TwilioSms:
    """``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` with To, From and Body.

    ``sender`` is a phone number, or a Messaging Service SID ("MG...") sent as
    MessagingServiceSid. Twilio answers 201 with the message (``sid``, ``status``); a
    refusal is JSON ``{"code", "message", "status"}``.
    """

    enabled = True
    disabled_reason = ""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        api_base: str = TWILIO_API_BASE,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        missing = [
            name
            for name, value in (
                ("OCTET_TWILIO_ACCOUNT_SID", account_sid),
                ("OCTET_TWILIO_AUTH_TOKEN", auth_token),
                ("OCTET_TWILIO_FROM", sender),
            )
            if not value
        ]
        if missing:
            raise SmsError(f"Twilio is not fully configured: {', '.join(missing)} unset")
        parts = urlsplit(api_base)
        # The token travels in every request: only over TLS, except to a local test server.
        if parts.scheme != "https" and not (
            parts.scheme == "http" and _is_loopback(parts.hostname or "")
        ):
            raise SmsError(f"OCTET_TWILIO_API_BASE must be an https:// URL, not {api_base!r}")
        self.account_sid = account_sid
        self._auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.sender = sender
        self.url = (
            f"{api_base.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
            "/Messages.json"
        )
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Any) -> TwilioSms:
        return cls(
            settings.OCTET_TWILIO_ACCOUNT_SID,
            settings.OCTET_TWILIO_AUTH_TOKEN,
            settings.OCTET_TWILIO_FROM,
            api_base=settings.OCTET_TWILIO_API_BASE or TWILIO_API_BASE,
        )

    def send(self, to: str, body: str) -> str:
        sender_field = "MessagingServiceSid" if self.sender.startswith("MG") else "From"
        data = urlencode({"To": to, sender_field: self.sender, "Body": body}).encode()
        request = Request(  # noqa: S310 - the scheme is checked in __init__
            self.url,
            data=data,
            method="POST",
            headers={
                "Authorization": self._auth,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        try:
            with urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = _json(response.read())
        except HTTPError as exc:
            raise self._refusal(exc) from None
        except (URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SmsError(f"Twilio could not be reached: {reason}") from None
        sid = str(answer.get("sid") or "")
        if not sid:
            raise SmsError("Twilio answered without a message sid")
        if answer.get("status") in {"failed", "undelivered"}:
            code = answer.get("error_code")
            raise SmsError(f"Twilio refused the message (code {code})", permanent=True)
        log.info("SMS %s accepted by Twilio for %s", sid, mask_phone(to))
        return sid

    @staticmethod
    def _refusal(exc: HTTPError) -> SmsError:
        try:
            answer = _json(exc.read())
        except Exception:  # noqa: BLE001 - an error page that is not JSON
            answer = {}
        status = int(answer.get("status") or exc.code)
        code = answer.get("code")
        # Twilio's message is about the request (e.g. "The 'To' number ... is not a valid
        # phone number"); it may quote the number, so it is masked before it is kept.
        message = str(answer.get("message") or exc.reason or "no reason given")[:200]
        text = f"Twilio refused the message (HTTP {status}"
        text += f", code {code})" if code else ")"
        permanent = 400 <= status < 500 and status not in _TRANSIENT_STATUSES
        return SmsError(f"{text}: {_mask_numbers(message)}", permanent=permanent)


def _json(raw: bytes) -> dict[str, Any]:
    value = json.loads(raw.decode("utf-8") or "{}")
    return value if isinstance(value, dict) else {}


def _mask_numbers(text: str) -> str:
    """Mask every run of 7+ digits (a phone number) in a provider's message."""
    return re.sub(r"\+?\d{7,}", lambda m: mask_phone(m.group(0)), text)


def gateway() -> SmsGateway:
    """The configured gateway (read at each call, so settings overrides apply)."""
    from django.conf import settings

    path = getattr(settings, "OCTET_SMS_BACKEND", "") or "octet.notifications.sms.DisabledSms"
    return import_string(path).from_settings(settings)
