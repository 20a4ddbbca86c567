"""Billing-run benchmark: N active subscriptions with usage billed to issued invoices.

    .venv/bin/python bench/billing_bench.py --db sqlite|postgres [--n 10000 100000] [--chunk 500]

For each N, on a fresh database (SQLite: a file in a temporary folder; PostgreSQL: the
database ``octet_bench_billing`` on postgres://postgres@127.0.0.1:5432/, dropped and
re-created):

1. setup (a child process, not measured): migrates, creates the operator (Karnataka, state
   29, Asia/Kolkata, INR, GST) and three calendar monthly plans, and bulk-inserts N
   customers (70 % in the operator's state: CGST+SGST; 30 % in other states: IGST) and N
   active subscriptions, activated 3 to 24 months before the run, bypassing the signals
   (which would bill each one at activation). Plan mix: 40 % FIBER50 (unlimited, price
   tax-inclusive), 40 % FIBER100 (500 GB, 10.00/GB over), 20 % FIBER300 (1.5 TB, tiered
   overage). Each has the history the run looks back at: usage rows for the two previous
   periods (P1, P2) and two issued invoices, for P1's fee (issued at P1's start) and for P2's
   fee plus P1's overage where there was one (issued at P2's start), made with the billing
   code's own line and document builders, numbered from the same series. ``next_bill_at``
   is the next period boundary B (00:00 local on the 1st of next month).
2. the run (another child process, so its memory figures are its own): ONE
   ``run_billing(as_of=B)``, timed; RSS sampled every 20 ms in a thread. It must issue one
   invoice per subscription: the fee for the period starting at B and, for the 30 % who went
   over their allowance in P2, an overage line. Then it checks: invoices issued == N, one
   per subscription, lines as expected (N fees, the expected overage lines with the
   expected amounts), CGST/SGST and IGST split by place of supply, numbers gapless (per
   series the sequence numbers are exactly 1..count), every ``next_bill_at`` moved to the
   following boundary. Finally it runs ``run_billing(as_of=B)`` again (nothing due: must issue
   0) and ``run_billing(as_of=B, only_due=False)`` (every subscription re-rated and compared
   with what was billed: must also issue 0), both timed.

``--phases`` times the service's steps (load_accounts, propose, _draft, _issue, _announce,
...) by wrapping them with a timer, without a profiler, and groups the SQL statements by
shape with their count and time. ``--profile`` runs the measured run under cProfile and
prints the top functions (cumulative and own time) and the same SQL table.
``--chunk`` passes ``chunk=`` to run_billing (default: the service's own).
``--pg-server-side-binding`` (an experiment) adds ``?server_side_binding=true`` to the
PostgreSQL DATABASE_URL. Each run prints the commit measured and whether src/ differs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from benchlib import ScratchDatabase, machine, out

ROOT = Path(__file__).resolve().parent.parent
PG_BENCH_DB = "octet_bench_billing"
ACTOR = "bench"
TIME_ZONE = "Asia/Kolkata"
OPERATOR_STATE = "29"
OTHER_STATES = ("27", "33", "07", "32", "36")
GB = 10**9
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- the data set (shared by setup and checks) ------------------------------------------------


def months_before(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(y, m + 1, 1)


def boundaries(today: date) -> tuple[date, date, date, date]:
    """(P1 start, P2 start, B, B + 1 month): B is the next 1st after ``today``."""
    b = months_before(today, -1)
    return months_before(b, 2), months_before(b, 1), b, months_before(b, -1)


def plan_of(i: int) -> str:
    r = i % 5
    return "FIBER50" if r < 2 else "FIBER100" if r < 4 else "FIBER300"


def state_of(i: int) -> str:
    return OPERATOR_STATE if i % 10 < 7 else OTHER_STATES[(i // 10) % len(OTHER_STATES)]


PLAN_ALLOWANCE = {"FIBER50": None, "FIBER100": 500 * GB, "FIBER300": 1500 * GB}


def over_in_p2(i: int) -> bool:
    """30 % of all subscriptions: half of those on a plan with an allowance."""
    return PLAN_ALLOWANCE[plan_of(i)] is not None and (i // 5) % 2 == 0


def over_in_p1(i: int) -> bool:
    return PLAN_ALLOWANCE[plan_of(i)] is not None and (i // 5) % 4 == 1


def usage_of(i: int, period: int) -> tuple[int, int]:
    """(download, upload) bytes of subscription i in period 1 or 2; deterministic."""
    allowance = PLAN_ALLOWANCE[plan_of(i)]
    h = (i * 2654435761 + period * 40503) % 1_000_003
    if allowance is None:
        down = (50 + h % 750) * GB + h
    elif (over_in_p1 if period == 1 else over_in_p2)(i):
        down = allowance + (1 + h % 200) * GB + h  # 1 to 200 GB over
    else:
        down = allowance * (20 + h % 70) // 100 + h
    return down, down // 9


def _r2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def expected_total(i: int) -> Decimal:
    """The run's invoice total for subscription i, computed here independently of Octet:
    the fee for the new period plus P2's overage, GST 18 % (CGST 9 % + SGST 9 % in the
    operator's state, IGST 18 % elsewhere), each tax rounded half up to the paisa."""
    plan = plan_of(i)
    if plan == "FIBER50":
        return Decimal("589.00")  # tax-inclusive price: the customer pays what was shown
    net = [Decimal("799.00") if plan == "FIBER100" else Decimal("1299.00")]
    if over_in_p2(i):
        down, _ = usage_of(i, 2)
        over = down - PLAN_ALLOWANCE[plan]
        if plan == "FIBER100":  # 10.00 per started GB
            net.append(Decimal(10 * -(-over // GB)))
        else:  # exact bytes: first 100 GB at 8.00, the rest at 6.00
            first = min(over, 100 * GB)
            net.append(_r2((Decimal(first) * 8 + Decimal(over - first) * 6) / GB))
    intra = state_of(i) == OPERATOR_STATE
    total = Decimal(0)
    for amount in net:
        tax = 2 * _r2(amount * Decimal("0.09")) if intra else _r2(amount * Decimal("0.18"))
        total += amount + tax
    return total


# -- setup (child process) ---------------------------------------------------------------------


def create_plans() -> dict:
    from octet.catalog import services as catalog
    from octet.catalog.models import Plan

    gst = catalog.tax_category_for("998422", "18")
    common = {"interval": "month", "alignment": "calendar", "tax_category": gst}
    specs = {
        "FIBER50": (
            "Fibre 50 Unlimited",
            {"price": "589.00", "tax_inclusive": True, "down_kbps": 50_000, "up_kbps": 50_000},
        ),
        "FIBER100": (
            "Fibre 100 (500 GB)",
            {
                "price": "799.00",
                "allowance_bytes": 500 * GB,
                "overage_price_per_gb": "10.00",
                "down_kbps": 100_000,
                "up_kbps": 100_000,
            },
        ),
        "FIBER300": (
            "Fibre 300 (1.5 TB)",
            {
                "price": "1299.00",
                "allowance_bytes": 1500 * GB,
                "overage_tiers": [
                    {"up_to_gb": 100, "per_gb": "8.00"},
                    {"up_to_gb": None, "per_gb": "6.00"},
                ],
                "overage_rounding": "exact",
                "down_kbps": 300_000,
                "up_kbps": 300_000,
            },
        ),
    }
    for code, (name, terms) in specs.items():
        catalog.create_plan(code=code, name=name, terms={**common, **terms}, actor=ACTOR)
    return {
        p.code: p.current_version
        for p in Plan.objects.filter(code__in=specs).prefetch_related("versions")
    }


def setup(n: int, batch: int) -> dict:
    from django.core.management import call_command
    from django.db import connection, transaction

    from octet.billing import services as billing
    from octet.billing.generator import ProposedLine
    from octet.billing.models import DocumentKind
    from octet.billing.rating import overage_charge, recurring_charge
    from octet.core import clock, secrets
    from octet.core.models import Operator
    from octet.core.periods import BillingPeriod, local_date, local_midnight
    from octet.customers.models import Customer
    from octet.metering.models import UsagePeriod
    from octet.subscriptions.lifecycle import State
    from octet.subscriptions.models import StateChange, Subscription

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    operator = Operator.current()
    operator.name = "Bench Fibernet"
    operator.legal_name = "Bench Fibernet Private Limited"
    operator.time_zone = TIME_ZONE
    operator.currency = "INR"
    operator.state_code = OPERATOR_STATE
    operator.gstin = "29AABCB1234C1Z5"
    operator.address = "12 MG Road, Bengaluru 560001"
    operator.save()
    versions = create_plans()
    terms = {code: billing.plan_terms(v) for code, v in versions.items()}
    t_migrate = time.perf_counter() - t0

    today = local_date(clock.now(), TIME_ZONE)
    p1, p2, b, _ = boundaries(today)
    period1, period2 = BillingPeriod(p1, p2), BillingPeriod(p2, b)
    b_at = local_midnight(b, TIME_ZONE)
    password = secrets.encrypt("Bench-pw-0001")  # encrypted once, reused
    now = clock.now()

    def history_lines(i: int, period: BillingPeriod, overage_of: BillingPeriod | None):
        t = terms[plan_of(i)]
        fee = recurring_charge(
            plan_code=t.code,
            plan_name=t.name,
            version=t.version,
            price=t.price,
            period=period,
            served_from=period.start,
            served_to=period.end,
            proration=t.proration,
        )
        lines = [ProposedLine(fee, fee.key, fee.key, t.tax)]
        if overage_of is not None:
            down, up = usage_of(i, 1)
            charge = overage_charge(
                used_bytes=down + (up if t.allowance_counts == "total" else 0),
                allowance_bytes=PLAN_ALLOWANCE[plan_of(i)],
                price_per_gb=None if t.overage_tiers else t.overage_price,
                rounding=t.overage_rounding,
                period_start=overage_of.start,
                period_end=overage_of.end,
                tiers=t.overage_tiers,
            )
            if charge is not None:
                lines.append(ProposedLine(charge, charge.key, charge.key, t.tax))
        return lines

    t1 = time.perf_counter()
    rows = {"customers": 0, "subscriptions": 0, "usage": 0, "history_invoices": 0}
    for first in range(0, n, batch):
        idx = range(first, min(first + batch, n))
        with transaction.atomic():
            custs = Customer.objects.bulk_create(
                [
                    Customer(
                        account_number=f"BB{i:08d}",
                        name=f"Bench Customer {i}",
                        email=f"c{i}@example.net",
                        phone=f"+9198{i:08d}",
                        state_code=state_of(i),
                        billing_address=f"{i % 900 + 1} Main Road",
                        billing_city="Bengaluru" if state_of(i) == OPERATOR_STATE else "Elsewhere",
                        billing_postal_code=f"{560001 + i % 100}",
                        created_at=now,
                        updated_at=now,
                    )
                    for i in idx
                ]
            )
            subs = []
            for i, customer in zip(idx, custs, strict=True):
                since = b_at - timedelta(days=92 + (i * 7919) % 640, hours=i % 24)
                subs.append(
                    Subscription(
                        customer=customer,
                        plan_version=versions[plan_of(i)],
                        state=State.ACTIVE,
                        username=f"bb{i:08d}",
                        password_encrypted=password,
                        created_at=since,
                        activated_at=since,
                        anchor_date=local_date(since, TIME_ZONE),
                        next_bill_at=b_at,
                    )
                )
            subs = Subscription.objects.bulk_create(subs)
            StateChange.objects.bulk_create(
                [
                    StateChange(
                        subscription=s,
                        at=s.activated_at,
                        from_state=State.PENDING,
                        to_state=State.ACTIVE,
                        reason="subscribed",
                        actor=ACTOR,
                    )
                    for s in subs
                ]
            )
            usage = []
            for i, s in zip(idx, subs, strict=True):
                for k, period in ((1, period1), (2, period2)):
                    down, up = usage_of(i, k)
                    usage.append(
                        UsagePeriod(
                            subscription=s,
                            period_start=period.start,
                            period_end=period.end,
                            download_bytes=down,
                            upload_bytes=up,
                            allowance_bytes=PLAN_ALLOWANCE[plan_of(i)],
                            updated_at=local_midnight(period.end, TIME_ZONE),
                        )
                    )
            UsagePeriod.objects.bulk_create(usage)
            rows["customers"] += len(custs)
            rows["subscriptions"] += len(subs)
            rows["usage"] += len(usage)
            # History: the invoices of P1 and P2, as the billing code builds and numbers them.
            for period, overage_of in ((period1, None), (period2, period1)):
                at = local_midnight(period.start, TIME_ZONE)
                with clock.frozen_at(at):
                    drafts = [
                        billing._draft(
                            DocumentKind.INVOICE,
                            customer,
                            s,
                            history_lines(i, period, overage_of if over_in_p1(i) else None),
                            operator=operator,
                            at=at,
                            actor=ACTOR,
                        )
                        for i, customer, s in zip(idx, custs, subs, strict=True)
                    ]
                    billing._issue(drafts, operator=operator, at=at, actor=ACTOR)
                rows["history_invoices"] += len(drafts)
    t_rows = time.perf_counter() - t1
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    active = Subscription.objects.filter(state=State.ACTIVE, next_bill_at=b_at).count()
    assert active == n, (active, n)
    connection.close()
    return {
        **rows,
        "migrate_s": round(t_migrate, 2),
        "rows_s": round(t_rows, 2),
        "as_of": b_at.isoformat(),
        "p1": p1.isoformat(),
        "p2": p2.isoformat(),
        "b": b.isoformat(),
    }


# -- the measured run (child process) ----------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class RssSampler(threading.Thread):
    def __init__(self, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.peak = rss_bytes()
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()
        self._t0 = time.perf_counter()

    def run(self) -> None:
        while not self._halt.is_set():
            value = rss_bytes()
            self.peak = max(self.peak, value)
            self.samples.append((time.perf_counter() - self._t0, value))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, rss_bytes())


class QueryStats:
    """SQL statements grouped by shape (IN lists and VALUES rows collapsed): count, time."""

    LIST = re.compile(r"\((?:%s|\?)(?:, (?:%s|\?))*\)")
    ROWS = re.compile(r"(\(\.\.\.\))(?:, \(\.\.\.\))+")

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])

    def __call__(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            shape = self.ROWS.sub(r"\1, …", self.LIST.sub("(...)", sql))
            s = self.stats[shape]
            s[0] += 1
            s[1] += time.perf_counter() - t
            s[2] += len(params) if many and params is not None else 1

    def top(self, k: int = 15) -> list[dict]:
        rows = sorted(self.stats.items(), key=lambda kv: -kv[1][1])[:k]
        return [
            {"sql": sql[:160], "count": c, "seconds": round(s, 3), "rows_or_execs": r}
            for sql, (c, s, r) in rows
        ]


class Phases:
    """Wall time spent in the billing service's steps, without a profiler: the functions
    the run calls through module globals are wrapped with a timer (about 1 µs per call)."""

    NAMES = (
        ("services", "load_accounts"),
        ("generator", "propose"),
        ("services", "_documents_for"),
        ("services", "line_taxes"),
        ("services", "invoice_totals"),
        ("services", "seller_snapshot"),
        ("services", "buyer_snapshot"),
        ("services", "_issue"),
        ("services", "_number_documents"),
        ("services", "_announce"),
        ("services", "_set_schedule"),
        # what the documents_issued receivers do in the same transaction
        ("payments", "post_documents"),
        ("journal", "store"),
        ("payments", "settle"),
        ("dunning", "plan_steps"),
        ("payments", "open_amounts"),
    )

    def __init__(self, billing) -> None:
        from octet.billing import generator
        from octet.dunning import services as dunning
        from octet.payments import journal
        from octet.payments import services as payments

        self.modules = {
            "services": billing,
            "generator": generator,
            "payments": payments,
            "journal": journal,
            "dunning": dunning,
        }
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.saved = []
        for mod, name in self.NAMES:
            module = self.modules[mod]
            fn = getattr(module, name, None)
            if fn is None:
                continue  # renamed in src: left out of the breakdown
            self.saved.append((module, name, fn))
            setattr(module, name, self._wrap(name, fn))

    def _wrap(self, name, fn):
        seconds, calls, clock = self.seconds, self.calls, time.perf_counter

        def timed(*a, **kw):
            t = clock()
            try:
                return fn(*a, **kw)
            finally:
                seconds[name] += clock() - t
                calls[name] += 1

        return timed

    def restore(self) -> None:
        for module, name, fn in self.saved:
            setattr(module, name, fn)

    def report(self) -> list[dict]:
        return [
            {"phase": name, "seconds": round(self.seconds[name], 3), "calls": self.calls[name]}
            for _, name in self.NAMES
            if name in self.calls
        ]


def measured_run(args) -> dict:
    import gc

    from django.db import connection
    from django.db.models import Count, Max, Min, Q, Sum

    from octet.billing import services as billing
    from octet.billing.models import BillingError, DocumentKind, Invoice, InvoiceLine
    from octet.core import clock
    from octet.core.periods import local_midnight
    from octet.subscriptions.models import Subscription

    info = json.loads(Path(args.setup_json).read_text())
    n = args.n[0]
    as_of = local_midnight(date.fromisoformat(info["b"]), TIME_ZONE)
    b = date.fromisoformat(info["b"])
    next_b = local_midnight(months_before(b, -1), TIME_ZONE)
    p2 = info["p2"]
    kwargs = {} if args.chunk is None else {"chunk": args.chunk}
    if args.workers > 1:
        kwargs["workers"] = args.workers

    # Warm the connection and Django's lazy setup outside the measured part.
    Subscription.objects.filter(pk=0).exists()
    before_invoices = Invoice.objects.count()

    # Per-chunk timings (the service calls _bill_chunk through the module: wrap it).
    chunk_times: list[tuple[int, float]] = []
    inner = billing._bill_chunk

    def timed_chunk(ids, **kw):
        t = time.perf_counter()
        try:
            return inner(ids, **kw)
        finally:
            chunk_times.append((len(ids), time.perf_counter() - t))

    billing._bill_chunk = timed_chunk
    phases = Phases(billing) if args.phases else None
    queries = QueryStats() if (args.profile or args.phases) else None
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    gc.collect()
    rss_before = rss_bytes()
    sampler = RssSampler()
    sampler.start()
    load_before = os.getloadavg()[0]
    with clock.frozen_at(as_of):
        cpu = time.process_time()
        t = time.perf_counter()
        if profiler is not None:
            with connection.execute_wrapper(queries):
                profiler.enable()
                run = billing.run_billing(as_of, actor=ACTOR, **kwargs)
                profiler.disable()
        elif queries is not None:
            with connection.execute_wrapper(queries):
                run = billing.run_billing(as_of, actor=ACTOR, **kwargs)
        else:
            run = billing.run_billing(as_of, actor=ACTOR, **kwargs)
        seconds = time.perf_counter() - t
        cpu = time.process_time() - cpu
    load_after = os.getloadavg()[0]
    sampler.stop()
    billing._bill_chunk = inner
    if phases is not None:
        phases.restore()
    rss_after = rss_bytes()

    # -- checks --------------------------------------------------------------------------
    checks: dict[str, object] = {}
    issued = Invoice.objects.filter(billing_run=run)
    agg = issued.aggregate(
        n=Count("id"),
        subs=Count("subscription_id", distinct=True),
        invoices=Count("id", filter=Q(kind=DocumentKind.INVOICE)),
        credit_notes=Count("id", filter=Q(kind=DocumentKind.CREDIT_NOTE)),
        not_issued=Count("id", filter=~Q(status="issued")),
        intra=Count("id", filter=Q(place_of_supply=OPERATOR_STATE)),
    )
    checks["run_status"] = run.status
    checks["run_invoices_issued"] = run.invoices_issued
    checks["run_errors"] = run.errors + BillingError.objects.filter(run=run).count()
    checks["invoices"] = agg["n"]
    checks["distinct_subscriptions"] = agg["subs"]
    checks["credit_notes"] = agg["credit_notes"]
    checks["not_issued"] = agg["not_issued"]
    expected_intra = sum(1 for i in range(n) if state_of(i) == OPERATOR_STATE)
    checks["intra_state"] = agg["intra"]
    lines = InvoiceLine.objects.filter(invoice__billing_run=run)
    by_kind = dict(lines.values_list("kind").annotate(c=Count("id")).values_list("kind", "c"))
    checks["fee_lines"] = by_kind.get("recurring", 0)
    checks["overage_lines"] = by_kind.get("overage", 0)
    checks["other_lines"] = sum(v for k, v in by_kind.items() if k not in {"recurring", "overage"})
    expected_overage = sum(1 for i in range(n) if over_in_p2(i))
    fee_period_ok = lines.filter(kind="recurring", period_start=b).count()
    overage_period_ok = lines.filter(kind="overage", period_start=p2).count()
    max_per_sub = (
        lines.values("subscription_id", "kind").annotate(c=Count("id")).aggregate(m=Max("c"))["m"]
    )
    # GST split: intra-state lines carry CGST+SGST, inter-state IGST.
    sample_intra = issued.filter(place_of_supply=OPERATOR_STATE).first()
    sample_inter = issued.exclude(place_of_supply=OPERATOR_STATE).first()
    tax_names = {}
    for label, inv in (("intra", sample_intra), ("inter", sample_inter)):
        names = set()
        if inv is not None:
            for taxes in inv.lines.values_list("taxes", flat=True):
                names |= {t["name"] for t in taxes}
        tax_names[label] = sorted(names)
    # Numbers: per series, sequence numbers exactly 1..count, and the run took one block.
    gapless = True
    for _series, count, lo, hi in (
        Invoice.objects.filter(status="issued")
        .values("series")
        .annotate(c=Count("id"), lo=Min("sequence_number"), hi=Max("sequence_number"))
        .values_list("series", "c", "lo", "hi")
    ):
        gapless &= lo == 1 and hi == count
    run_lo_hi = issued.aggregate(lo=Min("sequence_number"), hi=Max("sequence_number"))
    run_block = run_lo_hi["lo"] is not None and run_lo_hi["hi"] - run_lo_hi["lo"] + 1 == agg["n"]
    moved = Subscription.objects.filter(next_bill_at=next_b).count()
    # Amounts: every invoice's total against the independent computation.
    index_of = {
        pk: int(username[2:]) for pk, username in Subscription.objects.values_list("pk", "username")
    }
    wrong_totals = []
    grand = Decimal(0)
    for sub_id, total in issued.values_list("subscription_id", "total").iterator(chunk_size=5000):
        grand += total
        i = index_of[sub_id]
        if total != expected_total(i):
            wrong_totals.append((i, str(total), str(expected_total(i))))
    # Ledger: one invoice_issued entry per invoice of the run, debits equal to credits.
    from octet.payments.models import JournalEntry, JournalPosting

    journal_entries = JournalEntry.objects.filter(
        kind="invoice_issued", document__billing_run=run
    ).count()
    posted = JournalPosting.objects.filter(entry__document__billing_run=run).aggregate(
        dr=Sum("debit"), cr=Sum("credit"), receivable=Sum("debit", filter=Q(account="receivable"))
    )
    checks["journal_entries"] = journal_entries
    checks["journal_balanced"] = posted["dr"] == posted["cr"]
    billed_twice = (
        InvoiceLine.objects.filter(voided=False)
        .values("subscription_id", "charge_key")
        .annotate(c=Count("id"))
        .filter(c__gt=1)
        .count()
    )

    # -- re-runs: nothing due, then every subscription re-rated (only_due=False) --------------
    with clock.frozen_at(as_of):
        t = time.perf_counter()
        again = billing.run_billing(as_of, actor=ACTOR, **kwargs)
        rerun_s = time.perf_counter() - t
        t = time.perf_counter()
        full = billing.run_billing(as_of, actor=ACTOR, only_due=False, **kwargs)
        full_s = time.perf_counter() - t
    after_invoices = Invoice.objects.count()

    checks["ok"] = bool(
        run.status == "finished"
        and journal_entries == n
        and checks["journal_balanced"]
        and posted["receivable"] == grand
        and checks["run_errors"] == 0
        and agg["n"] == n
        and run.invoices_issued == n
        and agg["subs"] == n
        and agg["credit_notes"] == 0
        and agg["not_issued"] == 0
        and agg["intra"] == expected_intra
        and checks["fee_lines"] == n
        and fee_period_ok == n
        and checks["overage_lines"] == expected_overage
        and overage_period_ok == expected_overage
        and checks["other_lines"] == 0
        and max_per_sub == 1
        and tax_names["intra"] == ["CGST", "SGST"]
        and tax_names["inter"] == ["IGST"]
        and gapless
        and run_block
        and moved == n
        and billed_twice == 0
        and not wrong_totals
        and again.invoices_issued == 0
        and again.credit_notes_issued == 0
        and full.invoices_issued == 0
        and full.credit_notes_issued == 0
        and full.errors == 0
        and after_invoices == before_invoices + n
    )
    checks.update(
        expected_overage=expected_overage,
        expected_intra=expected_intra,
        fee_lines_for_period=fee_period_ok,
        overage_lines_for_p2=overage_period_ok,
        max_lines_per_sub_and_kind=max_per_sub,
        tax_names=tax_names,
        gapless_per_series=gapless,
        run_numbers_one_block=run_block,
        next_bill_at_moved=moved,
        charges_billed_twice=billed_twice,
        rerun_due=again.subscriptions_seen,
        rerun_invoices=again.invoices_issued,
        rerun_credit_notes=again.credit_notes_issued,
        full_rerun_seen=full.subscriptions_seen,
        full_rerun_invoices=full.invoices_issued,
        full_rerun_credit_notes=full.credit_notes_issued,
        full_rerun_errors=full.errors,
        invoices_total_amount=str(grand),
        wrong_totals=len(wrong_totals),
        wrong_totals_sample=wrong_totals[:5],
    )

    # Chunks: the first and last tenth of the run (does a chunk get slower as the run goes?).
    times = [s for _, s in chunk_times]
    tenth = max(1, len(times) // 10)
    result = {
        "n": n,
        "seconds": round(seconds, 3),
        "invoices_per_s": round(agg["n"] / seconds, 1) if seconds else 0,
        "us_per_subscription": round(seconds / n * 1e6, 1),
        "cpu_s": round(cpu, 3),
        "loadavg_1m_before_after": [round(load_before, 2), round(load_after, 2)],
        "chunks": len(times),
        "chunk_size": chunk_times[0][0] if chunk_times else 0,
        "chunk_s_first_tenth": round(sum(times[:tenth]) / tenth, 3) if times else 0,
        "chunk_s_last_tenth": round(sum(times[-tenth:]) / tenth, 3) if times else 0,
        "chunk_s_max": round(max(times), 3) if times else 0,
        "outside_chunks_s": round(seconds - sum(times), 3),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_peak_mb": round(sampler.peak / 2**20, 1),
        # With --workers: the largest peak RSS of the worker processes (ru_maxrss is in KiB).
        "worker_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "rss_growth_mb": round((sampler.peak - rss_before) / 2**20, 1),
        "rss_after_mb": round(rss_after / 2**20, 1),
        "rss_samples": len(sampler.samples),
        "rerun_nothing_due_s": round(rerun_s, 3),
        "rerun_all_only_due_false_s": round(full_s, 3),
        "checks": checks,
    }
    if phases is not None:
        result["phases"] = phases.report()
    if queries is not None:
        result["queries"] = queries.top(15)
        result["query_count"] = sum(int(v[0]) for v in queries.stats.values())
        result["query_seconds"] = round(sum(v[1] for v in queries.stats.values()), 3)
    if profiler is not None:
        result["profile_path"] = str(Path(args.setup_json).with_suffix(".prof"))
        profiler.dump_stats(result["profile_path"])
    connection.close()
    return result


# -- profile summary ------------------------------------------------------------------------


def print_profile(path: str, top: int = 30) -> None:
    import io
    import pstats

    for order in ("cumulative", "tottime"):
        buf = io.StringIO()
        stats = pstats.Stats(path, stream=buf)
        stats.sort_stats(order).print_stats(top)
        text = buf.getvalue()
        # Shorten paths so the listing fits.
        text = re.sub(r"/[^\s:]*/(site-packages|src|lib/python3\.\d+)/", "", text)
        out(f"-- profile sorted by {order} (top {top})")
        start = text.find("   ncalls")
        out(text[start:] if start >= 0 else text)
    buf = io.StringIO()
    stats = pstats.Stats(path, stream=buf)
    stats.sort_stats("cumulative").print_stats(r"octet/(billing|payments|dunning)", 40)
    text = re.sub(r"/[^\s:]*/(site-packages|src|lib/python3\.\d+)/", "", buf.getvalue())
    out("-- profile: octet/billing functions by cumulative time")
    start = text.find("   ncalls")
    out(text[start:] if start >= 0 else text)


# -- driver ---------------------------------------------------------------------------------


def child(phase: str, env: dict, args, n: int, setup_json: Path) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--phase",
        phase,
        "--db",
        args.db,
        "--n",
        str(n),
        "--batch",
        str(args.batch),
        "--setup-json",
        str(setup_json),
    ]
    if args.chunk is not None:
        cmd += ["--chunk", str(args.chunk)]
    if args.workers > 1:
        cmd += ["--workers", str(args.workers)]
    if args.profile:
        cmd += ["--profile"]
    if args.phases:
        cmd += ["--phases"]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        out(done.stdout)
        out(done.stderr)
        raise SystemExit(f"{phase} failed for n={n} (exit {done.returncode})")
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"{phase} printed no result:\n{done.stdout}\n{done.stderr}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    p.add_argument(
        "--n", type=int, nargs="+", default=[10_000], help="subscriptions, e.g. 10000 100000"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run_billing(workers=...): processes that rate and write chunks (memory is "
        "then sampled in the parent only; each worker holds one chunk at a time)",
    )
    p.add_argument(
        "--chunk", type=int, default=None, help="run_billing(chunk=...); default: the service's"
    )
    p.add_argument("--batch", type=int, default=5000, help="bulk_create batch size in the setup")
    p.add_argument("--profile", action="store_true", help="cProfile and SQL statistics of the run")
    p.add_argument(
        "--phases",
        action="store_true",
        help="time the service's steps and SQL statements (no profiler; about 1 µs per call)",
    )
    p.add_argument(
        "--pg-server-side-binding",
        action="store_true",
        help="experiment: PostgreSQL with OPTIONS server_side_binding=True (via DATABASE_URL)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (and the profile)"
    )
    p.add_argument("--phase", choices=["setup", "run"], help=argparse.SUPPRESS)
    p.add_argument("--setup-json", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def code_version() -> str:
    """The commit measured, and whether src/ differs from it (others may be editing)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.split("\n")
    except OSError:
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head or 'unknown'} src_changed={len(changed)}" + (
        f" ({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})" if changed else ""
    )


def django_setup() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.phase == "setup":
        django_setup()
        out("RESULT " + json.dumps(setup(args.n[0], args.batch)))
        return 0
    if args.phase == "run":
        django_setup()
        out("RESULT " + json.dumps(measured_run(args)))
        return 0

    sys.path.insert(0, str(ROOT / "src"))
    m = machine()
    out(
        f'machine nproc={m["nproc"]} cpu="{m["cpu"]}" mem_gib={m["mem_gib"]} '
        f"python={m['python']} django={m['django']} sqlite={m['sqlite']} kernel={m['kernel']}"
    )
    database = ScratchDatabase(args.db, PG_BENCH_DB)
    if args.db == "postgres":
        out(f"postgres_version={database.server_version()}")
    out(f"command {' '.join([Path(sys.executable).name, *sys.argv])}")
    out(f"code {code_version()}")
    workdir = Path(tempfile.mkdtemp(prefix="octet-billing-bench-"))
    results = []
    status = 0
    try:
        for n in args.n:
            url = database.fresh(workdir)
            if args.db == "postgres" and args.pg_server_side_binding:
                url += "?server_side_binding=true"
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "OCTET_DATA_DIR": str(workdir),
                "DJANGO_SETTINGS_MODULE": "octet.settings",
                "OCTET_LOG_LEVEL": "WARNING",
                "OCTET_TIME_ZONE": TIME_ZONE,
            }
            setup_json = workdir / f"setup-{args.db}-{n}.json"
            t = time.perf_counter()
            info = child("setup", env, args, n, setup_json)
            setup_json.write_text(json.dumps(info))
            out(
                f"setup db={args.db} n={n} seconds={time.perf_counter() - t:.1f} "
                + " ".join(f"{k}={v}" for k, v in info.items())
            )
            r = child("run", env, args, n, setup_json)
            results.append(r)
            c = r["checks"]
            out(
                f"run db={args.db} n={n} seconds={r['seconds']} "
                f"invoices_per_s={r['invoices_per_s']} "
                f"us_per_subscription={r['us_per_subscription']} bench_process_cpu_s={r['cpu_s']} "
                f"loadavg_1m={r['loadavg_1m_before_after']} chunks={r['chunks']}x{r['chunk_size']} "
                f"chunk_s_first_tenth={r['chunk_s_first_tenth']} "
                f"chunk_s_last_tenth={r['chunk_s_last_tenth']} chunk_s_max={r['chunk_s_max']} "
                f"outside_chunks_s={r['outside_chunks_s']}"
            )
            out(
                f"memory db={args.db} n={n} rss_before_mb={r['rss_before_mb']} "
                f"rss_peak_mb={r['rss_peak_mb']} rss_growth_mb={r['rss_growth_mb']} "
                f"rss_after_mb={r['rss_after_mb']} samples={r['rss_samples']} "
                f"worker_peak_rss_mb={r['worker_peak_rss_mb']}"
            )
            out(
                f"rerun db={args.db} n={n} nothing_due_s={r['rerun_nothing_due_s']} "
                f"(seen {c['rerun_due']}, issued {c['rerun_invoices']}) "
                f"only_due_false_s={r['rerun_all_only_due_false_s']} "
                f"(seen {c['full_rerun_seen']}, issued {c['full_rerun_invoices']}, "
                f"credit notes {c['full_rerun_credit_notes']}, errors {c['full_rerun_errors']})"
            )
            out(f"checks db={args.db} n={n} " + json.dumps(c, sort_keys=True))
            status |= 0 if c["ok"] else 1
            if "phases" in r:
                out(f"phases db={args.db} n={n} (wall {r['seconds']} s; nested phases overlap)")
                for ph in r["phases"]:
                    out(f"  {ph['seconds']:8.3f}s {ph['calls']:7d}x {ph['phase']}")
            if "queries" in r:
                out(
                    f"queries db={args.db} n={n} count={r['query_count']} "
                    f"seconds={r['query_seconds']} (wall {r['seconds']}"
                    f"{', profiled' if args.profile else ''}; includes the driver's "
                    "client-side parameter rendering)"
                )
                for q in r["queries"]:
                    out(f"  {q['seconds']:8.3f}s {q['count']:6d}x {q['sql']}")
            if args.profile:
                print_profile(r["profile_path"])
        database.drop()
    finally:
        if args.keep or args.profile:
            out(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    out("== summary")
    for r in results:
        out(
            f"billing_run db={args.db} n={r['n']} seconds={r['seconds']} "
            f"invoices_per_s={r['invoices_per_s']} rss_growth_mb={r['rss_growth_mb']} "
            f"rss_peak_mb={r['rss_peak_mb']} rerun_s={r['rerun_nothing_due_s']} "
            f"rerun_all_s={r['rerun_all_only_due_false_s']} "
            f"checks={'ok' if r['checks']['ok'] else 'FAILED'}"
        )
    for a, b in zip(results, results[1:], strict=False):
        if a["n"] and b["n"] != a["n"] and a["seconds"] > 0:
            k = math.log(b["seconds"] / a["seconds"]) / math.log(b["n"] / a["n"])
            out(
                f"growth db={args.db} n={a['n']}->{b['n']} time_ratio="
                f"{b['seconds'] / a['seconds']:.2f} (linear: {b['n'] / a['n']:.2f}) "
                f"exponent={k:.2f} "
                f"us_per_sub {a['us_per_subscription']}->{b['us_per_subscription']}"
            )
    out(f"machine_nproc={m['nproc']}")
    out(f'machine_cpu="{m["cpu"]}"')
    return status


if __name__ == "__main__":
    sys.exit(main())
