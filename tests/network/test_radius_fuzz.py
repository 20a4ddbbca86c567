"""Malformed datagrams from a registered NAS: dropped, never stored, never fatal.

Hypothesis sends random bytes, headers whose Length lies, attributes cut short, valid
packets with one byte flipped and packets with thousands of attributes to both ports of
the running server. Afterwards the server must still answer real requests with every
thread alive, and nothing of the garbage may be in the database.

The NAS requires Message-Authenticator, as a NAS hardened against BlastRADIUS does: then a
forged or damaged Access-Request is as detectable as a damaged Accounting-Request (whose
Request Authenticator is a hash of the whole packet and the secret).
"""

from __future__ import annotations

import logging
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrad import packet as rp

from octet.metering.models import UsagePeriod
from octet.network.models import AuthLog, Nas, RadiusSession
from octet.network.vendors import load_dictionary

from .conftest import PASSWORD, SECRET, radclient

pytestmark = pytest.mark.django_db(transaction=True)


def _valid_access_request() -> bytes:
    pkt = rp.AuthPacket(secret=SECRET.encode(), dict=load_dictionary(), id=1)
    pkt["User-Name"] = "asha"
    pkt["User-Password"] = pkt.PwCrypt(PASSWORD)
    pkt["Calling-Station-Id"] = "AA-BB-CC-00-00-09"
    pkt.add_message_authenticator()
    return pkt.RequestPacket()


def _valid_accounting_request() -> bytes:
    pkt = rp.AcctPacket(secret=SECRET.encode(), dict=load_dictionary(), id=2)
    for name, value in (
        ("Acct-Status-Type", "Interim-Update"),
        ("Acct-Session-Id", "fuzz-1"),
        ("User-Name", "asha"),
        ("Acct-Output-Octets", 123_456),
        ("Acct-Output-Gigawords", 1),
        ("Event-Timestamp", 1_770_000_000),
    ):
        pkt.AddAttribute(name, value)
    return pkt.RequestPacket()


VALID = [_valid_access_request(), _valid_accounting_request()]
CODES = st.sampled_from([0, 1, 2, 3, 4, 5, 11, 12, 40, 43, 255])


def _header(code: int, ident: int, length: int, authenticator: bytes) -> bytes:
    return struct.pack("!BBH16s", code, ident, length, authenticator)


attribute = st.builds(
    lambda kind, value: bytes([kind, len(value) + 2]) + value,
    st.integers(0, 255),
    st.binary(max_size=40),
)


@st.composite
def wrong_length(draw) -> bytes:
    body = b"".join(draw(st.lists(attribute, max_size=8)))
    delta = draw(st.integers(-300, 300).filter(lambda d: d != 0))
    length = min(max(20 + len(body) + delta, 0), 0xFFFF)
    return (
        _header(
            draw(CODES),
            draw(st.integers(0, 255)),
            length,
            draw(st.binary(min_size=16, max_size=16)),
        )
        + body
    )


@st.composite
def truncated_attribute(draw) -> bytes:
    body = b"".join(draw(st.lists(attribute, max_size=6)))
    kind = draw(st.integers(0, 255))
    if draw(st.booleans()):
        cut = bytes([kind, draw(st.integers(0, 1))]) + draw(st.binary(max_size=10))  # len < 2
    else:
        declared = draw(st.integers(3, 255))
        cut = bytes([kind, declared]) + draw(st.binary(max_size=declared - 3))  # runs off the end
    if draw(st.booleans()):
        cut = cut[:1]  # not even a whole attribute header
    body += cut
    return (
        _header(
            draw(st.sampled_from([1, 4])),
            draw(st.integers(0, 255)),
            20 + len(body),
            draw(st.binary(min_size=16, max_size=16)),
        )
        + body
    )


@st.composite
def one_byte_flipped(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    return bytes(data)


@st.composite
def many_attributes(draw) -> bytes:
    count = draw(st.integers(100, 2000))
    unit = draw(
        st.sampled_from(
            [b"\x01\x02", b"\x1a\x02", b"\x50\x02", b"\x28\x06\x00\x00\x00\x03", b"\x2c\x03x"]
        )
    )
    body = (unit * count)[: 4076 - 4076 % len(unit)]
    return (
        _header(
            draw(st.sampled_from([1, 4])),
            draw(st.integers(0, 255)),
            20 + len(body),
            draw(st.binary(min_size=16, max_size=16)),
        )
        + body
    )


# Made up from nothing: no genuine request inside.
forged = st.one_of(
    st.binary(max_size=64),
    st.binary(min_size=20, max_size=4200),
    wrong_length(),
    truncated_attribute(),
    many_attributes(),
)
garbage = st.one_of(forged, one_byte_flipped())


@pytest.fixture
def hardened(radius_server, active_sub):
    Nas.objects.update(require_message_authenticator=True)
    radius_server.reload_nas()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        yield radius_server, sock


def _still_serving(server) -> None:
    """A real Access-Request (with Message-Authenticator) and Accounting Start answered."""
    code, output = radclient(
        "auth",
        server.auth_port,
        f'Message-Authenticator = 0x00\nUser-Name = "asha"\nUser-Password = "{PASSWORD}"\n',
    )
    assert code == 0 and "Received Access-Accept" in output, output
    code, output = radclient(
        "acct",
        server.acct_port,
        {"Acct-Status-Type": "Start", "Acct-Session-Id": "after-fuzz", "User-Name": "asha"},
    )
    assert code == 0 and "Received Accounting-Response" in output, output


def test_the_valid_packets_garbage_is_made_from_are_valid(hardened):
    """The flip fuzzing starts from packets the server does accept and store."""
    server, sock = hardened
    sock.settimeout(5)
    sock.sendto(VALID[0], ("127.0.0.1", server.auth_port))
    assert sock.recvfrom(4096)[0][0] == rp.AccessAccept
    sock.sendto(VALID[1], ("127.0.0.1", server.acct_port))
    assert sock.recvfrom(4096)[0][0] == rp.AccountingResponse
    assert RadiusSession.objects.get().download_bytes == 2**32 + 123_456


def _send_garbage(server, sock, strategy, max_examples: int = 200) -> list[bytes]:
    sent: list[bytes] = []

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(datagram=strategy)
    def send(datagram: bytes) -> None:
        sent.append(datagram)
        for port in (server.auth_port, server.acct_port):
            sock.sendto(datagram, ("127.0.0.1", port))

    send()
    return sent


def test_garbage_is_dropped_stores_nothing_and_the_server_survives(hardened, caplog):
    server, sock = hardened
    caplog.set_level(logging.INFO, logger="octet.radius")
    sent = _send_garbage(server, sock, garbage)
    assert len(sent) >= 100
    # Accounting is one FIFO queue: once a later packet is acknowledged, all garbage before
    # it was handled. Access-Requests run in a pool: wait for it to be idle.
    _still_serving(server)
    server.wait_auth_logged(until=AuthLog.objects.exists)
    assert server.all_alive()
    assert server.server.stats["dropped"] >= len(sent)
    assert list(AuthLog.objects.values_list("username", "result")) == [("asha", "accept")]
    assert list(RadiusSession.objects.values_list("acct_session_id", flat=True)) == ["after-fuzz"]
    assert UsagePeriod.objects.count() == 0
    # Dropped quietly: no tracebacks, and a flood logs each kind of drop once a minute.
    radius_logs = [r for r in caplog.records if r.name == "octet.radius"]
    assert not [r.getMessage() for r in radius_logs if r.levelno >= logging.ERROR]
    drops = [r.getMessage() for r in radius_logs if r.levelno == logging.WARNING]
    assert drops and len(drops) < 2 * len(set(drops)) < 80  # the pool's threads may race once
    _still_serving(server)  # and once more, after everything settled
    assert server.all_alive()


def test_without_message_authenticator_forgeries_are_never_accepted(radius_server, active_sub):
    """A NAS not requiring Message-Authenticator: decodable garbage may be answered, with a
    reject, but never accepted, and the server keeps going.

    (Flipped copies of a genuine request are left out here: flipping the type octet of its
    Message-Authenticator removes it, and what is left is the genuine request, rightly
    accepted. That is why a NAS should require Message-Authenticator.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _send_garbage(radius_server, sock, forged, max_examples=100)
    code, output = radclient(
        "auth", radius_server.auth_port, {"User-Name": "asha", "User-Password": PASSWORD}
    )
    assert code == 0 and "Received Access-Accept" in output, output
    radius_server.wait_auth_logged(until=AuthLog.objects.filter(result="accept").exists)
    assert radius_server.all_alive()
    assert AuthLog.objects.filter(result="accept").count() == 1
    assert RadiusSession.objects.count() == 0


# -- signed by the NAS, but odd --------------------------------------------------------
# Not garbage: a NAS with the right secret may send strings with NUL or invalid UTF-8 and
# integers of the wrong length. Each must be acknowledged on its own, on SQLite and on
# PostgreSQL alike, and never take the rest of its batch down with it.

STATUS = st.sampled_from([1, 2, 3, 7, 8, 15]).map(lambda n: struct.pack("!I", n))
INTEGER = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda n: struct.pack("!I", n)), st.binary(max_size=6)
)
GIGAWORDS = st.one_of(
    st.integers(0, 2**16).map(lambda n: struct.pack("!I", n)), st.binary(max_size=3)
)
ODD_TEXT = st.binary(min_size=1, max_size=80).filter(lambda b: len(b) <= 253)

odd_accounting = st.fixed_dictionaries(
    {40: STATUS, 44: ODD_TEXT},
    optional={
        1: st.one_of(st.just(b"asha"), ODD_TEXT),
        31: ODD_TEXT,
        87: ODD_TEXT,
        8: st.binary(max_size=6),
        42: INTEGER,
        43: INTEGER,
        52: GIGAWORDS,
        53: GIGAWORDS,
        46: INTEGER,
        49: INTEGER,
    },
)


class _Exchange:
    """Send one request and wait for the answer with its identifier."""

    def __init__(self, sock: socket.socket, port: int) -> None:
        self.sock, self.port, self.ident = sock, port, 0

    def __call__(self, pkt: rp.Packet) -> rp.Packet | None:
        self.ident = (self.ident + 1) % 256
        pkt.id = self.ident
        raw = pkt.RequestPacket()
        self.sock.sendto(raw, ("127.0.0.1", self.port))
        while True:
            try:
                data, _ = self.sock.recvfrom(4096)
            except TimeoutError:
                return None
            if data[1] == self.ident:
                reply = rp.Packet(packet=data, dict=load_dictionary())
                assert pkt.VerifyReply(reply, data)
                return reply


def test_signed_accounting_with_odd_values_is_acknowledged(radius_server, active_sub):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        exchange = _Exchange(sock, radius_server.acct_port)

        @settings(max_examples=100, deadline=None, database=None)
        @given(attrs=odd_accounting)
        def send(attrs: dict[int, bytes]) -> None:
            pkt = rp.AcctPacket(secret=SECRET.encode(), dict=load_dictionary())
            for code, value in attrs.items():
                pkt[code] = [value]
            reply = exchange(pkt)
            assert reply is not None and reply.code == rp.AccountingResponse, attrs

        send()
    assert radius_server.all_alive()


def test_nul_in_strings_does_not_break_the_batch(radius_server, active_sub):
    """Some NAS send NUL-terminated strings; PostgreSQL text cannot hold NUL."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        exchange = _Exchange(sock, radius_server.acct_port)
        pkt = rp.AcctPacket(secret=SECRET.encode(), dict=load_dictionary())
        pkt[40] = [struct.pack("!I", 1)]
        pkt[44] = [b"nul-1\x00"]
        pkt[1] = [b"asha\x00"]
        pkt[31] = [b"AA-BB\x00"]
        reply = exchange(pkt)
        assert reply is not None and reply.code == rp.AccountingResponse
        auth = rp.AuthPacket(secret=SECRET.encode(), dict=load_dictionary())
        auth[1] = [b"asha\x00"]
        auth["User-Password"] = auth.PwCrypt(PASSWORD)
        reply = _Exchange(sock, radius_server.auth_port)(auth)
        assert reply is not None and reply.code == rp.AccessReject
    session = RadiusSession.objects.get()
    assert (session.acct_session_id, session.username) == ("nul-1\ufffd", "asha\ufffd")
    assert session.subscription_id is None  # not asha: a different name
    radius_server.wait_auth_logged(until=AuthLog.objects.exists)
    assert list(AuthLog.objects.values_list("username", "reason")) == [
        ("asha\ufffd", "unknown_user")
    ]
