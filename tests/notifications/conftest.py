"""A real SMTP server (aiosmtpd) and a fake Twilio API on loopback, and Django pointed at them.

``smtp`` runs aiosmtpd's Controller on 127.0.0.1 (a free port) and switches Django to its
SMTP backend with ``override_settings``; every message it accepts is parsed and kept in
``smtp.received``. It refuses recipients listed in ``smtp.refuse`` with a 550, and accepts
an AUTH LOGIN/PLAIN over plain text (only loopback) so the login path is exercised.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from conftest import require_tool
from octet.core import clock

IST = ZoneInfo("Asia/Kolkata")
SMTP_USER = "octet"
SMTP_PASSWORD = "smtp-pass-123"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.set_time(None)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class SmtpSink:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.sink.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        login = session.auth_data.login.decode() if session.auth_data else None
        self.sink.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), message, login)
        )
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        require_tool(False, "aiosmtpd is not installed (pip install -e '.[test]')")
    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(
        _Handler(sink),
        hostname=sink.host,
        port=sink.port,
        authenticator=_authenticator,
        auth_require_tls=False,  # loopback only, in a test
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp(smtp_server):
    """Django's SMTP backend, as production runs it, pointed at the local server."""
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=smtp_server.host,
        EMAIL_PORT=smtp_server.port,
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
        EMAIL_TIMEOUT=10,
        OCTET_EMAIL_FROM="billing@kaveri.example",
    ):
        yield smtp_server


@pytest.fixture
def twilio():
    """The fake Twilio API, and Octet's SMS backend configured to use it."""
    from fakes.twilio_api import FakeTwilio

    with (
        FakeTwilio() as fake,
        override_settings(
            OCTET_SMS_BACKEND="octet.notifications.sms.TwilioSms",
            OCTET_TWILIO_ACCOUNT_SID=fake.account_sid,
            OCTET_TWILIO_AUTH_TOKEN=fake.auth_token,
            OCTET_TWILIO_FROM="+15005550006",
            OCTET_TWILIO_API_BASE=fake.url,
        ),
    ):
        yield fake


@pytest.fixture
def subscribed(asha, fiber100):
    """Asha from 15 Jan 2026 09:00: invoice KF/25-26/000001 for 646.46, due 29 Jan."""
    from octet.subscriptions import services as subscriptions

    clock.set_time(at(2026, 1, 15, 9))
    sub = subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="test"
    )
    clock.set_time(None)
    return sub
