"""Access-Requests to the real server over loopback, sent by FreeRADIUS' radclient."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.conf import settings
from pyrad import packet as rp

from octet.core import clock
from octet.core.models import Operator
from octet.metering.models import QuotaEvent
from octet.metering.services import usage_for
from octet.network.models import AuthLog, Nas, RadiusSession
from octet.network.vendors import load_dictionary
from octet.subscriptions import services as subscriptions
from octet.subscriptions.models import Subscription

from .conftest import PASSWORD, SECRET, make_plan, radclient, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def reply_lines(output: str) -> list[str]:
    """The attribute lines radclient -x printed for the packet it received."""
    _, _, received = output.partition("\nReceived ")
    return [line.strip() for line in received.splitlines()[1:] if line.startswith("\t")]


def pap(username: str = "asha", password: str = PASSWORD, **more) -> dict:
    return {"User-Name": username, "User-Password": password, **more}


def auth(server, attrs: dict) -> tuple[int, str]:
    return radclient("auth", server.auth_port, attrs)


def assert_accept(output: str) -> list[str]:
    assert "Received Access-Accept" in output, output
    return reply_lines(output)


def assert_reject(output: str, message: str) -> None:
    assert "Received Access-Reject" in output, output
    assert f'Reply-Message = "{message}"' in reply_lines(output), output


def this_periods_allowance(sub) -> int:
    """The current period's allowance (prorated: the subscription began today)."""
    return usage_for(sub, subscriptions.billing_period(sub)).allowance_bytes


def use_bytes(server, session: str, download: int, username: str = "asha") -> None:
    """Interim accounting from the NAS: ``download`` bytes so far in ``session``."""
    code, output = radclient(
        "acct",
        server.acct_port,
        {
            "Acct-Status-Type": "Interim-Update",
            "Acct-Session-Id": session,
            "User-Name": username,
            "Acct-Output-Octets": download,
            "Acct-Input-Octets": 0,
        },
    )
    assert code == 0 and "Received Accounting-Response" in output, output


# -- accept ------------------------------------------------------------------------------


def test_pap_accept_gives_plan_speed_interim_interval_and_static_ip(radius_server, active_sub):
    code, output = auth(radius_server, pap())
    assert code == 0
    lines = assert_accept(output)
    assert 'Mikrotik-Rate-Limit = "100M/100M"' in lines
    assert f"Acct-Interim-Interval = {settings.RADIUS_INTERIM_INTERVAL}" in lines
    assert "Framed-IP-Address = 100.64.0.10" in lines
    assert not any(line.startswith("Session-Timeout") for line in lines)


def test_pool_subscriber_gets_framed_pool_not_an_address(radius_server, asha, fiber100):
    subscribe(asha, fiber100, "asha", framed_pool="cgnat-1")
    lines = assert_accept(auth(radius_server, pap())[1])
    assert 'Framed-Pool = "cgnat-1"' in lines
    assert not any(line.startswith("Framed-IP-Address") for line in lines)


def test_chap_accept(radius_server, active_sub):
    code, output = auth(radius_server, {"User-Name": "asha", "CHAP-Password": PASSWORD})
    assert code == 0
    lines = assert_accept(output)
    assert 'Mikrotik-Rate-Limit = "100M/100M"' in lines


def test_chap_with_a_separate_challenge_accept(radius_server, active_sub):
    attrs = {"User-Name": "asha", "CHAP-Challenge": "0x00112233445566778899aabbccddeeff"}
    lines = attribute_block(attrs) + f'CHAP-Password = "{PASSWORD}"\n'
    assert_accept(radclient("auth", radius_server.auth_port, lines)[1])


def attribute_block(attrs: dict) -> str:
    # radclient takes octets as a bare 0x… literal, which the dict helper would quote.
    return "".join(f"{name} = {value}\n" for name, value in attrs.items())


def test_chap_wrong_password_rejected(radius_server, active_sub):
    code, output = auth(radius_server, {"User-Name": "asha", "CHAP-Password": "not-it-at-all"})
    assert_reject(output, "Wrong password")


def test_prepaid_gets_session_timeout_until_expiry(radius_server, active_sub):
    Subscription.objects.filter(pk=active_sub.pk).update(
        prepaid_expires_at=clock.now() + timedelta(hours=1)
    )
    lines = assert_accept(auth(radius_server, pap())[1])
    timeout = next(int(x.split("=")[1]) for x in lines if x.startswith("Session-Timeout"))
    assert 3500 < timeout <= 3600


# -- reject ------------------------------------------------------------------------------


def test_unknown_user_rejected(radius_server, active_sub):
    code, output = auth(radius_server, pap("nobody"))
    assert code == 1  # radclient's exit status for an Access-Reject (no reply is also 1)
    assert_reject(output, "Unknown user")


def test_wrong_password_rejected(radius_server, active_sub):
    assert_reject(auth(radius_server, pap(password="wrong-Pass1"))[1], "Wrong password")


def test_suspended_rejected(radius_server, active_sub):
    subscriptions.suspend(active_sub, reason="non_payment", actor="test")
    assert_reject(
        auth(radius_server, pap())[1],
        "Service suspended: please pay your dues or contact support",
    )


def test_suspended_with_walled_garden_gets_the_garden(radius_server, active_sub):
    operator = Operator.current()
    operator.walled_garden_address_list = "unpaid"
    operator.save()
    subscriptions.suspend(active_sub, reason="non_payment", actor="test")
    lines = assert_accept(auth(radius_server, pap())[1])
    assert 'Mikrotik-Rate-Limit = "512k/512k"' in lines
    assert 'Mikrotik-Address-List = "unpaid"' in lines
    assert not any(line.startswith("Framed-IP-Address") for line in lines)


def test_terminated_rejected(radius_server, active_sub):
    subscriptions.terminate(active_sub, actor="test")
    assert_reject(auth(radius_server, pap())[1], "Service terminated")


def test_pending_rejected(radius_server, asha, fiber100):
    subscribe(asha, fiber100, "asha", activate=False)
    assert_reject(auth(radius_server, pap())[1], "Service not yet active")


def test_expired_prepaid_rejected(radius_server, active_sub):
    Subscription.objects.filter(pk=active_sub.pk).update(
        prepaid_expires_at=clock.now() - timedelta(minutes=1)
    )
    assert_reject(auth(radius_server, pap())[1], "Prepaid validity expired")


def test_capped_plan_rejected_once_its_allowance_is_used(radius_server, asha):
    capped = make_plan("CAPPED", allowance_bytes=1_000_000)
    sub = subscribe(asha, capped, "asha")
    allowance = this_periods_allowance(sub)
    use_bytes(radius_server, "cap-1", allowance - 1)
    assert_accept(auth(radius_server, pap())[1])
    use_bytes(radius_server, "cap-1", allowance)
    event = QuotaEvent.objects.get(subscription=sub, kind="usage_100")
    assert event.action == "disconnect"
    assert_reject(auth(radius_server, pap())[1], "Data allowance used up for this period")


@pytest.mark.parametrize(
    "overage",
    [
        {"overage_price_per_gb": "10.00"},
        {
            "overage_tiers": [
                {"up_to_gb": 50, "per_gb": "10.00"},
                {"up_to_gb": None, "per_gb": "8.00"},
            ]
        },
    ],
    ids=["flat", "tiered"],
)
def test_plan_billing_overage_is_never_cut(radius_server, asha, overage):
    plan = make_plan("OVER", allowance_bytes=1_000_000, **overage)
    sub = subscribe(asha, plan, "asha")
    use_bytes(radius_server, "over-1", this_periods_allowance(sub) + 5)
    event = QuotaEvent.objects.get(subscription=sub, kind="usage_100")
    assert event.action == "none"
    assert_accept(auth(radius_server, pap())[1])


def test_capped_plan_with_an_old_period_exhausted_is_accepted(radius_server, asha):
    capped = make_plan("CAPPED", allowance_bytes=1_000_000)
    sub = subscribe(asha, capped, "asha")
    QuotaEvent.objects.create(
        subscription=sub,
        period_start=subscriptions.billing_period(sub).start - timedelta(days=31),
        kind="usage_100",
        at=clock.now(),
    )
    assert_accept(auth(radius_server, pap())[1])


def test_fair_use_plan_throttled_after_its_allowance(radius_server, asha):
    fair = make_plan(
        "FAIR50",
        allowance_bytes=1_000_000,
        fair_use_down_kbps=5_000,
        fair_use_up_kbps=1_000,
        down_kbps=50_000,
        up_kbps=20_000,
    )
    sub = subscribe(asha, fair, "asha")
    allowance = this_periods_allowance(sub)
    assert 'Mikrotik-Rate-Limit = "20M/50M"' in assert_accept(auth(radius_server, pap())[1])
    use_bytes(radius_server, "fair-1", (allowance * 80 + 99) // 100)  # 80 % exactly
    assert QuotaEvent.objects.filter(subscription=sub).count() == 1
    assert 'Mikrotik-Rate-Limit = "20M/50M"' in assert_accept(auth(radius_server, pap())[1])
    use_bytes(radius_server, "fair-1", allowance)
    assert QuotaEvent.objects.get(subscription=sub, kind="usage_100").action == "throttle"
    lines = assert_accept(auth(radius_server, pap())[1])
    assert 'Mikrotik-Rate-Limit = "1M/5M"' in lines  # upload first, as RouterOS reads it


# -- vendors -----------------------------------------------------------------------------


def test_cisco_nas_gets_cisco_avpairs(radius_server, active_sub):
    Nas.objects.update(vendor="cisco")
    radius_server.reload_nas()
    lines = assert_accept(auth(radius_server, pap())[1])
    assert (
        lines.count(
            'Cisco-AVPair = "lcp:interface-config#1=rate-limit input 100000000 18750000 37500000 '
            'conform-action transmit exceed-action drop"'
        )
        == 1
    )
    assert (
        lines.count(
            'Cisco-AVPair = "lcp:interface-config#2=rate-limit output 100000000 18750000 37500000 '
            'conform-action transmit exceed-action drop"'
        )
        == 1
    )
    assert not any(line.startswith(("Mikrotik", "WISPr")) for line in lines)


def test_generic_nas_gets_wispr_bandwidth(radius_server, active_sub):
    Nas.objects.update(vendor="generic")
    radius_server.reload_nas()
    lines = assert_accept(auth(radius_server, pap())[1])
    assert "WISPr-Bandwidth-Max-Down = 100000000" in lines
    assert "WISPr-Bandwidth-Max-Up = 100000000" in lines
    assert not any(line.startswith(("Mikrotik", "Cisco")) for line in lines)


# -- the log -----------------------------------------------------------------------------


def test_every_answer_is_logged_without_the_password(radius_server, active_sub, nas):
    answers = [
        auth(radius_server, pap(**{"Calling-Station-Id": "AA-BB-CC-00-00-01"})),
        auth(radius_server, pap(password="Wrong-Pass99")),
        auth(radius_server, pap("nobody")),
        auth(radius_server, {"User-Name": "asha", "CHAP-Password": PASSWORD}),
    ]
    assert [out.count("Received Access-Accept") for _, out in answers] == [1, 0, 0, 1]
    assert [out.count("Received Access-Reject") for _, out in answers] == [0, 1, 1, 0]
    radius_server.wait_auth_logged(until=lambda: AuthLog.objects.count() >= 4)
    rows = sorted(AuthLog.objects.values_list("username", "nas_id", "result", "reason"))
    assert rows == sorted(
        [
            ("asha", nas.pk, "accept", "accepted"),
            ("asha", nas.pk, "reject", "wrong_password"),
            ("nobody", nas.pk, "reject", "unknown_user"),
            ("asha", nas.pk, "accept", "accepted"),
        ]
    )
    assert AuthLog.objects.filter(calling_station_id="AA-BB-CC-00-00-01").count() == 1
    for row in AuthLog.objects.values():
        text = repr(row)
        assert PASSWORD not in text and "Wrong-Pass99" not in text


# -- who may ask -------------------------------------------------------------------------


def test_unknown_nas_gets_no_reply_and_nothing_is_logged(radius_server, active_sub):
    Nas.objects.update(enabled=False)
    radius_server.reload_nas()
    code, output = radclient("auth", radius_server.auth_port, pap(), timeout=0.5)
    assert code != 0
    assert "No reply" in output and "Received" not in output
    code, output = radclient(
        "acct",
        radius_server.acct_port,
        {"Acct-Status-Type": "Start", "Acct-Session-Id": "x-1", "User-Name": "asha"},
        timeout=0.5,
    )
    assert code != 0 and "No reply" in output
    radius_server.wait_auth_logged()
    assert AuthLog.objects.count() == 0
    assert RadiusSession.objects.count() == 0
    assert radius_server.server.stats["dropped"] >= 2


def test_nas_in_a_registered_subnet_is_answered(radius_server, active_sub):
    Nas.objects.update(address="127.0.0.0/8")
    radius_server.reload_nas()
    assert_accept(auth(radius_server, pap())[1])


def test_wrong_secret_on_accounting_gets_no_reply_and_stores_nothing(radius_server, active_sub):
    code, output = radclient(
        "acct",
        radius_server.acct_port,
        {
            "Acct-Status-Type": "Interim-Update",
            "Acct-Session-Id": "bad-1",
            "User-Name": "asha",
            "Acct-Output-Octets": 5000,
        },
        secret="not-the-secret",
        timeout=0.5,
    )
    assert code != 0 and "No reply" in output
    assert RadiusSession.objects.count() == 0
    assert not active_sub.usage_periods.exists()


def test_require_message_authenticator_drops_requests_without_one(radius_server, active_sub):
    Nas.objects.update(require_message_authenticator=True)
    radius_server.reload_nas()
    code, output = radclient("auth", radius_server.auth_port, pap(), timeout=0.5)
    assert code != 0 and "No reply" in output
    with_ma = attribute_block({"Message-Authenticator": "0x00"}) + (
        f'User-Name = "asha"\nUser-Password = "{PASSWORD}"\n'
    )
    assert_accept(radclient("auth", radius_server.auth_port, with_ma)[1])


# -- Message-Authenticator ---------------------------------------------------------------


def test_replies_carry_message_authenticator(radius_server, active_sub):
    for attrs in (pap(), pap(password="Wrong-Pass99")):
        lines = reply_lines(auth(radius_server, attrs)[1])
        assert lines[0].startswith("Message-Authenticator = 0x")  # first, as BlastRADIUS asks


@pytest.mark.parametrize("password", [PASSWORD, "Wrong-Pass99"])
def test_message_authenticator_in_replies_is_valid(radius_server, active_sub, password):
    dictionary = load_dictionary()
    request = rp.AuthPacket(secret=SECRET.encode(), dict=dictionary, id=7)
    request["User-Name"] = "asha"
    request["User-Password"] = request.PwCrypt(password)
    raw = request.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(raw, ("127.0.0.1", radius_server.auth_port))
        data, _ = sock.recvfrom(4096)
    reply = rp.Packet(packet=data, secret=SECRET.encode(), dict=dictionary)
    assert reply.code == (rp.AccessAccept if password == PASSWORD else rp.AccessReject)
    assert request.VerifyReply(reply, data)  # Response Authenticator
    assert reply.message_authenticator
    assert reply.verify_message_authenticator(
        original_authenticator=request.authenticator, original_code=rp.AccessRequest
    )
    tampered = bytearray(data)
    tampered[-1] ^= 1
    bad = rp.Packet(packet=bytes(tampered), secret=SECRET.encode(), dict=dictionary)
    assert bad.message_authenticator
    assert not bad.verify_message_authenticator(
        original_authenticator=request.authenticator, original_code=rp.AccessRequest
    )
