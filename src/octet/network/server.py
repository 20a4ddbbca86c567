"""Octet's RADIUS server: authentication (1812) and accounting (1813) over UDP.

One asyncio loop receives datagrams. Access-Requests are decided in a small thread pool
(each thread has its own database connection). Accounting-Requests go to one batching
thread that stores everything that arrived in one transaction and only after the commit
sends the Accounting-Responses, so a NAS never gets an acknowledgement for a packet that
is not durably stored (it retransmits instead).

Packets from an address that is not a registered NAS, with a bad authenticator or that
cannot be decoded are dropped and logged, never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import queue
import socket
import struct
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from pyrad import packet as rp

from octet.core import clock
from octet.metering.accounting import STATUS_BY_CODE, AccountingRecord, Status
from octet.metering.counters import Counters
from octet.network import auth, vendors

log = logging.getLogger("octet.radius")

# RFC 2865/2866/2869 attribute codes read straight from the packet (the hot path).
USER_NAME, USER_PASSWORD, CHAP_PASSWORD, FRAMED_IP = 1, 2, 3, 8
PROXY_STATE, CALLING_STATION_ID, ACCT_STATUS_TYPE, ACCT_DELAY_TIME = 33, 31, 40, 41
ACCT_INPUT_OCTETS, ACCT_OUTPUT_OCTETS, ACCT_SESSION_ID, ACCT_SESSION_TIME = 42, 43, 44, 46
ACCT_TERMINATE_CAUSE, ACCT_INPUT_GIGAWORDS, ACCT_OUTPUT_GIGAWORDS = 49, 52, 53
EVENT_TIMESTAMP, CHAP_CHALLENGE, MESSAGE_AUTHENTICATOR, NAS_PORT_ID = 55, 60, 80, 87

RECEIVE_BUFFER = 4 * 1024 * 1024  # bytes of queued datagrams per socket (SO_RCVBUF)
AUTH_LOG_BATCH, AUTH_LOG_FLUSH_SECONDS = 100, 0.05  # auth log rows per insert, and wait


@dataclass(frozen=True)
class NasEntry:
    id: int
    name: str
    secret: bytes
    vendor: str
    require_message_authenticator: bool


class NasRegistry:
    """Source address → NAS, reloaded from the database every few seconds."""

    def __init__(self, refresh_seconds: float = 10.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._exact: dict[str, NasEntry] = {}
        self._networks: list[tuple[ipaddress._BaseNetwork, NasEntry]] = []
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def load(self) -> None:
        from octet.network.models import Nas

        exact, networks = {}, []
        for nas in Nas.objects.filter(enabled=True):
            try:
                entry = NasEntry(
                    nas.id,
                    nas.name,
                    nas.secret().encode(),
                    nas.vendor,
                    nas.require_message_authenticator,
                )
            except ValueError:
                log.error("NAS %s: shared secret cannot be decrypted; ignoring it", nas.name)
                continue
            net = nas.network
            if net.num_addresses == 1:
                exact[str(net.network_address)] = entry
            else:
                networks.append((net, entry))
        networks.sort(key=lambda pair: pair[0].prefixlen, reverse=True)  # most specific first
        with self._lock:
            self._exact, self._networks = exact, networks
            self._loaded_at = time.monotonic()

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self.refresh_seconds

    def find(self, ip: str) -> NasEntry | None:
        entry = self._exact.get(ip)
        if entry is not None or not self._networks:
            return entry
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net, entry in self._networks:
            if addr in net:
                return entry
        return None


class _DropLog:
    """Log drops at most once a minute per source and reason, so a flood cannot fill the disk."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __call__(self, ip: str, reason: str) -> None:
        key, now = (ip, reason), time.monotonic()
        last = self._seen.get(key)
        if last is None or now - last > 60:
            log.warning("dropped RADIUS packet from %s: %s", ip, reason)
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > 10_000:
                self._seen.popitem(last=False)


# Raw attribute values by code: a pyrad packet (an OrderedDict) or what _parse_packet gives.
Attributes = dict[int, list[bytes]]


def _parse_packet(data: bytes) -> tuple[int, int, bytes, Attributes]:
    """Code, identifier, the packet without padding and its attributes by code.

    What pyrad's ``DecodePacket`` checks, at a fraction of its cost (the accounting hot path
    reads a dozen attributes by code): the same errors raise ``PacketError``; a
    Vendor-Specific attribute is kept raw (nothing here reads one).
    """
    if len(data) < 20:
        raise rp.PacketError("Packet header is corrupt")
    length = data[2] << 8 | data[3]
    if length < 20 or len(data) < length:
        raise rp.PacketError("Packet has invalid length")
    if length > 8192:
        raise rp.PacketError(f"Packet length is too long ({length})")
    raw = data[:length]  # RFC 2865 §3: octets beyond Length are padding
    attrs: Attributes = {}
    pos = 20
    while pos < length:
        if length - pos < 2:
            raise rp.PacketError("Attribute header is corrupt")
        attrlen = raw[pos + 1]
        if attrlen < 2:
            raise rp.PacketError(f"Attribute length is too small ({attrlen})")
        key = raw[pos]
        value = raw[pos + 2 : pos + attrlen]
        values = attrs.get(key)
        if values is None:
            attrs[key] = [value]
        else:
            values.append(value)
        pos += attrlen
    return raw[0], raw[1], raw, attrs


def _accounting_response(request: bytes, attrs: Attributes, secret: bytes) -> bytes:
    """The Accounting-Response to a verified request, with its Proxy-State attributes copied
    in order (RFC 2865 §5.33): byte for byte what pyrad's CreateReply().ReplyPacket() gives."""
    body = b"".join(bytes((PROXY_STATE, len(v) + 2)) + v for v in attrs.get(PROXY_STATE, ()))
    header = struct.pack("!BBH", rp.AccountingResponse, request[1], 20 + len(body))
    digest = hashlib.md5(header + request[4:20] + body + secret).digest()  # noqa: S324 - RFC 2866
    return header + digest + body


def _int(pkt: Attributes, code: int, default: int | None = 0) -> int | None:
    values = dict.get(pkt, code)
    if not values or len(values[0]) != 4:
        return default
    return struct.unpack("!I", values[0])[0]


def _text(pkt: Attributes, code: int) -> str:
    values = dict.get(pkt, code)
    if not values:
        return ""
    # NUL like undecodable bytes: PostgreSQL text cannot hold it (the batch would fail).
    return values[0].decode("utf-8", "replace").replace("\x00", "\ufffd")


def _ipv4(pkt: Attributes, code: int) -> str | None:
    values = dict.get(pkt, code)
    if not values or len(values[0]) != 4:
        return None
    return str(ipaddress.IPv4Address(values[0]))


class RadiusServer:
    def __init__(
        self,
        host: str | None = None,
        auth_port: int | None = None,
        acct_port: int | None = None,
        *,
        batch_max: int = 2000,
        auth_threads: int = 4,
        maintenance_interval: float = 5.0,
    ) -> None:
        self.host = host or settings.RADIUS_HOST
        self.auth_port = settings.RADIUS_AUTH_PORT if auth_port is None else auth_port
        self.acct_port = settings.RADIUS_ACCT_PORT if acct_port is None else acct_port
        self.batch_max = batch_max
        self.dictionary = vendors.load_dictionary()
        self.registry = NasRegistry()
        self.drop = _DropLog()
        self._auth_pool = ThreadPoolExecutor(auth_threads, thread_name_prefix="radius-auth")
        self._acct_queue: queue.Queue = queue.Queue()
        self._auth_log_queue: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.maintenance_interval = maintenance_interval
        self.loop: asyncio.AbstractEventLoop | None = None
        self.auth_transport: asyncio.DatagramTransport | None = None
        self.acct_transport: asyncio.DatagramTransport | None = None
        self.stats = {"auth": 0, "acct": 0, "dropped": 0, "batches": 0}
        self.auth_cache = None  # an AuthCache on PostgreSQL (octet.network.authcache)

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.loop.run_in_executor(None, self._load_registry)
        if connection.vendor == "postgresql" and settings.RADIUS_AUTH_CACHE:
            from octet.network.authcache import AuthCache
            from octet.network.services import auth_rows

            self.auth_cache = AuthCache()
            self.auth_cache.start(auth_rows)
        self.auth_transport, _ = await self.loop.create_datagram_endpoint(
            lambda: _Protocol(self, self._on_auth), local_addr=(self.host, self.auth_port)
        )
        self.acct_transport, _ = await self.loop.create_datagram_endpoint(
            lambda: _Protocol(self, self._on_acct), local_addr=(self.host, self.acct_port)
        )
        for transport in (self.auth_transport, self.acct_transport):
            # Room for a burst while the accounting thread holds the interpreter (the kernel
            # caps it at net.core.rmem_max); a datagram dropped here costs a NAS retransmit.
            with contextlib.suppress(OSError):
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.auth_port = self.auth_transport.get_extra_info("sockname")[1]
        self.acct_port = self.acct_transport.get_extra_info("sockname")[1]
        for target, name in (
            (self._accounting_worker, "radius-acct"),
            (self._auth_log_worker, "radius-authlog"),
            (self._maintenance_worker, "radius-maint"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "RADIUS listening on %s auth %d acct %d", self.host, self.auth_port, self.acct_port
        )

    def stop(self) -> None:
        self._stopping.set()
        if self.auth_cache is not None:
            self.auth_cache.stop()
        self._acct_queue.put(None)
        self._auth_log_queue.put(None)
        for transport in (self.auth_transport, self.acct_transport):
            if transport is not None:
                transport.close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._auth_pool.shutdown(wait=True)

    def _load_registry(self) -> None:
        try:
            self.registry.load()
        finally:
            connection.close()

    def _send(self, transport: asyncio.DatagramTransport, data: bytes, addr) -> None:
        # Called from worker threads: hand the write to the loop's thread.
        assert self.loop is not None
        self.loop.call_soon_threadsafe(transport.sendto, data, addr)

    def _send_all(self, transport: asyncio.DatagramTransport, replies: list) -> None:
        # A whole batch in one hand-over: one wake-up of the loop instead of one per reply.
        assert self.loop is not None
        if replies:
            self.loop.call_soon_threadsafe(_sendto_all, transport, replies)

    # -- authentication ----------------------------------------------------------------
    def _on_auth(self, data: bytes, addr) -> None:
        nas = self.registry.find(addr[0])
        if nas is None:
            self.stats["dropped"] += 1
            return self.drop(addr[0], "unknown NAS")
        cache = self.auth_cache
        if cache is not None and cache.enabled:
            # Answer in the loop's thread when the subscriber is in memory: no database
            # round trip and no hand-over to a pool thread and back.
            try:
                self._authenticate(data, addr, nas, from_memory=True)
            except Exception:
                log.exception("Access-Request from %s failed", addr[0])
            return None
        self._auth_pool.submit(self._handle_auth, data, addr, nas)

    def _handle_auth(self, data: bytes, addr, nas: NasEntry, pkt=None) -> None:
        try:
            self._authenticate(data, addr, nas, pkt=pkt)
        except Exception:
            log.exception("Access-Request from %s failed", addr[0])
            close_old_connections()

    def _decode_auth(self, data: bytes, addr, nas: NasEntry):
        """The verified Access-Request, or None (dropped and logged)."""
        try:
            pkt = rp.AuthPacket(packet=data, secret=nas.secret, dict=self.dictionary)
        except Exception as exc:  # pyrad raises several kinds for garbage
            self.stats["dropped"] += 1
            return self.drop(addr[0], f"undecodable Access-Request ({type(exc).__name__})")
        if pkt.code != rp.AccessRequest:
            self.stats["dropped"] += 1
            return self.drop(addr[0], f"code {pkt.code} on the authentication port")
        has_ma = pkt.message_authenticator is not None
        if has_ma and not pkt.verify_message_authenticator():
            self.stats["dropped"] += 1
            return self.drop(addr[0], "bad Message-Authenticator")
        if nas.require_message_authenticator and not has_ma:
            self.stats["dropped"] += 1
            return self.drop(addr[0], "Access-Request without Message-Authenticator")
        return pkt

    def _authenticate(
        self, data: bytes, addr, nas: NasEntry, *, pkt=None, from_memory: bool = False
    ) -> None:
        from octet.network.authcache import MISS
        from octet.network.services import REJECT_MESSAGES, decide, decide_row

        if pkt is None:
            pkt = self._decode_auth(data, addr, nas)
            if pkt is None:
                return
        username = _text(pkt, USER_NAME)
        check = self._credential_check(pkt)
        if not username or check is None:
            decision_reason, accept, attributes = "no_credentials", False, []
        else:
            if from_memory:
                row = self.auth_cache.get(username)
                if row is MISS:  # not in memory: the database, from a pool thread
                    self._auth_pool.submit(self._handle_auth, data, addr, nas, pkt)
                    return
                decision = decide_row(row, check, vendor=nas.vendor)
            else:
                decision = decide(username, check, vendor=nas.vendor, cache=self.auth_cache)
            decision_reason, accept, attributes = (
                decision.reason,
                decision.accept,
                decision.attributes,
            )
        reply = pkt.CreateReply()
        reply.code = rp.AccessAccept if accept else rp.AccessReject
        reply.message_authenticator = True  # RFC 3579; required by NAS hardened against BlastRADIUS
        if accept:
            for name, value in attributes:
                reply.AddAttribute(name, value)
        else:
            message = REJECT_MESSAGES.get(decision_reason, "Access denied")
            if decision_reason in ("suspended",):
                message = "Service suspended: please pay your dues or contact support"
            reply.AddAttribute("Reply-Message", message)
        if from_memory:
            self.auth_transport.sendto(reply.ReplyPacket(), addr)  # in the loop's thread
        else:
            self._send(self.auth_transport, reply.ReplyPacket(), addr)
        self.stats["auth"] += 1
        self._auth_log_queue.put(
            (
                clock.now(),
                username[:64],
                nas.id,
                "accept" if accept else "reject",
                decision_reason,
                _text(pkt, CALLING_STATION_ID)[:64],
            )
        )
        if not accept:
            log.info("Access-Reject %s from NAS %s: %s", username, nas.name, decision_reason)

    def _credential_check(self, pkt: rp.AuthPacket):
        pap = OrderedDict.get(pkt, USER_PASSWORD)
        if pap:
            try:
                given = pkt.PwDecrypt(pap[0])
            except Exception:
                return None
            return lambda stored: auth.verify_pap(stored, given)
        chap = OrderedDict.get(pkt, CHAP_PASSWORD)
        if chap:
            challenge = OrderedDict.get(pkt, CHAP_CHALLENGE)
            challenge_bytes = challenge[0] if challenge else pkt.authenticator
            return lambda stored: auth.verify_chap(stored, chap[0], challenge_bytes)
        return None

    def _auth_log_worker(self) -> None:
        from octet.network.models import AuthLog

        while not self._stopping.is_set():
            item = self._auth_log_queue.get()
            if item is None:
                break
            rows = [item]
            # Small, frequent writes: one large insert would hold the interpreter for tens
            # of milliseconds at a time, and every Access-Request in flight would wait.
            deadline = time.monotonic() + AUTH_LOG_FLUSH_SECONDS
            while len(rows) < AUTH_LOG_BATCH:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                try:
                    more = self._auth_log_queue.get(timeout=wait)
                except queue.Empty:
                    break
                if more is None:
                    self._stopping.set()
                    break
                rows.append(more)
            try:
                AuthLog.objects.bulk_create(
                    AuthLog(at=a, username=u, nas_id=n, result=r, reason=why, calling_station_id=c)
                    for a, u, n, r, why, c in rows
                )
            except Exception:
                log.exception("could not store %d auth log rows", len(rows))
                close_old_connections()
        connection.close()

    # -- accounting ----------------------------------------------------------------------
    def _on_acct(self, data: bytes, addr) -> None:
        nas = self.registry.find(addr[0])
        if nas is None:
            self.stats["dropped"] += 1
            return self.drop(addr[0], "unknown NAS")
        self._acct_queue.put((data, addr, nas, time.time()))

    def _decode_accounting(self, data: bytes, addr, nas: NasEntry, received: float):
        """((reply, record or None), None) for a packet to acknowledge, else (None, why)."""
        try:
            code, _, raw, pkt = _parse_packet(data)
        except Exception as exc:
            return None, f"undecodable Accounting-Request ({type(exc).__name__})"
        if code != rp.AccountingRequest:
            return None, f"code {code} on the accounting port"
        # RFC 2866 §3: Request Authenticator = MD5(Code+Identifier+Length+16 zero octets+
        # Attributes+Secret).
        expected = hashlib.md5(raw[:4] + bytes(16) + raw[20:] + nas.secret).digest()  # noqa: S324
        if not hmac.compare_digest(expected, raw[4:20]):
            return None, "bad Request Authenticator (wrong shared secret?)"
        reply = _accounting_response(raw, pkt, nas.secret)
        status = STATUS_BY_CODE.get(_int(pkt, ACCT_STATUS_TYPE, None))
        if status is None:
            return (reply, None), None  # e.g. Failed (15): acknowledged, nothing to count
        stamp = _int(pkt, EVENT_TIMESTAMP, None)
        if stamp is not None:
            at = datetime.fromtimestamp(stamp, UTC)
        else:
            at = datetime.fromtimestamp(received, UTC) - timedelta(
                seconds=_int(pkt, ACCT_DELAY_TIME) or 0
            )
        if clock.is_simulated():
            at = clock.now()  # scenario runs: the simulated clock is the event time
        session_id = _text(pkt, ACCT_SESSION_ID)
        if status in (Status.START, Status.INTERIM, Status.STOP) and not session_id:
            return None, "accounting without Acct-Session-Id"
        cause_name = ""
        raw_cause = dict.get(pkt, ACCT_TERMINATE_CAUSE)
        if raw_cause:
            values = self.dictionary.attributes["Acct-Terminate-Cause"].values
            cause_name = (
                values.GetBackward(raw_cause[0])
                if values.HasBackward(raw_cause[0])
                else str(_int(pkt, ACCT_TERMINATE_CAUSE))
            )
        record = AccountingRecord(
            nas_id=nas.id,
            status=status,
            at=at,
            session_id=session_id[:64],
            username=_text(pkt, USER_NAME)[:64],
            counters=Counters.from_radius(
                input_octets=_int(pkt, ACCT_INPUT_OCTETS),
                input_gigawords=_int(pkt, ACCT_INPUT_GIGAWORDS),
                output_octets=_int(pkt, ACCT_OUTPUT_OCTETS),
                output_gigawords=_int(pkt, ACCT_OUTPUT_GIGAWORDS),
            ),
            session_time=_int(pkt, ACCT_SESSION_TIME, None),
            framed_ip=_ipv4(pkt, FRAMED_IP),
            calling_station_id=_text(pkt, CALLING_STATION_ID)[:64],
            nas_port_id=_text(pkt, NAS_PORT_ID)[:64],
            terminate_cause=cause_name[:32],
        )
        return (reply, record), None

    def _accounting_worker(self) -> None:
        while True:
            item = self._acct_queue.get()
            if item is None:
                break
            items = [item]
            while len(items) < self.batch_max:
                try:
                    more = self._acct_queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._acct_queue.put(None)
                    break
                items.append(more)
            try:
                self._account(items)
            except Exception:
                # Nothing of this batch was acknowledged: the NAS retransmits and it counts then.
                log.exception("accounting batch of %d packets not stored", len(items))
                close_old_connections()
                connection.close()
                time.sleep(0.1)
        connection.close()

    def _account(self, items: list) -> None:
        from octet.metering.services import record_accounting

        replies, records = [], []
        for data, addr, nas, received in items:
            decoded, problem = self._decode_accounting(data, addr, nas, received)
            if problem:
                self.stats["dropped"] += 1
                self.drop(addr[0], problem)
                continue
            reply, record = decoded
            if record is not None:
                records.append(record)
            replies.append((reply, addr))
        record_accounting(records)  # commits; only then are the packets acknowledged
        self._send_all(self.acct_transport, replies)
        self.stats["acct"] += len(replies)
        self.stats["batches"] += 1

    # -- maintenance ---------------------------------------------------------------------
    def _maintenance_worker(self) -> None:
        from octet.network import services

        while not self._stopping.wait(self.maintenance_interval):
            try:
                if self.registry.stale():
                    self.registry.load()
                services.close_stale_sessions()
                services.restore_throttled()
                services.dispatch_coa()
            except Exception:
                log.exception("RADIUS maintenance failed")
                close_old_connections()
        connection.close()


def _sendto_all(transport: asyncio.DatagramTransport, replies: list) -> None:
    for data, addr in replies:
        transport.sendto(data, addr)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: RadiusServer, handler) -> None:
        self.server, self.handler = server, handler

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) < 20 or len(data) > 4096:
            self.server.stats["dropped"] += 1
            self.server.drop(addr[0], f"datagram of {len(data)} bytes is not RADIUS")
            return
        self.handler(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


def run(
    host: str | None = None, auth_port: int | None = None, acct_port: int | None = None
) -> None:
    """Run the RADIUS server until interrupted (``octet radius``)."""

    async def main() -> None:
        server = RadiusServer(host, auth_port, acct_port)
        await server.start()
        ports = f"auth {server.auth_port}/udp, acct {server.acct_port}/udp"
        print(f"Octet RADIUS on {server.host}: {ports}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
