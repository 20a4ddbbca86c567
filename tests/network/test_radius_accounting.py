"""Accounting-Requests to the real server over loopback, sent by FreeRADIUS' radclient.

Times come from Event-Timestamp, so usage lands in known billing periods whatever day the
suite runs; the subscription is activated on 15 Jan 2026 (Asia/Kolkata) on a calendar plan.
"""

from __future__ import annotations

import socket
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pyrad import packet as rp

from octet.core import clock
from octet.metering.models import QuotaEvent, UsagePeriod
from octet.network import services as network
from octet.network.models import RadiusSession
from octet.network.vendors import load_dictionary
from octet.notifications.models import Notification

from .conftest import SECRET, make_plan, radclient, subscribe

pytestmark = pytest.mark.django_db(transaction=True)

IST = ZoneInfo("Asia/Kolkata")
ACTIVATED = datetime(2026, 1, 15, 9, 0, tzinfo=IST)
FEB_10 = datetime(2026, 2, 10, 10, 0, tzinfo=IST)
GIGAWORD = 2**32


@pytest.fixture
def sub(asha, fiber100):
    with clock.frozen_at(ACTIVATED):
        return subscribe(asha, fiber100, "asha")


def acct(server, status: str, session: str, at: datetime | None, **counters) -> str:
    """One Accounting-Request; asserts it was acknowledged and returns radclient's output.

    ``counters`` are attribute names with - as _ (Acct_Output_Octets=…).
    """
    attrs = {"Acct-Status-Type": status, "User-Name": "asha", "NAS-Port-Id": "ether1"}
    if session:
        attrs["Acct-Session-Id"] = session
    if at is not None:
        attrs["Event-Timestamp"] = at
    attrs.update({name.replace("_", "-"): value for name, value in counters.items()})
    code, output = radclient("acct", server.acct_port, attrs)
    assert code == 0 and "Received Accounting-Response" in output, output
    return output


def usage(sub) -> dict[date, tuple[int, int]]:
    return {
        row.period_start: (row.download_bytes, row.upload_bytes)
        for row in UsagePeriod.objects.filter(subscription=sub)
    }


def session(acct_session_id: str) -> RadiusSession:
    return RadiusSession.objects.get(acct_session_id=acct_session_id)


FEB = date(2026, 2, 1)


def test_start_interim_stop_counts_exactly(radius_server, sub, nas):
    acct(radius_server, "Start", "s-1", FEB_10, Framed_IP_Address="100.64.1.7")
    s = session("s-1")
    assert (s.nas_id, s.subscription_id, s.stopped_at) == (nas.pk, sub.pk, None)
    assert s.started_at == FEB_10
    assert usage(sub) == {}

    acct(
        radius_server,
        "Interim-Update",
        "s-1",
        FEB_10 + timedelta(minutes=5),
        Acct_Output_Octets=1_000_000,
        Acct_Input_Octets=200_000,
        Acct_Session_Time=300,
    )
    assert usage(sub) == {FEB: (1_000_000, 200_000)}

    acct(
        radius_server,
        "Stop",
        "s-1",
        FEB_10 + timedelta(minutes=10),
        Acct_Output_Octets=3_000_001,
        Acct_Input_Octets=500_003,
        Acct_Session_Time=600,
        Acct_Terminate_Cause="Lost-Carrier",
    )
    assert usage(sub) == {FEB: (3_000_001, 500_003)}
    s.refresh_from_db()
    assert (s.download_bytes, s.upload_bytes) == (3_000_001, 500_003)
    assert s.stopped_at == FEB_10 + timedelta(minutes=10)
    assert s.terminate_cause == "Lost-Carrier"
    assert s.framed_ip == "100.64.1.7"
    assert s.nas_port_id == "ether1"
    # A Stop retransmitted after the session closed changes nothing.
    acct(radius_server, "Stop", "s-1", FEB_10 + timedelta(minutes=10), Acct_Output_Octets=3_000_001)
    assert usage(sub) == {FEB: (3_000_001, 500_003)}
    assert RadiusSession.objects.count() == 1


def test_gigawords_wrap_counts_the_difference(radius_server, sub):
    acct(radius_server, "Start", "g-1", FEB_10)
    acct(
        radius_server,
        "Interim-Update",
        "g-1",
        FEB_10 + timedelta(minutes=5),
        Acct_Output_Octets=GIGAWORD - 1000,
        Acct_Input_Octets=GIGAWORD - 10,
    )
    assert usage(sub) == {FEB: (GIGAWORD - 1000, GIGAWORD - 10)}
    acct(
        radius_server,
        "Interim-Update",
        "g-1",
        FEB_10 + timedelta(minutes=10),
        Acct_Output_Octets=500,
        Acct_Output_Gigawords=1,
        Acct_Input_Octets=20,
        Acct_Input_Gigawords=1,
    )
    # 1000 to the wrap and 500 past it; 10 and 20 upstream.
    assert usage(sub) == {FEB: (GIGAWORD + 500, GIGAWORD + 20)}
    s = session("g-1")
    assert (s.download_bytes, s.upload_bytes) == (GIGAWORD + 500, GIGAWORD + 20)
    acct(
        radius_server,
        "Stop",
        "g-1",
        FEB_10 + timedelta(minutes=15),
        Acct_Output_Octets=7,
        Acct_Output_Gigawords=3,
        Acct_Input_Octets=20,
        Acct_Input_Gigawords=1,
    )
    assert usage(sub) == {FEB: (3 * GIGAWORD + 7, GIGAWORD + 20)}


def test_duplicate_interim_adds_nothing(radius_server, sub):
    acct(radius_server, "Start", "d-1", FEB_10)
    interim = {"Acct_Output_Octets": 40_000, "Acct_Input_Octets": 4_000}
    at = FEB_10 + timedelta(minutes=5)
    acct(radius_server, "Interim-Update", "d-1", at, **interim)
    acct(radius_server, "Interim-Update", "d-1", at, **interim)  # the NAS retransmits
    assert usage(sub) == {FEB: (40_000, 4_000)}


def test_byte_identical_retransmission_adds_nothing(radius_server, sub):
    acct(radius_server, "Start", "d-2", FEB_10)
    packet = rp.AcctPacket(secret=SECRET.encode(), dict=load_dictionary(), id=99)
    for name, value in (
        ("Acct-Status-Type", "Interim-Update"),
        ("Acct-Session-Id", "d-2"),
        ("User-Name", "asha"),
        ("Acct-Output-Octets", 12_345),
        ("Event-Timestamp", int((FEB_10 + timedelta(minutes=5)).timestamp())),
    ):
        packet.AddAttribute(name, value)
    raw = packet.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for _ in range(3):
            sock.sendto(raw, ("127.0.0.1", radius_server.acct_port))
            reply, _ = sock.recvfrom(4096)
            assert packet.VerifyReply(rp.Packet(packet=reply, dict=load_dictionary()), reply)
            assert usage(sub) == {FEB: (12_345, 0)}


def test_out_of_order_interim_adds_nothing(radius_server, sub):
    acct(radius_server, "Start", "o-1", FEB_10)
    newer, older = FEB_10 + timedelta(minutes=10), FEB_10 + timedelta(minutes=5)
    acct(radius_server, "Interim-Update", "o-1", newer, Acct_Output_Octets=2_000)
    acct(radius_server, "Interim-Update", "o-1", older, Acct_Output_Octets=1_000)
    assert usage(sub) == {FEB: (2_000, 0)}
    s = session("o-1")
    assert (s.download_bytes, s.updated_at) == (2_000, newer)
    acct(
        radius_server,
        "Interim-Update",
        "o-1",
        newer + timedelta(minutes=5),
        Acct_Output_Octets=2_500,
    )
    assert usage(sub) == {FEB: (2_500, 0)}


def test_lost_stop_is_closed_as_stale_and_keeps_its_usage(radius_server, sub):
    acct(radius_server, "Start", "lost-1", FEB_10)
    last = FEB_10 + timedelta(minutes=5)
    acct(radius_server, "Interim-Update", "lost-1", last, Acct_Output_Octets=9_000)
    acct(radius_server, "Start", "alive-1", FEB_10 + timedelta(minutes=50))
    # 55 minutes after the last interim: stale at 15 minutes (RADIUS_STALE_AFTER 900).
    assert network.close_stale_sessions(now=FEB_10 + timedelta(hours=1)) == 1
    lost = session("lost-1")
    assert lost.stopped_at == last
    assert lost.terminate_cause == "Stale-Session"
    assert session("alive-1").stopped_at is None
    assert usage(sub) == {FEB: (9_000, 0)}
    # Its late Stop still adds what was used after the last interim, once.
    acct(radius_server, "Stop", "lost-1", FEB_10 + timedelta(minutes=70), Acct_Output_Octets=9_500)
    assert usage(sub) == {FEB: (9_500, 0)}
    assert RadiusSession.objects.filter(acct_session_id="lost-1").count() == 1


@pytest.mark.parametrize(
    ("status", "cause"), [("Accounting-On", "NAS-Reboot"), ("Accounting-Off", "NAS-Request")]
)
def test_accounting_on_or_off_closes_the_nas_sessions(radius_server, sub, status, cause):
    acct(radius_server, "Start", "r-1", FEB_10)
    acct(
        radius_server,
        "Interim-Update",
        "r-1",
        FEB_10 + timedelta(minutes=1),
        Acct_Output_Octets=700,
    )
    acct(radius_server, "Start", "r-2", FEB_10 + timedelta(minutes=2))
    reboot = FEB_10 + timedelta(minutes=30)
    acct(radius_server, status, "", reboot)
    assert not RadiusSession.objects.filter(stopped_at__isnull=True).exists()
    for s in RadiusSession.objects.all():
        assert (s.stopped_at, s.terminate_cause) == (reboot, cause)
    assert usage(sub) == {FEB: (700, 0)}
    # The NAS reuses a session id after the reboot: a new session, counted from zero.
    acct(radius_server, "Start", "r-1", reboot + timedelta(minutes=1))
    acct(
        radius_server,
        "Interim-Update",
        "r-1",
        reboot + timedelta(minutes=6),
        Acct_Output_Octets=300,
    )
    assert RadiusSession.objects.filter(acct_session_id="r-1").count() == 2
    assert usage(sub) == {FEB: (1_000, 0)}


def test_every_acknowledged_packet_is_already_stored(radius_server, sub):
    acct(radius_server, "Start", "now-1", FEB_10)
    assert RadiusSession.objects.filter(acct_session_id="now-1").exists()
    total = 0
    for minute in range(1, 9):
        total += 1_000 * minute
        acct(
            radius_server,
            "Interim-Update",
            "now-1",
            FEB_10 + timedelta(minutes=minute),
            Acct_Output_Octets=total,
        )
        # No waiting: the response is only sent after the commit.
        assert session("now-1").download_bytes == total
        assert usage(sub) == {FEB: (total, 0)}
    acct(radius_server, "Stop", "now-1", FEB_10 + timedelta(minutes=9), Acct_Output_Octets=total)
    assert session("now-1").stopped_at == FEB_10 + timedelta(minutes=9)


def test_usage_across_a_period_boundary_is_split_by_time(radius_server, sub):
    jan_31_22 = datetime(2026, 1, 31, 22, 0, tzinfo=IST)
    acct(radius_server, "Start", "b-1", jan_31_22)
    acct(
        radius_server,
        "Interim-Update",
        "b-1",
        datetime(2026, 1, 31, 23, 0, tzinfo=IST),
        Acct_Output_Octets=4_000,
        Acct_Input_Octets=400,
    )
    assert usage(sub) == {date(2026, 1, 1): (4_000, 400)}
    # 1000 more down and 200 up between 23:00 and 01:00: one hour on each side of midnight.
    acct(
        radius_server,
        "Interim-Update",
        "b-1",
        datetime(2026, 2, 1, 1, 0, tzinfo=IST),
        Acct_Output_Octets=5_000,
        Acct_Input_Octets=600,
    )
    assert usage(sub) == {date(2026, 1, 1): (4_500, 500), FEB: (500, 100)}
    rows = {row.period_start: row for row in UsagePeriod.objects.filter(subscription=sub)}
    assert rows[date(2026, 1, 1)].period_end == FEB
    assert rows[FEB].period_end == date(2026, 3, 1)
    assert rows[FEB].allowance_bytes == 500 * 10**9
    assert rows[date(2026, 1, 1)].allowance_bytes == 500 * 10**9 * 17 // 31


def test_usage_notifications_once_per_period(radius_server, asha):
    small = make_plan("SMALL", allowance_bytes=10_000, overage_price_per_gb="10.00")
    with clock.frozen_at(ACTIVATED):
        sub = subscribe(asha, small, "asha")

    def kinds():
        return sorted(
            (n.kind, n.context["period_start"])
            for n in Notification.objects.filter(customer=asha, kind__startswith="usage")
        )

    acct(radius_server, "Start", "n-1", FEB_10)
    steps = [(7_999, []), (8_000, ["usage_80"]), (8_500, ["usage_80"])]
    steps += [(10_000, ["usage_100", "usage_80"]), (12_000, ["usage_100", "usage_80"])]
    for minute, (down, expected) in enumerate(steps, start=1):
        acct(
            radius_server,
            "Interim-Update",
            "n-1",
            FEB_10 + timedelta(minutes=minute),
            Acct_Output_Octets=down,
        )
        assert kinds() == [(kind, "2026-02-01") for kind in expected]
    # Another session in the same period: still once.
    acct(radius_server, "Start", "n-2", FEB_10 + timedelta(hours=1))
    acct(radius_server, "Stop", "n-2", FEB_10 + timedelta(hours=2), Acct_Output_Octets=50_000)
    assert len(kinds()) == 2
    assert QuotaEvent.objects.filter(subscription=sub).count() == 2
    # A new period starts over.
    march = datetime(2026, 3, 2, 10, 0, tzinfo=IST)
    acct(radius_server, "Start", "n-3", march)
    acct(
        radius_server,
        "Interim-Update",
        "n-3",
        march + timedelta(minutes=1),
        Acct_Output_Octets=9_000,
    )
    acct(
        radius_server,
        "Interim-Update",
        "n-3",
        march + timedelta(minutes=2),
        Acct_Output_Octets=9_900,
    )
    assert kinds() == [
        ("usage_100", "2026-02-01"),
        ("usage_80", "2026-02-01"),
        ("usage_80", "2026-03-01"),
    ]
    assert usage(sub)[date(2026, 3, 1)] == (9_900, 0)
