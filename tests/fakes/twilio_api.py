"""A local fake of Twilio's Programmable Messaging API, for testing the SMS adapter over HTTP.

Speaks the documented shape of "create a message": ``POST
/2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields ``To``, ``From`` (or
``MessagingServiceSid``) and ``Body``, HTTP Basic auth ``AccountSid:AuthToken``; answers
201 with the message resource (``sid``, ``status`` "queued", ...), or an error as JSON
``{"code", "message", "more_info", "status"}``. Every request is recorded, so tests can
assert on what was actually sent.

Usage::

    with FakeTwilio() as fake:
        gateway = TwilioSms(fake.account_sid, fake.auth_token, "+15005550006", api_base=fake.url)
        fake.fail_next(500)  # the next request gets a 500
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

__all__ = ["FakeTwilio", "RecordedRequest"]

ACCOUNT_SID = "AC" + "0f" * 16  # 34 characters, like a real one
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    authorized: bool
    auth_user: str


class FakeTwilio:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self.messages: list[dict[str, Any]] = []  # accepted messages, as answered
        self._failures: list[tuple[int, int, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(
        self, status: int = 500, *, code: int = 20500, message: str = "Internal Server Error"
    ) -> None:
        """The next request (after auth) is answered with this error instead."""
        with self._lock:
            self._failures.append((status, code, message))

    # -- the HTTP side ----------------------------------------------------------------

    def _answer(
        self, method: str, path: str, auth: str | None, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        user, authorized = self._check_auth(auth)
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, form, authorized, user))
        match = _PATH.match(path)
        if method != "POST" or match is None:
            return _error(404, 20404, f"The requested resource {path} was not found")
        if not authorized or match["sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return _error(*failure)
        to = form.get("To", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        message = {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages.json",
        }
        with self._lock:
            self.messages.append(message)
        return 201, message

    def _check_auth(self, header: str | None) -> tuple[str, bool]:
        if not header or not header.startswith("Basic "):
            return "", False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", False
        return user, (user == self.account_sid and password == self.auth_token)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _respond(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = fake._answer(
                    self.command, self.path, self.headers.get("Authorization"), body
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _respond
            do_GET = _respond

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass  # quiet: pytest shows failures, not every request

        return Handler


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
