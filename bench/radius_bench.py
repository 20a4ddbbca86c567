"""RADIUS load benchmark: accounting throughput and Access-Request latency.

    .venv/bin/python bench/radius_bench.py --db sqlite|postgres [--subscribers 2000] [--seconds 10]

What it does, on a fresh database (SQLite: a file in a temporary folder; PostgreSQL: the
database ``octet_bench`` on postgres://postgres@127.0.0.1:5432/, dropped and re-created):

1. migrates, creates the operator, a fair-usage plan, a MikroTik NAS on 127.0.0.1 and
   N active subscriptions with known passwords (a few through ``subscriptions.subscribe``,
   the rest bulk-inserted in the same shape, activated 40-400 days ago: real rows the
   server authenticates);
2. starts the real server as a separate process, ``octet radius --host 127.0.0.1 ...``
   with DATABASE_URL and OCTET_DATA_DIR, so the load generator does not share its GIL;
3. accounting: first a period-rollover step (every subscriber's first usage of the billing
   period, which creates its usage row; ``--rollover-rate``, reported on its own), then
   one step per offered rate (default 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000,
   10000/s; it stops at the first rate not sustained). In a step every subscriber has one
   session: Start, Interim-Updates and Stop with growing counters, pre-encoded with pyrad
   and sent open loop from 128 UDP sockets (every packet in flight has its own socket and
   identifier). Unanswered packets are retransmitted after ``--timeout`` seconds with the
   same bytes, as a NAS does. A rate is *sustained* when every packet was acknowledged
   (after retransmits), fewer than 1% needed a retransmit, the sender kept its schedule
   and the backlog (sent, not yet acknowledged) did not grow: its mean over the last
   quarter of the step is at most 1.5 times that of the second quarter plus 0.1 s of
   traffic. Afterwards it checks that nothing acknowledged was lost: every session's
   counters in RadiusSession are at least the highest counters the server acknowledged
   for it, its Stop closed it, each session is one row, and the byte totals of the
   sessions and of UsagePeriod both equal the acknowledged total;
4. authentication: PAP Access-Requests (with Message-Authenticator) at a fixed rate
   (default 1000/s) for ``--seconds``, open loop, each with its own socket and id, after
   a warm-up of 100 requests and a run at ``--auth-low-rate`` (default 100/s: an idle
   server's latency); reports p50/p95/p99/max latency (an unanswered request counts as
   infinitely slow), the answers per second and the Access-Accepts.

``--profile`` runs the server under py-spy (``.venv/bin/pip install py-spy``) and prints
the functions where the server spent its time. It changes nothing in Octet itself.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from benchlib import ScratchDatabase, machine, out

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_BENCH_DB = "octet_bench"
NAS_SECRET = "bench-shared-secret-8f3a"
ACTOR = "bench"
SOCKETS = 128  # 128 sockets x 256 identifiers: every packet in flight has its own slot

# RADIUS codes
ACCESS_ACCEPT, ACCESS_REJECT, ACCOUNTING_RESPONSE = 2, 3, 5


def password_of(i: int) -> str:
    return f"pw{i:06d}-Bench"


def username_of(i: int) -> str:
    return f"bench{i:06d}"


def set_up(subscribers: int) -> None:
    """Operator, plan, NAS and ``subscribers`` active subscriptions (in the bench process)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from octet.catalog import services as catalog
    from octet.catalog.models import GB
    from octet.core import clock
    from octet.core.models import Operator
    from octet.core.periods import local_date
    from octet.customers import services as customers
    from octet.customers.models import Customer
    from octet.network import services as network
    from octet.subscriptions import services as subscriptions
    from octet.subscriptions.lifecycle import State
    from octet.subscriptions.models import StateChange, Subscription
    from octet.subscriptions.services import operator_tz

    call_command("migrate", interactive=False, verbosity=0)
    operator = Operator.current()
    operator.name = "Bench Fibernet"
    operator.time_zone = "Asia/Kolkata"
    operator.currency = "INR"
    operator.state_code = "29"
    operator.save()
    gst = catalog.tax_category_for("998422", "18")
    # A fair-usage plan (allowance, no overage): the heaviest Access-Request path, because
    # the server checks whether this period's allowance is used up.
    plan = catalog.create_plan(
        code="BENCH150",
        name="Fibre 150 (FUP 1 TB)",
        terms={
            "price": "999.00",
            "interval": "month",
            "alignment": "calendar",
            "allowance_bytes": 1000 * GB,
            "fair_use_down_kbps": 10_000,
            "fair_use_up_kbps": 10_000,
            "down_kbps": 150_000,
            "up_kbps": 150_000,
            "tax_category": gst,
        },
        actor=ACTOR,
    )
    network.create_nas(
        name="bench-nas",
        address="127.0.0.1",
        secret=NAS_SECRET,
        vendor="mikrotik",
        actor=ACTOR,
    )
    # The first few through the real services (audit trail, state history)...
    through_services = min(subscribers, 5)
    for i in range(through_services):
        customer = customers.create_customer(
            {"name": f"Bench Customer {i}", "state_code": "29"}, actor=ACTOR
        )
        subscriptions.subscribe(
            customer, plan, username=username_of(i), password=password_of(i), actor=ACTOR
        )
    # ...the rest bulk-inserted in the same shape (active, activated, anchored, encrypted),
    # customers of an established ISP: activated 40 to 400 days ago.
    model = Subscription.objects.get(username=username_of(0))
    now = clock.now()
    tz = operator_tz()
    with transaction.atomic():
        batch = 1000
        for first in range(through_services, subscribers, batch):
            idx = range(first, min(first + batch, subscribers))
            custs = Customer.objects.bulk_create(
                Customer(
                    account_number=f"BENCH{i:07d}",
                    name=f"Bench Customer {i}",
                    state_code="29",
                    created_at=now,
                    updated_at=now,
                )
                for i in idx
            )
            subs = []
            for i, customer in zip(idx, custs, strict=True):
                since = now - timedelta(days=40 + i % 361, hours=i % 24)
                sub = Subscription(
                    customer=customer,
                    plan_version_id=model.plan_version_id,
                    state=State.ACTIVE,
                    username=username_of(i),
                    created_at=since,
                    activated_at=since,
                    anchor_date=local_date(since, tz),
                )
                sub.set_password(password_of(i))
                subs.append(sub)
            subs = Subscription.objects.bulk_create(subs)
            StateChange.objects.bulk_create(
                StateChange(
                    subscription=s,
                    at=s.activated_at,
                    from_state=State.PENDING,
                    to_state=State.ACTIVE,
                    reason="subscribed",
                    actor=ACTOR,
                )
                for s in subs
            )
    active = Subscription.objects.filter(state=State.ACTIVE).count()
    assert active == subscribers, (active, subscribers)
    connection.close()


# -- the server process ------------------------------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    log_path: Path
    auth_port: int
    acct_port: int
    profile_path: Path | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # octet radius stops cleanly on Ctrl-C
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_problems(self) -> list[str]:
        text = self.log_path.read_text(errors="replace")
        return [ln for ln in text.splitlines() if " ERROR " in ln or " WARNING " in ln]


def start_server(env: dict[str, str], workdir: Path, profile: bool) -> Server:
    auth_port, acct_port = free_udp_port(), free_udp_port()
    octet = VENV_BIN / "octet"
    cmd = [
        str(octet) if octet.exists() else sys.executable,
        *([] if octet.exists() else ["-m", "octet.cli"]),
        "radius",
        "--host",
        "127.0.0.1",
        "--auth-port",
        str(auth_port),
        "--acct-port",
        str(acct_port),
    ]
    profile_path = None
    if profile:
        spy = VENV_BIN / "py-spy"
        if not spy.exists():
            spy = Path(shutil.which("py-spy") or "")
        if not spy.is_file():
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        profile_path = workdir / "server.pyspy.txt"
        # Raw collapsed stacks, per thread, sampled 250 times a second; only the bench's
        # launch of the server changes, nothing in Octet.
        cmd = [
            str(spy),
            "record",
            "--format",
            "raw",
            "--threads",
            "--rate",
            "250",
            "--output",
            str(profile_path),
            "--",
            *cmd,
        ]
    log_path = workdir / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if "Octet RADIUS on" in log_path.read_text(errors="replace"):
            out(f"server_pid={proc.pid} auth_port={auth_port} acct_port={acct_port}")
            return Server(proc, log_path, auth_port, acct_port, profile_path)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the RADIUS server did not start; see {log_path}:\n{log_path.read_text()}")


# -- UDP client: slots, sending, receiving ---------------------------------------------------


class Client:
    """``SOCKETS`` non-blocking UDP sockets; packet k uses socket k % SOCKETS and id
    (k // SOCKETS) % 256, so a reply (socket, id) names exactly one packet in flight."""

    def __init__(self, port: int) -> None:
        self.socks = []
        self.poll = select.epoll()
        self.index_of_fd: dict[int, int] = {}
        for i in range(SOCKETS):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.bind(("127.0.0.1", 0))
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            self.socks.append(s)
            self.index_of_fd[s.fileno()] = i
            self.poll.register(s.fileno(), select.EPOLLIN)

    @staticmethod
    def slot(k: int) -> tuple[int, int]:
        return k % SOCKETS, (k // SOCKETS) % 256

    def close(self) -> None:
        self.poll.close()
        for s in self.socks:
            s.close()


def response_ok(reply: bytes, request: bytes, secret: bytes) -> bool:
    """RFC 2865 §3: Response Authenticator = MD5(Code+ID+Length+RequestAuth+Attributes+Secret)."""
    if len(reply) < 20:
        return False
    digest = hashlib.md5(reply[:4] + request[4:20] + reply[20:] + secret).digest()  # noqa: S324 - RFC 2865
    return digest == reply[4:20]


@dataclass
class Run:
    """One open-loop run: packets sent on schedule, replies matched to packets."""

    packets: list[bytes]
    rate: float
    retransmit_after: float | None  # None: never retransmit (latency run)
    drain: float  # seconds to wait for the last replies after the last send
    sent_at: list[float] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)
    code: bytearray = field(default_factory=bytearray)
    retransmits: int = 0
    stale_replies: int = 0
    bad_replies: int = 0
    slot_waits: int = 0
    lag_at_end: float = 0.0
    send_seconds: float = 0.0
    backlog: list[tuple[float, int]] = field(default_factory=list)  # (t, outstanding)

    @property
    def total(self) -> int:
        return len(self.packets)

    @property
    def answered(self) -> int:
        return sum(1 for c in self.code if c)


def run_open_loop(client: Client, run: Run, secret: bytes) -> Run:
    packets, total = run.packets, len(run.packets)
    run.sent_at = [0.0] * total
    run.answered_at = [0.0] * total
    run.code = bytearray(total)
    owner = [-1] * (SOCKETS * 256)
    socks, poll, index_of_fd = client.socks, client.poll, client.index_of_fd
    retry: collections.deque[tuple[float, int]] = collections.deque()
    interval = 1.0 / run.rate
    answered = sent = 0
    next_sample = 0.0
    perf = time.perf_counter
    start = perf() + 0.05
    deadline = None
    while True:
        now = perf()
        # 1. send what is due (open loop: the schedule does not wait for replies)
        while sent < total and start + sent * interval <= now:
            k = sent
            sock_i, ident = k % SOCKETS, (k // SOCKETS) % 256
            slot = sock_i * 256 + ident
            if owner[slot] != -1:  # the packet SOCKETS*256 earlier is still unanswered
                run.slot_waits += 1
                break
            owner[slot] = k
            with contextlib.suppress(BlockingIOError):  # like a lost datagram: sent again
                socks[sock_i].send(packets[k])
            run.sent_at[k] = now
            if run.retransmit_after is not None:
                retry.append((now + run.retransmit_after, k))
            sent += 1
        if sent == total and deadline is None:
            run.lag_at_end = now - (start + (total - 1) * interval)
            run.send_seconds = now - start
            deadline = now + run.drain
        # 2. retransmit what is overdue, same bytes (same id and authenticator)
        while retry and retry[0][0] <= now:
            _, k = retry.popleft()
            if run.code[k]:
                continue
            with contextlib.suppress(BlockingIOError):
                socks[k % SOCKETS].send(packets[k])
            run.retransmits += 1
            retry.append((now + run.retransmit_after, k))
        # 3. receive
        wait = max(0.0, min(0.002, start + sent * interval - now)) if sent < total else 0.01
        for fd, _ in poll.poll(wait):
            sock_i = index_of_fd[fd]
            sock = socks[sock_i]
            while True:
                try:
                    reply = sock.recv(4096)
                except BlockingIOError:
                    break
                t = perf()
                if len(reply) < 20:
                    run.bad_replies += 1
                    continue
                slot = sock_i * 256 + reply[1]
                k = owner[slot]
                if k < 0 or run.code[k]:
                    run.stale_replies += 1  # a second answer to a retransmitted packet
                    continue
                if not response_ok(reply, packets[k], secret):
                    run.stale_replies += 1  # answer to an earlier packet of the same slot
                    continue
                run.code[k] = reply[0]
                run.answered_at[k] = t
                owner[slot] = -1
                answered += 1
        now = perf()
        if now >= next_sample:
            run.backlog.append((now - start, sent - answered))
            next_sample = now + 0.1
        if sent == total and (answered == total or now >= deadline):
            break
    return run


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


# -- accounting --------------------------------------------------------------------------------


@dataclass
class SessionPlan:
    session_id: str
    username: str
    rounds: int
    down_step: int
    up_step: int


def counters_at(plan: SessionPlan, r: int) -> tuple[int, int]:
    """Cumulative (download, upload) bytes of the session's packet r."""
    return plan.down_step * r, plan.up_step * r


def encode_accounting(
    step: int, rate: int, seconds: float, subscribers: int, dictionary, secret: bytes
) -> tuple[list[bytes], list[tuple[int, int]], list[SessionPlan], float]:
    """One session per subscriber (fewer at low rates) with Start, Interim-Updates and Stop.

    Round r carries every session's packet r, so consecutive packets of a session are
    ``seconds / rounds`` apart and any batch the server takes mixes many sessions."""
    from pyrad import packet as rp

    rounds = max(3, round(rate * seconds / subscribers))
    n_sessions = min(subscribers, max(1, round(rate * seconds / rounds)))
    offset = (step * n_sessions) % subscribers
    rng = random.Random(step)
    plans = []
    for j in range(n_sessions):
        plans.append(
            SessionPlan(
                session_id=f"{step:02X}{j:06X}",
                username=username_of((offset + j) % subscribers),
                rounds=rounds,
                down_step=rng.randint(200_000, 40_000_000),
                up_step=rng.randint(20_000, 4_000_000),
            )
        )
    total = rounds * n_sessions
    actual_rate = total / seconds
    base = int(time.time()) + 2
    packets: list[bytes] = []
    index: list[tuple[int, int]] = []  # packet k -> (session j, round r)
    for r in range(rounds):
        status = "Start" if r == 0 else "Stop" if r == rounds - 1 else "Interim-Update"
        for j, plan in enumerate(plans):
            k = len(packets)
            _, ident = Client.slot(k)
            down, up = counters_at(plan, r)
            planned = k / actual_rate
            pkt = rp.AcctPacket(code=rp.AccountingRequest, id=ident, secret=secret, dict=dictionary)
            pkt["Acct-Status-Type"] = status
            pkt["User-Name"] = plan.username
            pkt["Acct-Session-Id"] = plan.session_id
            pkt["NAS-IP-Address"] = "127.0.0.1"
            pkt["NAS-Identifier"] = "bench-nas"
            pkt["NAS-Port-Type"] = "Ethernet"
            pkt["NAS-Port-Id"] = f"vlan{100 + j % 200}"
            pkt["Service-Type"] = "Framed-User"
            pkt["Framed-Protocol"] = "PPP"
            pkt["Calling-Station-Id"] = f"02:00:{j >> 24 & 255:02X}:{j >> 16 & 255:02X}:" + (
                f"{j >> 8 & 255:02X}:{j & 255:02X}"
            )
            pkt["Framed-IP-Address"] = f"100.{64 + (j >> 16) % 64}.{(j >> 8) & 255}.{j & 255}"
            pkt["Acct-Session-Time"] = int((k - j) / actual_rate)  # its Start was packet j
            pkt["Acct-Input-Octets"] = up % 2**32
            pkt["Acct-Input-Gigawords"] = up // 2**32
            pkt["Acct-Output-Octets"] = down % 2**32
            pkt["Acct-Output-Gigawords"] = down // 2**32
            pkt["Acct-Delay-Time"] = 0
            pkt["Event-Timestamp"] = base + int(planned)
            if status == "Stop":
                pkt["Acct-Terminate-Cause"] = "User-Request"
            packets.append(pkt.RequestPacket())
            index.append((j, r))
    return packets, index, plans, actual_rate


@dataclass
class StepResult:
    step: int
    offered: float
    run: Run
    index: list[tuple[int, int]]
    plans: list[SessionPlan]
    encode_seconds: float
    sustained: bool = False
    why: str = ""

    def latencies(self) -> list[float]:
        r = self.run
        return [a - s for a, s, c in zip(r.answered_at, r.sent_at, r.code, strict=True) if c]


def judge(step: StepResult, timeout: float) -> None:
    run, rate = step.run, step.offered
    reasons = []
    if run.answered < run.total:
        reasons.append(f"{run.total - run.answered} packets never acknowledged")
    if run.retransmits > 0.01 * run.total:
        reasons.append(f"{run.retransmits} retransmits (over 1% of packets)")
    if run.slot_waits or run.lag_at_end > 0.5:
        reasons.append(f"sending fell {run.lag_at_end:.2f}s behind schedule")
    # Backlog growth: outstanding packets in the last quarter of the sending time against
    # the second quarter (the first absorbs start-up); the allowance is 0.1 s of traffic.
    samples = [(t, n) for t, n in run.backlog if t <= run.send_seconds]
    span = run.send_seconds
    q2 = [n for t, n in samples if span * 0.25 <= t < span * 0.5]
    q4 = [n for t, n in samples if t >= span * 0.75]
    if q2 and q4:
        early, late = statistics.fmean(q2), statistics.fmean(q4)
        if late > early * 1.5 + 0.1 * rate:
            reasons.append(f"backlog grew from {early:.0f} to {late:.0f} packets")
    step.sustained = not reasons
    step.why = "; ".join(reasons) or "ok"


def accounting_step(client: Client, args, dictionary, step: int, rate: int, seconds: float):
    secret = NAS_SECRET.encode()
    t = time.perf_counter()
    packets, index, plans, offered = encode_accounting(
        step, rate, seconds, args.subscribers, dictionary, secret
    )
    encode_seconds = time.perf_counter() - t
    run = Run(packets, offered, retransmit_after=args.timeout, drain=args.drain)
    run_open_loop(client, run, secret)
    result = StepResult(step, offered, run, index, plans, encode_seconds)
    judge(result, args.timeout)
    lat = result.latencies()
    peak = max((n for _, n in run.backlog), default=0)
    out(
        f"{'accounting_rollover' if step == 0 else 'accounting_step'} db={args.db} "
        f"offered_pps={offered:.0f} sessions={len(plans)} packets={run.total} "
        f"acked={run.answered} retransmits={run.retransmits} "
        f"ack_p50_ms={percentile(lat, 50) * 1000:.1f} "
        f"ack_p99_ms={percentile(lat, 99) * 1000:.1f} "
        f"ack_max_ms={max(lat, default=0) * 1000:.1f} backlog_peak={peak} "
        f"lag_s={run.lag_at_end:.3f} sustained={'yes' if result.sustained else 'no'} "
        f"({result.why})"
    )
    return result


def accounting(server: Server, args, dictionary) -> tuple[list[StepResult], int]:
    client = Client(server.acct_port)
    results: list[StepResult] = []
    best = 0
    try:
        if args.rollover_rate:
            # Period rollover: every subscriber's first usage of the billing period (Start,
            # Interim, Stop), which creates its usage row. Reported on its own, not part of
            # the sustained figure; it is part of the none-lost check.
            seconds = 3 * args.subscribers / args.rollover_rate
            rollover = accounting_step(client, args, dictionary, 0, args.rollover_rate, seconds)
            results.append(rollover)
            time.sleep(1)
        for step, rate in enumerate(args.rates, start=1):
            result = accounting_step(client, args, dictionary, step, rate, args.seconds)
            results.append(result)
            if not result.sustained:
                if not args.keep_going:
                    break
                continue
            best = max(best, round(result.offered))
            time.sleep(1)
    finally:
        client.close()
    return results, best


def verify_accounting(results: list[StepResult]) -> dict[str, int]:
    """Compare what the server acknowledged with what is in the database."""
    from django.db import connection
    from django.db.models import Count, Sum

    from octet.metering.models import UsagePeriod
    from octet.network.models import RadiusSession

    expected: dict[str, tuple[int, int, bool]] = {}  # session -> (down, up, stop acked)
    started = 0
    for res in results:
        best_round: dict[int, int] = {}
        for k, code in enumerate(res.run.code):
            if code != ACCOUNTING_RESPONSE:
                continue
            j, r = res.index[k]
            if r > best_round.get(j, -1):
                best_round[j] = r
        started += len(res.plans)
        for j, r in best_round.items():
            plan = res.plans[j]
            down, up = counters_at(plan, r)
            expected[plan.session_id] = (down, up, r == plan.rounds - 1)
    rows = {}
    duplicates = 0
    for sid, down, up, stopped in RadiusSession.objects.values_list(
        "acct_session_id", "download_bytes", "upload_bytes", "stopped_at"
    ):
        if sid in rows:
            duplicates += 1
        rows[sid] = (down, up, stopped is not None)
    lost = short_bytes = unclosed = 0
    for sid, (down, up, stop_acked) in expected.items():
        got = rows.get(sid)
        if got is None:
            lost += 1
            short_bytes += down + up
            continue
        if got[0] < down or got[1] < up:
            lost += 1
            short_bytes += max(0, down - got[0]) + max(0, up - got[1])
        if stop_acked and not got[2]:
            unclosed += 1
    acked_down = sum(v[0] for v in expected.values())
    acked_up = sum(v[1] for v in expected.values())
    db = RadiusSession.objects.aggregate(
        n=Count("id"), down=Sum("download_bytes"), up=Sum("upload_bytes")
    )
    usage = UsagePeriod.objects.aggregate(down=Sum("download_bytes"), up=Sum("upload_bytes"))
    connection.close()
    return {
        "sessions_started": started,
        "sessions_acked": len(expected),
        "sessions_in_db": db["n"],
        "duplicate_sessions": duplicates,
        "sessions_short": lost,
        "bytes_short": short_bytes,
        "stops_not_closed": unclosed,
        "acked_bytes": acked_down + acked_up,
        "session_bytes": (db["down"] or 0) + (db["up"] or 0),
        "usage_bytes": (usage["down"] or 0) + (usage["up"] or 0),
    }


# -- authentication ----------------------------------------------------------------------------


def encode_auth(count: int, subscribers: int, dictionary, secret: bytes, seed: int) -> list[bytes]:
    from pyrad import packet as rp

    rng = random.Random(seed)
    packets = []
    for k in range(count):
        i = rng.randrange(subscribers)
        _, ident = Client.slot(k)
        pkt = rp.AuthPacket(
            code=rp.AccessRequest,
            id=ident,
            secret=secret,
            dict=dictionary,
            authenticator=rng.randbytes(16),
        )
        pkt["User-Name"] = username_of(i)
        pkt[2] = [pkt.PwCrypt(password_of(i))]  # User-Password, hidden with the secret
        pkt["NAS-IP-Address"] = "127.0.0.1"
        pkt["NAS-Identifier"] = "bench-nas"
        pkt["NAS-Port-Type"] = "Ethernet"
        pkt["NAS-Port-Id"] = f"vlan{100 + i % 200}"
        pkt["Service-Type"] = "Framed-User"
        pkt["Framed-Protocol"] = "PPP"
        pkt["Calling-Station-Id"] = f"02:00:00:00:{i >> 8 & 255:02X}:{i & 255:02X}"
        pkt.add_message_authenticator()  # what a NAS hardened against BlastRADIUS sends
        packets.append(pkt.RequestPacket())
    return packets


def auth_run(client: Client, args, dictionary, rate: float, seed: int) -> dict[str, float]:
    secret = NAS_SECRET.encode()
    count = int(rate * args.seconds)
    packets = encode_auth(count, args.subscribers, dictionary, secret, seed=seed)
    run = run_open_loop(client, Run(packets, rate, None, drain=10), secret)
    # An unanswered request counts as infinitely slow, so it cannot flatter the percentiles.
    lat = [
        (a - s) * 1000 if c else float("inf")
        for a, s, c in zip(run.answered_at, run.sent_at, run.code, strict=True)
    ]
    answered_at = [a for a, c in zip(run.answered_at, run.code, strict=True) if c]
    span = (max(answered_at) - run.sent_at[0]) if answered_at else 0.0
    return {
        "rate": rate,
        "requests": run.total,
        "answered": run.answered,
        "accept": sum(1 for c in run.code if c == ACCESS_ACCEPT),
        "reject": sum(1 for c in run.code if c == ACCESS_REJECT),
        "answered_pps": run.answered / span if span else 0.0,
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "p99": percentile(lat, 99),
        "max": max(lat, default=float("nan")),
    }


def authentication(server: Server, args, dictionary) -> list[dict[str, float]]:
    """The low rate first (an idle server), then the target rate."""
    client = Client(server.auth_port)
    results = []
    try:
        # Warm-up (not measured): every auth thread opens its database connection.
        warm = encode_auth(100, args.subscribers, dictionary, NAS_SECRET.encode(), seed=1)
        run_open_loop(client, Run(warm, 100, None, drain=30), NAS_SECRET.encode())
        rates = [r for r in (args.auth_low_rate, args.auth_rate) if r]
        for seed, rate in enumerate(rates, start=2):
            time.sleep(0.5)
            results.append(auth_run(client, args, dictionary, rate, seed))
    finally:
        client.close()
    return results


def radclient_check(server: Server) -> str:
    """One Access-Request from FreeRADIUS' radclient: an independent client agrees."""
    radclient = shutil.which("radclient")
    if not radclient:
        return "skipped (no radclient)"
    request = f'User-Name = "{username_of(0)}", User-Password = "{password_of(0)}"\n'
    done = subprocess.run(
        [radclient, "-r", "2", "-t", "3", f"127.0.0.1:{server.auth_port}", "auth", NAS_SECRET],
        input=request,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return "Access-Accept" if "Access-Accept" in done.stdout else f"FAILED: {done.stdout!r}"


# -- profile -----------------------------------------------------------------------------------


def summarize_profile(path: Path, top: int = 25) -> None:
    """Self and inclusive samples per function from py-spy's raw collapsed stacks."""
    if not path.exists():
        out(f"profile: {path} was not written")
        return
    self_count: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    per_thread: collections.Counter[str] = collections.Counter()
    total = 0
    idle = re.compile(r"\b(select|poll|epoll|_wait|wait|get|acquire|sleep|recv)\b")
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        thread = frames[0]
        leaf = frames[-1]
        if idle.search(leaf.split(" (")[0]) or leaf.startswith("_worker (concurrent/futures"):
            continue  # waiting (a pool thread's leaf is _worker while it waits), not working
        total += count
        per_thread[thread] += count
        funcs = [f.split(" (")[0] + " " + _short(f) for f in frames[1:]]
        if funcs:
            self_count[funcs[-1]] += count
        for f in set(funcs):
            incl[f] += count
    out(f"profile_samples_busy={total} (py-spy, 250 Hz, waiting frames left out)")
    for thread, n in per_thread.most_common():
        out(f"profile_thread {n * 100 / max(total, 1):5.1f}% {thread}")
    out("profile_top_self:")
    for f, n in self_count.most_common(top):
        out(f"  {n * 100 / max(total, 1):5.1f}% {f}")
    out("profile_top_inclusive:")
    for f, n in incl.most_common(top + 15):
        out(f"  {n * 100 / max(total, 1):5.1f}% {f}")


def _short(frame: str) -> str:
    m = re.search(r"\((.*)\)", frame)
    if not m:
        return ""
    where = m.group(1)
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in where:
            return where.split(marker, 1)[1]
    return where


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    p.add_argument("--subscribers", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    p.add_argument(
        "--rates",
        default="1000,2000,3000,4000,5000,6000,7000,8000,10000",
        help="accounting packets/s to offer, in order; stops at the first not sustained",
    )
    p.add_argument(
        "--rollover-rate",
        type=int,
        default=1000,
        help="packets/s of the period-rollover step before the steps (0: none)",
    )
    p.add_argument("--auth-rate", type=float, default=1000.0, help="Access-Requests/s")
    p.add_argument(
        "--auth-low-rate",
        type=float,
        default=100.0,
        help="also measure at this rate first, an idle server's latency (0: skip)",
    )
    p.add_argument("--timeout", type=float, default=1.5, help="NAS retransmit timeout, s")
    p.add_argument("--drain", type=float, default=20.0, help="wait for late answers, s")
    p.add_argument("--keep-going", action="store_true", help="try every rate even after one failed")
    p.add_argument("--skip-auth", action="store_true")
    p.add_argument("--skip-accounting", action="store_true")
    p.add_argument("--profile", action="store_true", help="run the server under py-spy")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    args.rates = [int(r) for r in args.rates.split(",") if r.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    m = machine()
    out(
        f'machine nproc={m["nproc"]} cpu="{m["cpu"]}" mem_gib={m["mem_gib"]} '
        f"python={m['python']} kernel={m['kernel']}"
    )
    out(f"command {' '.join([Path(sys.executable).name, *sys.argv])}")
    workdir = Path(tempfile.mkdtemp(prefix="octet-bench-"))
    database = ScratchDatabase(args.db, PG_BENCH_DB)
    url = database.fresh(workdir)
    if args.db == "postgres":
        out(f"postgres_version={database.server_version()}")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "OCTET_DATA_DIR": str(workdir),
        "DJANGO_SETTINGS_MODULE": "octet.settings",
        "OCTET_LOG_LEVEL": "WARNING",  # per-packet INFO lines would be part of the figure
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from octet.network import vendors

    t = time.perf_counter()
    set_up(args.subscribers)
    out(f"setup db={args.db} subscribers={args.subscribers} seconds={time.perf_counter() - t:.1f}")
    dictionary = vendors.load_dictionary()
    server = start_server(env, workdir, args.profile)
    status = 0
    try:
        out(f"radclient_check={radclient_check(server)}")
        summary: list[str] = []
        if not args.skip_accounting:
            results, best = accounting(server, args, dictionary)
            v = verify_accounting(results)
            none_lost = (
                v["sessions_short"] == 0
                and v["duplicate_sessions"] == 0
                and v["stops_not_closed"] == 0
                and v["sessions_in_db"] == v["sessions_started"]
                and v["session_bytes"] == v["acked_bytes"]
                and v["usage_bytes"] == v["session_bytes"]
            )
            out("accounting_check " + " ".join(f"{k}={n}" for k, n in v.items()))
            summary += [
                f"accounting_sustained_pps={best} db={args.db}",
                f"accounting_none_lost={'yes' if none_lost else 'NO'} db={args.db}",
            ]
            status |= 0 if none_lost else 1
        if not args.skip_auth:
            for a in authentication(server, args, dictionary):
                tag = "auth" if a["rate"] == args.auth_rate else f"auth_at{a['rate']:.0f}"
                summary += [
                    f"{tag}_rate_pps={a['rate']:.0f} db={args.db}",
                    f"{tag}_requests={a['requests']} db={args.db}",
                    f"{tag}_accept={a['accept']} db={args.db}",
                    f"{tag}_unanswered={a['requests'] - a['answered']} db={args.db}",
                    f"{tag}_answered_pps={a['answered_pps']:.0f} db={args.db}",
                    f"{tag}_p50_ms={a['p50']:.2f} db={args.db}",
                    f"{tag}_p95_ms={a['p95']:.2f} db={args.db}",
                    f"{tag}_p99_ms={a['p99']:.2f} db={args.db}",
                    f"{tag}_max_ms={a['max']:.2f} db={args.db}",
                ]
                status |= 0 if a["accept"] == a["requests"] else 1
    finally:
        server.stop()
        problems = server.log_problems()
        out(f"server_log_problems={len(problems)}")
        for line in problems[:10]:
            out(f"  {line}")
    out("== summary")
    for line in summary:
        out(line)
    out(f"machine_nproc={m['nproc']}")
    out(f'machine_cpu="{m["cpu"]}"')
    out(f"machine_python={m['python']}")
    if args.profile and server.profile_path is not None:
        summarize_profile(server.profile_path)
    if args.keep or args.profile:
        out(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
