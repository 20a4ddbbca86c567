"""CoA and Disconnect (RFC 5176) from the outbox to a NAS: a real UDP listener on loopback.

The listener stands in for the router: it checks the Request Authenticator with the shared
secret, decodes with Octet's dictionary and answers ACK, NAK (with Error-Cause) or nothing.
"""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pyrad import packet as rp

from octet.core import clock
from octet.metering.accounting import AccountingRecord, Status
from octet.metering.counters import Counters
from octet.metering.models import QuotaEvent
from octet.metering.services import record_accounting
from octet.network import services as network
from octet.network.models import CoaRequest, Nas
from octet.network.vendors import load_dictionary
from octet.subscriptions import services as subscriptions

from .conftest import SECRET, make_plan, subscribe

pytestmark = pytest.mark.django_db

IST = ZoneInfo("Asia/Kolkata")
ACTIVATED = datetime(2026, 1, 15, 9, 0, tzinfo=IST)
FEB_10 = datetime(2026, 2, 10, 10, 0, tzinfo=IST)

REPLY = {
    rp.DisconnectRequest: (rp.DisconnectACK, rp.DisconnectNAK),
    rp.CoARequest: (rp.CoAACK, rp.CoANAK),
}


class CoaListener:
    """A NAS's RFC 5176 port: records every valid request and answers per ``mode``."""

    def __init__(self, mode: str = "ack", error_cause: str = "Session-Context-Not-Found") -> None:
        self.mode, self.error_cause = mode, error_cause
        self.received: list[rp.Packet] = []
        self.invalid = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coa-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        dictionary = load_dictionary()
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            request = rp.CoAPacket(packet=data, secret=SECRET.encode(), dict=dictionary)
            if request.code not in REPLY or not request.VerifyCoARequest():
                self.invalid += 1
                continue
            self.received.append(request)
            if self.mode == "silent":
                continue
            ack, nak = REPLY[request.code]
            reply = request.CreateReply()
            reply.code = ack if self.mode == "ack" else nak
            if self.mode == "nak":
                reply.AddAttribute("Error-Cause", self.error_cause)
            self.sock.sendto(reply.ReplyPacket(), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def attribute(self, index: int, name: str) -> list:
        return self.received[index][name]


@pytest.fixture
def listener(nas):
    made = []

    def start(mode: str = "ack", **kwargs) -> CoaListener:
        made.append(CoaListener(mode, **kwargs))
        Nas.objects.filter(pk=nas.pk).update(coa_port=made[-1].port)
        return made[-1]

    yield start
    for each in made:
        each.close()


@pytest.fixture
def sub(asha, fiber100):
    with clock.frozen_at(ACTIVATED):
        return subscribe(asha, fiber100, "asha")


def account(nas, status, at, session="coa-1", download=0, username="asha"):
    return record_accounting(
        [
            AccountingRecord(
                nas_id=nas.pk,
                status=status,
                at=at,
                session_id=session,
                username=username,
                counters=Counters(download=download),
                framed_ip="100.64.0.10",
            )
        ]
    )


@pytest.fixture
def fair_sub(asha):
    plan = make_plan(
        "FAIR50",
        allowance_bytes=1_000_000,
        fair_use_down_kbps=5_000,
        fair_use_up_kbps=1_000,
        down_kbps=50_000,
        up_kbps=20_000,
    )
    with clock.frozen_at(ACTIVATED):
        return subscribe(asha, plan, "asha")


def test_suspension_disconnects_the_open_session(listener, nas, sub):
    nak = listener("ack")
    account(nas, Status.START, FEB_10)
    subscriptions.suspend(sub, reason="non_payment", actor="test")
    req = CoaRequest.objects.get()
    assert (req.kind, req.reason, req.status, req.attempts) == (
        "disconnect",
        "suspended",
        "pending",
        0,
    )
    assert req.subscription_id == sub.pk and req.session.acct_session_id == "coa-1"

    assert network.dispatch_coa() == 1
    assert len(nak.received) == 1 and nak.invalid == 0
    packet = nak.received[0]
    assert packet.code == rp.DisconnectRequest
    assert packet["User-Name"] == ["asha"]
    assert packet["Acct-Session-Id"] == ["coa-1"]
    assert packet["Framed-IP-Address"] == ["100.64.0.10"]
    req.refresh_from_db()
    assert (req.status, req.response, req.attempts) == ("acked", "Disconnect-ACK", 1)
    assert req.answered_at is not None
    assert network.dispatch_coa() == 0  # done: never sent again
    assert len(nak.received) == 1


def test_no_open_session_nothing_to_disconnect(listener, nas, sub):
    account(nas, Status.START, FEB_10)
    account(nas, Status.STOP, FEB_10 + timedelta(minutes=5))
    subscriptions.suspend(sub, reason="non_payment", actor="test")
    assert not CoaRequest.objects.exists()


def test_fair_use_crossing_100_percent_sends_the_throttled_speed(listener, nas, fair_sub):
    nas_port = listener("ack")
    account(nas, Status.START, FEB_10)
    result = account(nas, Status.INTERIM, FEB_10 + timedelta(minutes=5), download=999_999)
    assert result.quota_events == [(fair_sub.pk, "usage_80")]
    assert not CoaRequest.objects.exists()
    result = account(nas, Status.INTERIM, FEB_10 + timedelta(minutes=6), download=1_000_000)
    assert result.quota_events == [(fair_sub.pk, "usage_100")]
    assert QuotaEvent.objects.get(kind="usage_100").action == "throttle"
    req = CoaRequest.objects.get()
    assert (req.kind, req.reason) == ("coa", "fair_use_throttle")

    assert network.dispatch_coa() == 1
    packet = nas_port.received[0]
    assert packet.code == rp.CoARequest
    assert packet["Mikrotik-Rate-Limit"] == ["1M/5M"]
    assert packet["User-Name"] == ["asha"] and packet["Acct-Session-Id"] == ["coa-1"]
    req.refresh_from_db()
    assert (req.status, req.response) == ("acked", "CoA-ACK")
    # More usage in the same period queues nothing more.
    account(nas, Status.INTERIM, FEB_10 + timedelta(minutes=7), download=2_000_000)
    assert CoaRequest.objects.count() == 1


def test_capped_plan_crossing_100_percent_is_disconnected(listener, nas, asha):
    capped = make_plan("CAPPED", allowance_bytes=1_000_000)
    with clock.frozen_at(ACTIVATED):
        sub = subscribe(asha, capped, "asha")
    port = listener("ack")
    account(nas, Status.START, FEB_10)
    account(nas, Status.INTERIM, FEB_10 + timedelta(minutes=6), download=1_000_000)
    req = CoaRequest.objects.get(subscription=sub)
    assert (req.kind, req.reason) == ("disconnect", "quota_exhausted")
    network.dispatch_coa()
    assert port.received[0].code == rp.DisconnectRequest


def test_nak_is_recorded_with_its_error_cause(listener, nas, sub):
    port = listener("nak", error_cause="Session-Context-Not-Found")
    account(nas, Status.START, FEB_10)
    subscriptions.suspend(sub, reason="non_payment", actor="test")
    assert network.dispatch_coa() == 1
    req = CoaRequest.objects.get()
    assert req.status == "naked"
    assert req.response == "Disconnect-NAK (Session-Context-Not-Found)"
    assert req.attempts == 1 and len(port.received) == 1
    # A NAK is an answer: not retried.
    assert network.dispatch_coa(now=clock.now() + timedelta(hours=1)) == 0


def test_coa_nak_with_a_long_error_cause(listener, nas, fair_sub):
    listener("nak", error_cause="Multiple-Session-Selection-Unsupported")
    account(nas, Status.START, FEB_10)
    account(nas, Status.INTERIM, FEB_10 + timedelta(minutes=5), download=1_000_000)
    network.dispatch_coa()
    req = CoaRequest.objects.get()
    assert req.status == "naked"
    assert req.response == "CoA-NAK (Multiple-Session-Selection-Unsupported)"


def test_silent_nas_is_retried_then_failed(listener, nas, sub, settings):
    settings.RADIUS_COA_TIMEOUT = 0.2
    settings.RADIUS_COA_RETRIES = 3
    port = listener("silent")
    account(nas, Status.START, FEB_10)
    subscriptions.suspend(sub, reason="non_payment", actor="test")
    t0 = clock.now() + timedelta(seconds=1)
    req = CoaRequest.objects.get()

    assert network.dispatch_coa(now=t0) == 1
    req.refresh_from_db()
    assert (req.status, req.attempts) == ("pending", 1)
    assert req.response.startswith("no answer")
    assert req.next_attempt_at == t0 + timedelta(seconds=1)  # 5 × the timeout
    # Not due yet: nothing is sent.
    assert network.dispatch_coa(now=t0 + timedelta(seconds=0.5)) == 0
    req.refresh_from_db()
    assert req.attempts == 1 and len(port.received) == 1

    assert network.dispatch_coa(now=t0 + timedelta(seconds=2)) == 1
    req.refresh_from_db()
    assert (req.status, req.attempts) == ("pending", 2)
    assert network.dispatch_coa(now=t0 + timedelta(seconds=4)) == 1
    req.refresh_from_db()
    assert (req.status, req.attempts) == ("failed", 3)
    assert network.dispatch_coa(now=t0 + timedelta(hours=1)) == 0
    assert len(port.received) == 3
    assert all(p["Acct-Session-Id"] == ["coa-1"] for p in port.received)


def test_unreachable_nas_long_address_is_recorded(nas, sub, settings):
    """The response names the address; a long one must still fit the column."""
    settings.RADIUS_COA_TIMEOUT = 0.2
    settings.RADIUS_COA_RETRIES = 1
    Nas.objects.filter(pk=nas.pk).update(coa_address="127.100.200.254", coa_port=65_000)
    account(nas, Status.START, FEB_10)
    subscriptions.suspend(sub, reason="non_payment", actor="test")
    assert network.dispatch_coa() == 1
    req = CoaRequest.objects.get()
    assert req.status == "failed" and req.attempts == 1
    assert req.response.startswith("no answer")


def test_throttle_is_lifted_in_the_next_period(listener, nas, fair_sub):
    port = listener("ack")
    account(nas, Status.START, FEB_10)
    account(nas, Status.INTERIM, FEB_10 + timedelta(minutes=5), download=1_000_000)
    network.dispatch_coa()
    event = QuotaEvent.objects.get(kind="usage_100")
    assert network.next_restore_due(FEB_10) == datetime(2026, 3, 1, tzinfo=IST)

    assert network.restore_throttled(now=datetime(2026, 2, 28, 23, 59, tzinfo=IST)) == 0
    assert CoaRequest.objects.count() == 1
    assert network.restore_throttled(now=datetime(2026, 3, 1, 0, 5, tzinfo=IST)) == 1
    event.refresh_from_db()
    assert event.restored_at == datetime(2026, 3, 1, 0, 5, tzinfo=IST)
    restore = CoaRequest.objects.get(reason="period_restore")
    assert restore.kind == "coa"
    assert ["Mikrotik-Rate-Limit", "20M/50M"] in restore.attributes
    assert network.restore_throttled(now=datetime(2026, 3, 2, tzinfo=IST)) == 0

    assert network.dispatch_coa() == 1
    assert port.received[-1]["Mikrotik-Rate-Limit"] == ["20M/50M"]
    restore.refresh_from_db()
    assert restore.status == "acked"


def test_throttle_lifted_for_a_suspended_subscriber_sends_nothing(listener, nas, fair_sub):
    listener("ack")
    account(nas, Status.START, FEB_10)
    account(nas, Status.INTERIM, FEB_10 + timedelta(minutes=5), download=1_000_000)
    subscriptions.suspend(fair_sub, reason="non_payment", actor="test")
    before = CoaRequest.objects.count()
    assert network.restore_throttled(now=datetime(2026, 3, 1, 0, 5, tzinfo=IST)) == 1
    assert CoaRequest.objects.count() == before
    assert QuotaEvent.objects.get(kind="usage_100").restored_at is not None
