"""Speed rendering per NAS vendor and the shipped RADIUS dictionary (no database)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from pyrad.packet import AccountingRequest, AcctPacket, AuthPacket

from octet.network.vendors import (
    DICTIONARY_DIR,
    Speed,
    Vendor,
    load_dictionary,
    mikrotik_rate_limit,
    speed_attributes,
    throttled,
)

BURSTY = Speed(
    down_kbps=20_000,
    up_kbps=10_000,
    burst_down_kbps=30_000,
    burst_up_kbps=15_000,
    burst_threshold_down_kbps=16_000,
    burst_threshold_up_kbps=8_000,
    burst_time_s=16,
)


# --- MikroTik ----------------------------------------------------------------


def test_mikrotik_whole_megabits_use_m():
    assert mikrotik_rate_limit(Speed(down_kbps=100_000, up_kbps=100_000)) == "100M/100M"


def test_mikrotik_upload_comes_first_because_rx_is_seen_from_the_router():
    assert mikrotik_rate_limit(Speed(down_kbps=1024, up_kbps=512)) == "512k/1024k"
    assert mikrotik_rate_limit(Speed(down_kbps=1000, up_kbps=512)) == "512k/1M"


def test_mikrotik_gigabit_stays_in_megabits_and_zero_is_unlimited():
    assert mikrotik_rate_limit(Speed(down_kbps=1_000_000, up_kbps=0)) == "0/1000M"


def test_mikrotik_burst():
    assert mikrotik_rate_limit(BURSTY) == "10M/20M 15M/30M 8M/16M 16/16"


def test_mikrotik_partial_burst_is_ignored():
    speed = Speed(down_kbps=20_000, up_kbps=10_000, burst_down_kbps=30_000, burst_up_kbps=15_000)
    assert mikrotik_rate_limit(speed) == "10M/20M"


def test_mikrotik_vendor_gets_only_rate_limit():
    assert speed_attributes(Vendor.MIKROTIK, BURSTY) == [
        ("Mikrotik-Rate-Limit", "10M/20M 15M/30M 8M/16M 16/16")
    ]


# --- Cisco -------------------------------------------------------------------


def test_cisco_rate_limits_input_as_upload_and_output_as_download():
    assert speed_attributes("cisco", Speed(down_kbps=20_000, up_kbps=10_000)) == [
        (
            "Cisco-AVPair",
            "lcp:interface-config#1=rate-limit input 10000000 1875000 3750000 "
            "conform-action transmit exceed-action drop",
        ),
        (
            "Cisco-AVPair",
            "lcp:interface-config#2=rate-limit output 20000000 3750000 7500000 "
            "conform-action transmit exceed-action drop",
        ),
    ]


def test_cisco_ignores_burst_and_skips_an_unlimited_direction():
    attributes = speed_attributes(Vendor.CISCO, replace(BURSTY, up_kbps=0))
    assert attributes == [
        (
            "Cisco-AVPair",
            "lcp:interface-config#1=rate-limit output 20000000 3750000 7500000 "
            "conform-action transmit exceed-action drop",
        )
    ]


# --- WISPr (Juniper, generic) ------------------------------------------------


@pytest.mark.parametrize("vendor", [Vendor.JUNIPER, Vendor.GENERIC, "generic", "juniper"])
def test_wispr_in_bits_per_second(vendor):
    assert speed_attributes(vendor, BURSTY) == [
        ("WISPr-Bandwidth-Max-Down", 20_000_000),
        ("WISPr-Bandwidth-Max-Up", 10_000_000),
    ]


def test_wispr_caps_at_32_bits():
    attributes = dict(speed_attributes(Vendor.GENERIC, Speed(down_kbps=10_000_000, up_kbps=0)))
    assert attributes == {"WISPr-Bandwidth-Max-Down": 2**32 - 1}


def test_unknown_vendor_is_rejected():
    with pytest.raises(ValueError):
        speed_attributes("huawei", BURSTY)


# --- Speed and throttling -----------------------------------------------------


def test_speed_rejects_negative_and_non_int():
    with pytest.raises(ValueError):
        Speed(down_kbps=-1, up_kbps=0)
    with pytest.raises(TypeError):
        Speed(down_kbps=1.5, up_kbps=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Speed(down_kbps=1, up_kbps=1, burst_time_s=0)


def test_throttled_drops_burst():
    slow = throttled(BURSTY, 2_000, 1_000)
    assert slow == Speed(down_kbps=2_000, up_kbps=1_000)
    assert mikrotik_rate_limit(slow) == "1M/2M"


def test_throttled_keeps_upload_when_not_given():
    assert throttled(BURSTY, 2_000, None) == Speed(down_kbps=2_000, up_kbps=10_000)


def test_throttled_never_speeds_up_but_limits_an_unlimited_direction():
    assert throttled(Speed(down_kbps=1_000, up_kbps=0), 5_000, 5_000) == Speed(
        down_kbps=1_000, up_kbps=5_000
    )
    with pytest.raises(ValueError):
        throttled(BURSTY, 0, None)


# --- Dictionary ----------------------------------------------------------------

ACCOUNTING_AND_AUTH_ATTRIBUTES = [
    # RFC 2865
    "User-Name",
    "User-Password",
    "CHAP-Password",
    "NAS-IP-Address",
    "NAS-Port",
    "Service-Type",
    "Framed-Protocol",
    "Framed-IP-Address",
    "Framed-IP-Netmask",
    "Reply-Message",
    "State",
    "Class",
    "Vendor-Specific",
    "Session-Timeout",
    "Idle-Timeout",
    "Called-Station-Id",
    "Calling-Station-Id",
    "NAS-Identifier",
    "Proxy-State",
    "CHAP-Challenge",
    "NAS-Port-Type",
    "Port-Limit",
    # RFC 2866
    "Acct-Status-Type",
    "Acct-Delay-Time",
    "Acct-Input-Octets",
    "Acct-Output-Octets",
    "Acct-Session-Id",
    "Acct-Authentic",
    "Acct-Session-Time",
    "Acct-Input-Packets",
    "Acct-Output-Packets",
    "Acct-Terminate-Cause",
    "Acct-Multi-Session-Id",
    "Acct-Link-Count",
    # RFC 2869
    "Acct-Input-Gigawords",
    "Acct-Output-Gigawords",
    "Event-Timestamp",
    "Message-Authenticator",
    "Acct-Interim-Interval",
    "NAS-Port-Id",
    "Framed-Pool",
    # RFC 3162, 4818, 5176
    "Framed-IPv6-Prefix",
    "Delegated-IPv6-Prefix",
    "Error-Cause",
    # vendors
    "Mikrotik-Recv-Limit",
    "Mikrotik-Xmit-Limit",
    "Mikrotik-Group",
    "Mikrotik-Rate-Limit",
    "Mikrotik-Address-List",
    "Mikrotik-Total-Limit",
    "WISPr-Bandwidth-Max-Up",
    "WISPr-Bandwidth-Max-Down",
    "WISPr-Session-Terminate-Time",
    "Cisco-AVPair",
    "Cisco-Account-Info",
    "MS-CHAP-Challenge",
    "MS-CHAP2-Response",
    "MS-CHAP2-Success",
    "MS-CHAP-Error",
    "MS-MPPE-Send-Key",
    "MS-MPPE-Recv-Key",
    "MS-MPPE-Encryption-Policy",
    "MS-MPPE-Encryption-Types",
    "Juniper-Local-User-Name",
    "Juniper-Allow-Commands",
]


def test_dictionary_is_cached_and_parses_without_skipping(caplog):
    load_dictionary.cache_clear()
    with caplog.at_level(logging.WARNING, logger="pyrad"):
        dictionary = load_dictionary()
    assert load_dictionary() is dictionary
    assert dictionary.skipped_attributes == set()
    assert caplog.records == []


def test_dictionary_has_the_attributes_octet_uses():
    dictionary = load_dictionary()
    missing = [name for name in ACCOUNTING_AND_AUTH_ATTRIBUTES if name not in dictionary]
    assert missing == []
    speeds = [Speed(down_kbps=1, up_kbps=1), BURSTY]
    for vendor in Vendor:
        for speed in speeds:
            for name, _value in speed_attributes(vendor, speed):
                assert name in dictionary.attributes, (vendor, name)


def test_dictionary_codes_and_types():
    dictionary = load_dictionary()
    expected = {
        "Framed-Pool": (88, "string", ""),
        "Acct-Input-Gigawords": (52, "integer", ""),
        "Acct-Output-Gigawords": (53, "integer", ""),
        "Event-Timestamp": (55, "date", ""),
        "Error-Cause": (101, "integer", ""),
        "Mikrotik-Rate-Limit": (8, "string", "Mikrotik"),
        "Mikrotik-Address-List": (19, "string", "Mikrotik"),
        "WISPr-Bandwidth-Max-Up": (7, "integer", "WISPr"),
        "WISPr-Bandwidth-Max-Down": (8, "integer", "WISPr"),
        "Cisco-AVPair": (1, "string", "Cisco"),
        "Cisco-Account-Info": (250, "string", "Cisco"),
        "MS-CHAP-Error": (2, "string", "Microsoft"),
        "MS-CHAP-Challenge": (11, "octets", "Microsoft"),
        "MS-CHAP2-Response": (25, "octets", "Microsoft"),
        "MS-CHAP2-Success": (26, "octets", "Microsoft"),
        "Juniper-Local-User-Name": (1, "string", "Juniper"),
    }
    for name, (code, datatype, vendor) in expected.items():
        attribute = dictionary[name]
        assert (attribute.code, attribute.type, attribute.vendor) == (code, datatype, vendor)
    assert dictionary.vendors.GetForward("Mikrotik") == 14988
    assert dictionary.vendors.GetForward("WISPr") == 14122
    assert dictionary.vendors.GetForward("Cisco") == 9
    assert dictionary.vendors.GetForward("Microsoft") == 311
    assert dictionary.vendors.GetForward("Juniper") == 2636
    assert dictionary["MS-MPPE-Send-Key"].encrypt == 2


def test_dictionary_values():
    dictionary = load_dictionary()
    status = dictionary["Acct-Status-Type"].values
    assert dict(status.forward) == {
        name: number.to_bytes(4, "big")
        for name, number in {
            "Start": 1,
            "Stop": 2,
            "Interim-Update": 3,
            "Accounting-On": 7,
            "Accounting-Off": 8,
            "Tunnel-Start": 9,
            "Tunnel-Stop": 10,
            "Tunnel-Reject": 11,
            "Tunnel-Link-Start": 12,
            "Tunnel-Link-Stop": 13,
            "Tunnel-Link-Reject": 14,
            "Failed": 15,
        }.items()
    }
    causes = dictionary["Acct-Terminate-Cause"].values
    assert sorted(int.from_bytes(v, "big") for v in causes.backward) == list(range(1, 23))
    errors = dictionary["Error-Cause"].values
    assert int.from_bytes(errors.GetForward("Session-Context-Not-Found"), "big") == 503
    assert len(errors.forward) == 17


def test_every_shipped_file_is_included():
    included = {
        line.split()[1]
        for line in (DICTIONARY_DIR / "dictionary").read_text().splitlines()
        if line.startswith("$INCLUDE")
    }
    shipped = {path.name for path in DICTIONARY_DIR.iterdir() if path.name != "dictionary"}
    assert included == shipped


# --- Packet round trips ----------------------------------------------------------

SECRET = b"testing123"


def test_accounting_request_round_trip():
    dictionary = load_dictionary()
    request = AcctPacket(code=AccountingRequest, id=7, secret=SECRET, dict=dictionary)
    request["Acct-Status-Type"] = "Interim-Update"
    request["Acct-Session-Id"] = "81a00003"
    request["Acct-Input-Gigawords"] = 1
    request["Acct-Input-Octets"] = 123
    request["Acct-Output-Octets"] = 5
    request["Event-Timestamp"] = 1_735_689_600
    request["Framed-IP-Address"] = "100.64.0.10"
    request["Delegated-IPv6-Prefix"] = "2001:db8:10::/56"
    request["Mikrotik-Rate-Limit"] = "10M/20M 15M/30M 8M/16M 16/16"
    request.AddAttribute("Cisco-AVPair", "ip:sub-qos-policy-in=A")
    request.AddAttribute("Cisco-AVPair", "ip:sub-qos-policy-out=B")
    raw = request.RequestPacket()

    received = AcctPacket(secret=SECRET, dict=dictionary, packet=raw)
    assert received.VerifyAcctRequest()
    assert received.code == AccountingRequest
    # Named values come back as their names, not as numbers.
    assert received["Acct-Status-Type"] == ["Interim-Update"]
    assert received["Acct-Session-Id"] == ["81a00003"]
    assert received["Acct-Input-Gigawords"] == [1]
    assert received["Acct-Input-Octets"] == [123]
    assert received["Acct-Output-Octets"] == [5]
    assert received["Event-Timestamp"] == [1_735_689_600]
    assert received["Framed-IP-Address"] == ["100.64.0.10"]
    assert received["Delegated-IPv6-Prefix"] == ["2001:db8:10::/56"]
    assert received["Mikrotik-Rate-Limit"] == ["10M/20M 15M/30M 8M/16M 16/16"]
    assert received["Cisco-AVPair"] == ["ip:sub-qos-policy-in=A", "ip:sub-qos-policy-out=B"]
    # Inside the packet a vendor attribute is keyed (vendor id, code); keys()
    # turns known keys back into names.
    assert dict.__contains__(received, (14988, 8))
    assert "Mikrotik-Rate-Limit" in list(received.keys())


def test_status_type_number_decodes_to_its_name():
    dictionary = load_dictionary()
    request = AcctPacket(secret=SECRET, dict=dictionary)
    request["Acct-Status-Type"] = 3
    received = AcctPacket(secret=SECRET, dict=dictionary, packet=request.RequestPacket())
    assert received["Acct-Status-Type"] == ["Interim-Update"]


@pytest.mark.parametrize("vendor", list(Vendor))
def test_access_accept_round_trip(vendor):
    dictionary = load_dictionary()
    request = AuthPacket(id=9, secret=SECRET, dict=dictionary)
    request["User-Name"] = "kaveri-0001"
    request["User-Password"] = request.PwCrypt("s3cret")
    raw_request = request.RequestPacket()
    received_request = AuthPacket(secret=SECRET, dict=dictionary, packet=raw_request)
    assert received_request.PwDecrypt(received_request["User-Password"][0]) == "s3cret"

    reply = received_request.CreateReply()
    reply.code = 2  # Access-Accept
    reply["Framed-Pool"] = "pool-residential"
    reply["Session-Timeout"] = 86_400
    rendered = speed_attributes(vendor, BURSTY)
    for name, value in rendered:
        reply.AddAttribute(name, value)
    raw_reply = reply.ReplyPacket()

    received_reply = received_request.CreateReply(packet=raw_reply)
    assert request.VerifyReply(received_reply, raw_reply)
    assert received_reply["Framed-Pool"] == ["pool-residential"]
    assert received_reply["Session-Timeout"] == [86_400]
    decoded = [
        (name, value)
        for name in dict.fromkeys(name for name, _ in rendered)
        for value in received_reply[name]
    ]
    assert decoded == rendered
