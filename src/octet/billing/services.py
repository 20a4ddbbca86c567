"""Billing use cases: the billing run, event billing, credit notes, one-off charges, coupons.

The rules live in pure modules (:mod:`~octet.billing.rating`, :mod:`~octet.billing.tax`,
:mod:`~octet.billing.generator`); this module loads what they need in bulk, writes the
documents they propose and numbers them inside the issuing transaction.

Billing happens

* at activation (the first, partial period), at a plan change "now" (credit note for the
  old plan's unused days, invoice for the new one's) and at termination (final invoice),
  in the transaction that makes the change (signal receivers below);
* in the scheduled run (:func:`run_billing`) for every subscription whose ``next_bill_at``
  has come: the period boundary (advance fees, arrears fees, overage).

Either way only what the generator finds unbilled is issued, and the unique constraint on
(subscription, charge key) stops anything that slips through (invariant 2).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum

from octet.billing import generator, rating, signals
from octet.billing.generator import Account, BilledLine, ProposedLine, TaxInfo
from octet.billing.models import (
    BillingError,
    BillingRun,
    Coupon,
    DocumentKind,
    DocumentStatus,
    Invoice,
    InvoiceLine,
    OneOffCharge,
    SubscriptionDiscount,
)
from octet.billing.tax import TaxContext, invoice_totals, line_taxes
from octet.catalog.models import AddOn, PlanVersion
from octet.core import audit, clock, sequences
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.core.models import AuditEntry, Operator
from octet.core.money import Money
from octet.core.periods import BillingPeriod, indian_financial_year, local_date, local_midnight
from octet.core.validation import money_input, percent_input
from octet.customers.models import Customer
from octet.customers.validators import INDIAN_STATES
from octet.metering.models import UsagePeriod
from octet.notifications.models import Notification
from octet.subscriptions import services as subscriptions
from octet.subscriptions.lifecycle import State
from octet.subscriptions.models import Subscription

log = logging.getLogger(__name__)

GST_NUMBER_MAX = 16  # Rule 46(b) CGST Rules: a serial number of at most 16 characters
LOOKBACK_PERIODS = 2  # periods before the current one that a run re-examines (late usage)
CHUNK = 500  # subscriptions loaded, rated and written together in a run


# -- loading -----------------------------------------------------------------------


def _tax_info(version: PlanVersion) -> TaxInfo:
    category = version.tax_category
    return TaxInfo(
        rate=category.rate,
        sac=category.sac,
        inclusive=version.tax_inclusive,
        exempt=category.exempt,
    )


def plan_terms(
    version: PlanVersion, cache: dict[int, generator.PlanTerms] | None = None
) -> generator.PlanTerms:
    """The generator's view of a plan version; ``cache`` shares it within one load."""
    if cache is not None and version.pk in cache:
        return cache[version.pk]
    currency = version.currency

    def money(value: Decimal | None) -> Money | None:
        return None if value is None else Money(value, currency)

    terms = generator.PlanTerms(
        code=version.plan.code,
        name=version.plan.name,
        version=version.version,
        price=Money(version.price, currency),
        interval=version.interval,
        alignment=version.alignment,
        fee_timing=version.fee_timing,
        proration=version.proration,
        kind=version.plan.kind,
        setup_fee=money(version.setup_fee),
        overage_price=money(version.overage_price_per_gb),
        overage_rounding=version.overage_rounding,
        overage_tiers=None
        if version.overage_tiers is None
        else tuple((bound, Money(price, currency)) for bound, price in version.tier_prices()),
        allowance_counts=version.allowance_counts,
        prepaid_validity_days=version.prepaid_validity_days,
        tax=_tax_info(version),
    )
    if cache is not None:
        cache[version.pk] = terms
    return terms


def _window_start(segment: subscriptions.PlanSegment, today: date) -> date:
    period = segment.period(max(today, segment.start))
    for _ in range(LOOKBACK_PERIODS):
        period = segment.period(period.start - timedelta(days=1))
    return period.start


@dataclass
class _Loaded:
    subscription: Subscription
    account: Account


def _billed_lines(rows: Iterable[dict]) -> dict[int, list[BilledLine]]:
    out: dict[int, list[BilledLine]] = defaultdict(list)
    for row in rows:
        currency = row["invoice__currency"]
        amount = row["amount"] + (row["tax_amount"] if row["tax_inclusive"] else 0)
        is_credit = row["invoice__kind"] == DocumentKind.CREDIT_NOTE
        out[row["subscription_id"]].append(
            BilledLine(
                key=row["charge_key"],
                base_key=row["base_key"],
                kind=row["kind"],
                description=row["description"],
                quantity=row["quantity"],
                unit_price=Money(row["unit_price"], currency),
                amount=Money(amount, currency),
                period_start=row["period_start"],
                period_end=row["period_end"],
                document=row["invoice__against_id"] if is_credit else row["invoice_id"],
                is_credit=is_credit,
                tax=TaxInfo(
                    rate=row["tax_rate"],
                    sac=row["sac"],
                    inclusive=row["tax_inclusive"],
                    exempt=row["tax_exempt"],
                ),
            )
        )
    return out


def load_accounts(
    subscription_ids: Sequence[int], today: date, operator: Operator
) -> list[_Loaded]:
    """Everything the generator needs for these subscriptions, in a fixed number of queries."""
    tz = ZoneInfo(operator.time_zone)
    subs = list(
        Subscription.objects.filter(pk__in=subscription_ids)
        .select_related("plan_version__plan", "plan_version__tax_category", "customer")
        .order_by("pk")
    )
    ids = [s.pk for s in subs]
    changes = subscriptions.applied_changes(ids)
    timelines = {
        s.pk: subscriptions.plan_timeline(s, changes.get(s.pk, []), tz)
        for s in subs
        if s.activated_at is not None
    }
    windows = {}
    for sub in subs:
        if sub.pk not in timelines:
            continue
        segment = timelines[sub.pk][-1]
        window = _window_start(segment, today)
        if sub.next_bill_at is not None:
            # Nothing after the last run was billed, however long ago it was: catch up.
            unbilled = local_date(sub.next_bill_at, tz) - timedelta(days=1)
            window = min(window, segment.period(max(unbilled, segment.start)).start)
        windows[sub.pk] = window
    if not windows:
        return []
    earliest = min(windows.values())
    usage: dict[int, list[generator.UsageRecord]] = defaultdict(list)
    for row in UsagePeriod.objects.filter(subscription_id__in=ids, period_end__gt=earliest).values(
        "subscription_id",
        "period_start",
        "period_end",
        "download_bytes",
        "upload_bytes",
        "allowance_bytes",
    ):
        usage[row["subscription_id"]].append(
            generator.UsageRecord(
                BillingPeriod(row["period_start"], row["period_end"]),
                row["download_bytes"],
                row["upload_bytes"],
                row["allowance_bytes"],
            )
        )
    billed = _billed_lines(
        InvoiceLine.objects.filter(subscription_id__in=ids, voided=False)
        .filter(
            Q(period_end__gt=earliest)
            | Q(period_end__isnull=True)
            | Q(kind__in=["one_off", "discount"])
        )
        .values(
            "subscription_id",
            "charge_key",
            "base_key",
            "kind",
            "description",
            "quantity",
            "unit_price",
            "amount",
            "tax_amount",
            "tax_inclusive",
            "tax_exempt",
            "tax_rate",
            "sac",
            "period_start",
            "period_end",
            "invoice_id",
            "invoice__kind",
            "invoice__against_id",
            "invoice__currency",
        )
        .order_by("invoice_id", "position")
    )
    addons: dict[int, list[generator.AddOnTerms]] = defaultdict(list)
    through = Subscription.addons.through
    for link in through.objects.filter(subscription_id__in=ids).select_related(
        "addon__tax_category"
    ):
        addon: AddOn = link.addon
        category = addon.tax_category
        addons[link.subscription_id].append(
            generator.AddOnTerms(
                code=addon.code,
                name=addon.name,
                price=Money(addon.price, operator.currency),
                interval=addon.interval,
                tax=TaxInfo(rate=category.rate, sac=category.sac, exempt=category.exempt),
            )
        )
    billed_one_offs = {
        line.key.removeprefix("one_off:")
        for lines in billed.values()
        for line in lines
        if line.kind == "one_off"
    }
    one_offs: dict[int, list[generator.OneOff]] = defaultdict(list)
    for charge in OneOffCharge.objects.filter(subscription_id__in=ids).order_by("pk"):
        if str(charge.pk) in billed_one_offs:
            continue
        tax = None
        if charge.tax_rate is not None:
            tax = TaxInfo(rate=charge.tax_rate, sac=charge.sac)
        one_offs[charge.subscription_id].append(
            generator.OneOff(
                reference=str(charge.pk),
                description=charge.description,
                unit_price=Money(charge.unit_price, operator.currency),
                quantity=charge.quantity,
                day=local_date(charge.created_at, tz),
                tax=tax,
            )
        )
    discounts: dict[int, list[tuple[rating.Discount, int]]] = defaultdict(list)
    for row in SubscriptionDiscount.objects.filter(subscription_id__in=ids).order_by("pk"):
        used = len(
            {
                line.key
                for line in billed.get(row.subscription_id, [])
                if line.kind == "discount" and line.key.startswith(f"discount:{row.code}:")
            }
        )
        discounts[row.subscription_id].append(
            (
                rating.Discount(
                    code=row.code,
                    percent=row.percent,
                    amount=None if row.amount is None else Money(row.amount, operator.currency),
                    cycles=row.cycles,
                    applies_to=row.applies_to,
                ),
                used,
            )
        )

    loaded = []
    terms_cache: dict[int, generator.PlanTerms] = {}
    for sub in subs:
        timeline = timelines.get(sub.pk)
        if not timeline:
            continue
        account = Account(
            subscription_id=sub.pk,
            currency=sub.plan_version.currency,
            activated_on=local_date(sub.activated_at, tz),
            segments=tuple(
                generator.Segment(
                    plan_terms(seg.version, terms_cache), seg.start, seg.end, seg.anchor
                )
                for seg in timeline
            ),
            service_end=local_date(sub.terminated_at, tz) if sub.terminated_at else None,
            usage=tuple(usage.get(sub.pk, ())),
            billed=tuple(billed.get(sub.pk, ())),
            addons=tuple(addons.get(sub.pk, ())),
            one_offs=tuple(one_offs.get(sub.pk, ())),
            discounts=tuple(discounts.get(sub.pk, ())),
            window_start=windows[sub.pk],
            first_period_at_activation=operator.bill_first_period_at_activation,
            credit_unused_on_plan_change=operator.credit_unused_on_plan_change,
            credit_unused_on_cancel=operator.credit_unused_on_cancel,
        )
        loaded.append(_Loaded(sub, account))
    return loaded


# -- documents ---------------------------------------------------------------------


def seller_snapshot(operator: Operator) -> dict:
    return {
        "name": operator.name,
        "legal_name": operator.legal_name or operator.name,
        "address": operator.address,
        "country": operator.country,
        "state_code": operator.state_code,
        "state": INDIAN_STATES.get(operator.state_code, ""),
        "gstin": operator.gstin,
        "vat_id": operator.vat_id,
        "email": operator.email,
        "phone": operator.phone,
        "upi_id": operator.upi_id,
    }


def buyer_snapshot(customer: Customer) -> dict:
    return {
        "name": customer.name,
        "account_number": customer.account_number,
        "email": customer.email,
        "address": customer.billing_address or customer.service_address,
        "city": customer.billing_city or customer.service_city,
        "postal_code": customer.billing_postal_code or customer.service_postal_code,
        "country": customer.country,
        "state_code": customer.state_code,
        "state": INDIAN_STATES.get(customer.state_code, ""),
        "gstin": customer.gstin,
        "vat_id": customer.vat_id,
    }


def tax_context(operator: Operator, customer: Customer) -> TaxContext:
    if operator.tax_regime == "in_gst":
        supplier, place = operator.state_code, customer.state_code or operator.state_code
        business_id = customer.gstin
    else:
        supplier, place = operator.country, customer.country or operator.country
        business_id = customer.vat_id
    return TaxContext(
        regime=operator.tax_regime,
        supplier_region=supplier,
        customer_region=place,
        customer_business_id=business_id,
        exempt=customer.tax_exempt,
    )


@dataclass
class _Draft:
    invoice: Invoice
    lines: list[InvoiceLine]


def _draft(
    kind: str,
    customer: Customer,
    subscription: Subscription | None,
    lines: Sequence[ProposedLine],
    *,
    operator: Operator,
    at: datetime,
    actor: str,
    against: int | None = None,
    reason: str = "",
    run: BillingRun | None = None,
) -> _Draft:
    """An unsaved document with its lines, taxes computed line by line."""
    ctx = tax_context(operator, customer)
    currency = subscription.plan_version.currency if subscription else operator.currency
    results, rows = [], []
    notes = set()
    for position, proposed in enumerate(lines, start=1):
        charge = proposed.charge
        tax = proposed.tax
        line_ctx = ctx if not tax.exempt else TaxContext(**{**ctx.__dict__, "exempt": True})
        result = line_taxes(charge.amount, tax.rate, line_ctx, inclusive=tax.inclusive)
        if result.note:
            notes.add(result.note)
        results.append(result)
        rows.append(
            InvoiceLine(
                position=position,
                subscription=subscription,
                charge_key=proposed.key,
                base_key=proposed.base_key,
                kind=charge.kind,
                description=charge.description[:300],
                quantity=charge.quantity,
                unit_price=charge.unit_price.amount,
                amount=result.net.amount,
                period_start=charge.period_start,
                period_end=charge.period_end,
                sac=tax.sac,
                tax_rate=tax.rate,
                tax_inclusive=tax.inclusive,
                tax_exempt=tax.exempt or ctx.exempt,
                taxes=[
                    {"name": t.name, "rate": str(t.rate), "amount": str(t.amount.amount)}
                    for t in result.taxes
                ],
                tax_amount=result.tax.amount,
                total=result.total.amount,
            )
        )
    subtotal, tax_total, total = invoice_totals(results, currency=currency)
    invoice = Invoice(
        kind=kind,
        status=DocumentStatus.DRAFT,
        customer=customer,
        subscription=subscription,
        against_id=against,
        currency=currency,
        created_at=at,
        subtotal=subtotal.amount,
        tax_total=tax_total.amount,
        total=total.amount,
        tax_regime=operator.tax_regime,
        place_of_supply=ctx.customer_region,
        tax_note="; ".join(sorted(notes))[:200],
        seller=seller_snapshot(operator),
        buyer=buyer_snapshot(customer),
        reason=reason,
        billing_run=run,
        actor=actor,
    )
    return _Draft(invoice, rows)


def series_of(kind: str, operator: Operator, day: date) -> str:
    """The numbering series of a document kind (or "receipt") on ``day``, e.g. KF/25-26/."""
    template = {
        DocumentKind.INVOICE: operator.invoice_series,
        DocumentKind.CREDIT_NOTE: operator.credit_note_series,
        "receipt": operator.receipt_series,
    }[kind]
    try:
        return template.format(fy=indian_financial_year(day), year=day.year)
    except (KeyError, IndexError, ValueError) as exc:
        raise Conflict(
            f"document series {template!r} is not valid: use {{fy}} or {{year}} only",
            field="invoice_series",
        ) from exc


def _number(series: str, value: int, regime: str) -> str:
    number = f"{series}{value:06d}"
    if regime == "in_gst" and len(number) > GST_NUMBER_MAX:
        raise Conflict(
            f"document number {number!r} is longer than the {GST_NUMBER_MAX} characters GST "
            "allows: shorten the series",
            field="invoice_series",
        )
    return number


def _number_documents(invoices: Sequence[Invoice], *, operator: Operator, at: datetime) -> None:
    """Give documents their numbers and mark them issued at ``at`` (not saved here).

    Numbers come from one locked sequence row per series, taken here inside the issuing
    transaction, so they are gapless and in issue order even with several runs at once
    (the lock is held until commit; a rollback gives the numbers back).
    """
    tz = ZoneInfo(operator.time_zone)
    day = local_date(at, tz)
    by_series: dict[str, list[Invoice]] = defaultdict(list)
    for inv in invoices:
        by_series[series_of(inv.kind, operator, day)].append(inv)
    for series in sorted(by_series):  # one lock order for every writer: no deadlock
        group = by_series[series]
        _number(series, len(group), operator.tax_regime)  # refuse before taking numbers
        first = sequences.next_block(f"document:{series}", len(group))
        for offset, inv in enumerate(group):
            inv.series = series
            inv.sequence_number = first + offset
            inv.number = _number(series, first + offset, operator.tax_regime)
            inv.status = DocumentStatus.ISSUED
            inv.issued_at = at
            if inv.kind == DocumentKind.INVOICE:
                inv.due_date = day + timedelta(days=operator.payment_terms_days)


def _issue(drafts: Sequence[_Draft], *, operator: Operator, at: datetime, actor: str) -> None:
    """Number, save and announce new documents, in the caller's transaction."""
    if not drafts:
        return
    invoices = [d.invoice for d in drafts]
    _number_documents(invoices, operator=operator, at=at)
    Invoice.objects.bulk_create(invoices)
    lines = []
    for draft in drafts:
        for line in draft.lines:
            line.invoice = draft.invoice
            lines.append(line)
    InvoiceLine.objects.bulk_create(lines)
    _announce(invoices, at=at, actor=actor)
    signals.documents_issued.send(
        sender=Invoice,
        customer_ids=sorted({inv.customer_id for inv in invoices}),
        at=at,
        documents=[(d.invoice, d.lines) for d in drafts],
    )


def _announce(invoices: Sequence[Invoice], *, at: datetime, actor: str) -> None:
    """The customer's notification and the audit entry of each issued document."""
    Notification.objects.bulk_create(
        [
            Notification(
                customer_id=inv.customer_id,
                kind="invoice_issued" if inv.kind == DocumentKind.INVOICE else "credit_note_issued",
                at=at,
                context={
                    "document_id": inv.pk,
                    "number": inv.number,
                    "total": str(inv.total),
                    "currency": inv.currency,
                    "due_date": inv.due_date.isoformat() if inv.due_date else None,
                },
                dedupe_key=f"document:{inv.number}",
            )
            for inv in invoices
        ]
    )
    run = invoices[0].billing_run if len(invoices) > 1 else None
    if run is not None and all(inv.billing_run_id == run.pk for inv in invoices):
        # A billing run's chunk: one entry naming every document it issued (number,
        # customer, total), instead of hundreds of rows written under the numbering lock.
        audit.record(
            actor=actor,
            action="billing_run.documents_issued",
            instance=run,
            reason=f"billing run {run.pk} as of {run.as_of.isoformat()}",
            after={
                "documents": [
                    [inv.number, inv.kind, inv.customer_id, str(inv.total)] for inv in invoices
                ]
            },
        )
        return
    AuditEntry.objects.bulk_create(
        [
            audit.entry(
                actor=actor,
                action=f"{inv.kind}.issued",
                instance=inv,
                reason=inv.reason or "billing",
                after={
                    "number": inv.number,
                    "customer": inv.customer_id,
                    "subtotal": inv.subtotal,
                    "tax_total": inv.tax_total,
                    "total": inv.total,
                    "against": inv.against_id,
                },
            )
            for inv in invoices
        ]
    )


def _documents_for(
    loaded: _Loaded,
    proposal: generator.Proposal,
    *,
    operator: Operator,
    at: datetime,
    actor: str,
    run: BillingRun | None,
) -> list[_Draft]:
    sub = loaded.subscription
    drafts = [
        _draft(
            DocumentKind.CREDIT_NOTE,
            sub.customer,
            sub,
            lines,
            operator=operator,
            at=at,
            actor=actor,
            against=invoice_id,
            reason="unused days"
            if all(" unused" in p.charge.description for p in lines)
            else "correction",
            run=run,
        )
        for invoice_id, lines in sorted(proposal.credits.items())
    ]
    if proposal.invoice_lines:
        drafts.append(
            _draft(
                DocumentKind.INVOICE,
                sub.customer,
                sub,
                proposal.invoice_lines,
                operator=operator,
                at=at,
                actor=actor,
                run=run,
            )
        )
    return drafts


def _next_bill_at(proposal: generator.Proposal, tz: ZoneInfo) -> datetime | None:
    return None if proposal.next_bill_on is None else local_midnight(proposal.next_bill_on, tz)


def bill_subscription(
    subscription: Subscription, *, at: datetime | None = None, actor: str = "billing"
) -> list[Invoice]:
    """Bill whatever is due for one subscription now, in the caller's transaction.

    Returns the documents issued (credit notes first, then the invoice).
    """
    at = at or clock.now()
    operator = Operator.current()
    tz = ZoneInfo(operator.time_zone)
    today = local_date(at, tz)
    with transaction.atomic():
        loaded = load_accounts([subscription.pk], today, operator)
        if not loaded:
            return []
        proposal = generator.propose(loaded[0].account, today)
        drafts = _documents_for(
            loaded[0], proposal, operator=operator, at=at, actor=actor, run=None
        )
        _issue(drafts, operator=operator, at=at, actor=actor)
        Subscription.objects.filter(pk=subscription.pk).update(
            next_bill_at=_next_bill_at(proposal, tz)
        )
    return [d.invoice for d in drafts]


# -- the billing run ---------------------------------------------------------------


def due_subscription_ids(as_of: datetime, *, only_due: bool = True) -> list[int]:
    qs = Subscription.objects.exclude(state=State.PENDING).filter(activated_at__isnull=False)
    if only_due:
        qs = qs.filter(next_bill_at__lte=as_of)
    else:
        qs = qs.filter(Q(next_bill_at__isnull=False) | ~Q(state=State.TERMINATED))
    return list(qs.order_by("pk").values_list("pk", flat=True))


def next_billing_due(_after: datetime | None = None) -> datetime | None:
    """When the billing run next has work (for the scheduler and the simulation)."""
    return (
        Subscription.objects.filter(next_bill_at__isnull=False)
        .order_by("next_bill_at")
        .values_list("next_bill_at", flat=True)
        .first()
    )


def _bill_chunk(
    ids: Sequence[int],
    *,
    operator: Operator,
    at: datetime,
    today: date,
    actor: str,
    run: BillingRun,
) -> tuple[int, int, int, list[tuple[int, str]]]:
    """Rate and issue one chunk in one transaction. Returns (billed, invoices, credit notes,
    errors); an account that cannot be rated is left out and reported, the rest go on."""
    tz = ZoneInfo(operator.time_zone)
    errors: list[tuple[int, str]] = []
    drafts: list[_Draft] = []
    schedule: dict[int, datetime | None] = {}
    billed = 0
    with transaction.atomic():
        for item in load_accounts(ids, today, operator):
            try:
                proposal = generator.propose(item.account, today)
                docs = _documents_for(
                    item, proposal, operator=operator, at=at, actor=actor, run=run
                )
            except (ValueError, ArithmeticError, Conflict) as exc:
                errors.append((item.subscription.pk, f"{type(exc).__name__}: {exc}"))
                continue
            drafts.extend(docs)
            billed += bool(docs)
            schedule[item.subscription.pk] = _next_bill_at(proposal, tz)
        _issue(drafts, operator=operator, at=at, actor=actor)
        _set_schedule(schedule)
    invoices = sum(d.invoice.kind == DocumentKind.INVOICE for d in drafts)
    return billed, invoices, len(drafts) - invoices, errors


def _set_schedule(schedule: dict[int, datetime | None]) -> None:
    by_time: dict[datetime | None, list[int]] = defaultdict(list)
    for pk, when in schedule.items():
        by_time[when].append(pk)
    for when, pks in by_time.items():
        Subscription.objects.filter(pk__in=pks).update(next_bill_at=when)


def _bill_part(
    part: Sequence[int],
    *,
    operator: Operator,
    at: datetime,
    today: date,
    actor: str,
    run: BillingRun,
) -> list[tuple[int, int, int, list[tuple[int, str]]]]:
    """Bill one chunk; if it fails as a whole (another run billed one of its charges
    first), retry it account by account so that one account cannot hold up the others."""
    kwargs = {"operator": operator, "at": at, "today": today, "actor": actor, "run": run}
    try:
        return [_bill_chunk(part, **kwargs)]
    except (IntegrityError, Conflict) as exc:
        log.warning("billing chunk failed (%s); retrying account by account", exc)
    outcome = []
    for pk in part:
        try:
            outcome.append(_bill_chunk([pk], **kwargs))
        except (IntegrityError, Conflict) as one:
            outcome.append((0, 0, 0, [(pk, f"{type(one).__name__}: {one}")]))
    return outcome


def _bill_parts_in_child(args: tuple) -> list:
    """Entry point of a worker process (forked: Django and the clock are already set)."""
    parts, kwargs = args
    from django.db import connections

    try:
        run = BillingRun.objects.get(pk=kwargs.pop("run_id"))
        out = []
        for part in parts:
            out.extend(_bill_part(part, run=run, **kwargs))
        return out
    finally:
        connections.close_all()


def _in_processes(parts: list[list[int]], workers: int, **kwargs) -> list:
    """Split the chunks over ``workers`` forked processes (billing is CPU-bound Python)."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # never share a database connection across fork()
    shares = [parts[n::workers] for n in range(workers)]
    run = kwargs.pop("run")
    jobs = [(share, {**kwargs, "run_id": run.pk}) for share in shares if share]
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        results = pool.map(_bill_parts_in_child, jobs)
    return [outcome for result in results for outcome in result]


def run_billing(
    as_of: datetime | None = None,
    *,
    actor: str = "scheduler",
    only_due: bool = True,
    trigger: str = "scheduled",
    chunk: int = CHUNK,
    workers: int = 1,
) -> BillingRun:
    """Bill every subscription due by ``as_of``; safe to repeat, resume or run concurrently.

    Plan changes and cancellations due by then are applied first, so the run bills the plan
    in force. Each chunk of subscriptions commits on its own; a chunk that fails (a
    concurrent run billed the same charge first) is retried account by account, and an
    account that still fails is recorded as a BillingError while the run goes on.
    ``workers`` > 1 rates and writes the chunks in that many processes on PostgreSQL (not
    inside an open transaction, which they could not see; never on SQLite's single writer).
    """
    as_of = as_of or clock.now()
    subscriptions.apply_due_changes(as_of, actor=actor)
    operator = Operator.current()
    today = local_date(as_of, ZoneInfo(operator.time_zone))
    run = BillingRun.objects.create(
        started_at=clock.now(), as_of=as_of, actor=actor, trigger=trigger
    )
    ids = due_subscription_ids(as_of, only_due=only_due)
    run.subscriptions_seen = len(ids)
    parts = [ids[start : start + chunk] for start in range(0, len(ids), chunk)]
    kwargs = {"operator": operator, "at": as_of, "today": today, "actor": actor, "run": run}
    try:
        conn = transaction.get_connection()
        # SQLite has one writer and Octet opens its transactions IMMEDIATE: a second process
        # would only queue for the lock (and can be starved past the busy timeout).
        parallel = workers > 1 and len(parts) > 1 and conn.vendor != "sqlite"
        if parallel and not conn.in_atomic_block:
            outcomes = _in_processes(parts, workers, **kwargs)
        else:
            outcomes = [o for part in parts for o in _bill_part(part, **kwargs)]
        for billed, invoices, credit_notes, errors in outcomes:
            run.subscriptions_billed += billed
            run.invoices_issued += invoices
            run.credit_notes_issued += credit_notes
            run.errors += len(errors)
            BillingError.objects.bulk_create(
                [
                    BillingError(run=run, subscription_id=pk, at=clock.now(), message=msg)
                    for pk, msg in errors
                ]
            )
            for pk, msg in errors:
                log.error("billing run %s: subscription %s not billed: %s", run.pk, pk, msg)
        run.status = BillingRun.Status.FINISHED
    except Exception:
        run.status = BillingRun.Status.FAILED
        raise
    finally:
        run.finished_at = clock.now()
        run.save()
    return run


# -- signal receivers: billing at activation, plan change, termination --------------


def on_state_changed(sender, subscription: Subscription, previous: str, target: str, **kwargs):
    first_activation = target == State.ACTIVE and previous == State.PENDING
    if first_activation:
        start_prepaid_validity(subscription, clock.now())
    if first_activation or target == State.TERMINATED:
        bill_subscription(subscription, actor="billing")


def on_plan_changed(sender, subscription: Subscription, change, **kwargs):
    from octet.notifications.services import notify

    # The customer hears of the change before the documents it causes.
    notify(
        subscription.customer_id,
        "plan_changed",
        context={
            "from": str(change.from_version),
            "to": str(change.to_version),
            "change_id": change.pk,
        },
        dedupe_key=f"plan_changed:{change.pk}",
    )
    bill_subscription(subscription, actor="billing")


# -- staff actions ------------------------------------------------------------------


def credited_total(invoice: Invoice) -> Money:
    total = Money.zero(invoice.currency)
    for value in invoice.credit_notes.filter(status=DocumentStatus.ISSUED).values_list(
        "total", flat=True
    ):
        total = total + Money(value, invoice.currency)
    return total


@transaction.atomic
def issue_credit_note(
    invoice: Invoice, amount: object, *, reason: str, actor: str, at: datetime | None = None
) -> Invoice:
    """A credit note of ``amount`` (tax included) against an issued invoice.

    The amount is spread over the invoice's lines in proportion to their totals (largest
    remainder), and each part is split into net and tax at that line's rate, so the credit
    mirrors the invoice. Refused if it would credit more than what is left to credit.
    """
    at = at or clock.now()
    if not reason.strip():
        raise InvalidInput("a credit note needs a reason", field="reason")
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.kind != DocumentKind.INVOICE or invoice.status != DocumentStatus.ISSUED:
        raise Conflict(f"{invoice} is not an issued invoice", field="invoice")
    gross = money_input(amount, invoice.currency, "amount")
    if not gross.is_positive():
        raise InvalidInput("the amount must be positive", field="amount")
    credited = credited_total(invoice)
    # What was written off as bad debt is no longer owed: crediting it would relieve the
    # same debt twice (payments imports billing, so its model is looked up here).
    from octet.payments.models import WriteOff

    written_off = WriteOff.objects.filter(invoice=invoice).aggregate(t=Sum("amount"))["t"]
    left = Money(invoice.total, invoice.currency) - credited
    if written_off:
        left = left - Money(written_off, invoice.currency)
    if gross > left:
        raise Conflict(
            f"{invoice.number} has only {left} left to credit, not {gross}", field="amount"
        )
    lines = list(invoice.lines.filter(total__gt=0).order_by("position"))
    if not lines:
        raise Conflict(f"{invoice.number} has nothing to credit", field="invoice")
    weights = [Money(line.total, invoice.currency).to_minor_units() for line in lines]
    parts = gross.allocate(weights)
    key_base = f"manual:{invoice.pk}:{credited.to_minor_units()}:{at.isoformat()}"
    proposed = []
    for n, (line, part) in enumerate(zip(lines, parts, strict=True), start=1):
        if part.is_zero():
            continue
        key = f"{key_base}:{n}"
        proposed.append(
            ProposedLine(
                charge=rating.Charge(
                    kind="credit",
                    key=key,
                    description=f"Credit: {line.description}"[:300],
                    quantity="1",
                    unit_price=part,
                    amount=part,
                    period_start=line.period_start,
                    period_end=line.period_end,
                ),
                key=key,
                base_key=key,  # its own family: never mistaken for a billing correction
                tax=TaxInfo(
                    rate=line.tax_rate, sac=line.sac, inclusive=True, exempt=line.tax_exempt
                ),
                against=invoice.pk,
            )
        )
    operator = Operator.current()
    draft = _draft(
        DocumentKind.CREDIT_NOTE,
        invoice.customer,
        invoice.subscription,
        proposed,
        operator=operator,
        at=at,
        actor=actor,
        against=invoice.pk,
        reason=reason,
    )
    _issue([draft], operator=operator, at=at, actor=actor)
    return draft.invoice


@transaction.atomic
def draft_invoice(
    customer: Customer,
    lines: Sequence[dict],
    *,
    actor: str,
    subscription: Subscription | None = None,
    reason: str = "",
) -> Invoice:
    """A manual invoice kept as a draft for review: it has no number until issued.

    Each line: description, unit_price, quantity (default 1), tax_rate (default the
    subscription's plan's, else 0), sac.
    """
    operator = Operator.current()
    currency = subscription.plan_version.currency if subscription else operator.currency
    if not lines:
        raise InvalidInput("an invoice needs at least one line", field="lines")
    now = clock.now()
    proposed = []
    for n, line in enumerate(lines, start=1):
        description = str(line.get("description", "")).strip()
        if not description:
            raise InvalidInput(f"line {n} needs a description", field=f"lines[{n}].description")
        quantity = line.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidInput(f"line {n}: quantity must be a whole number of at least 1")
        price = money_input(line.get("unit_price"), currency, f"lines[{n}].unit_price")
        if price.is_negative():
            raise InvalidInput(f"line {n}: a price cannot be negative: issue a credit note")
        if "tax_rate" in line:
            rate = percent_input(line["tax_rate"], f"lines[{n}].tax_rate")
            sac = str(line.get("sac", ""))
        elif subscription is not None:
            tax = plan_terms(subscription.plan_version).tax
            rate, sac = tax.rate, line.get("sac", tax.sac)
        else:
            rate, sac = Decimal(0), str(line.get("sac", ""))
        key = f"manual:{customer.pk}:{now.isoformat()}:{n}"
        charge = rating.Charge(
            kind="one_off",
            key=key,
            description=description,
            quantity=str(quantity),
            unit_price=price,
            amount=price.multiply(quantity),
        )
        proposed.append(ProposedLine(charge, key, key, TaxInfo(rate=rate, sac=sac)))
    try:
        draft = _draft(
            DocumentKind.INVOICE,
            customer,
            subscription,
            proposed,
            operator=operator,
            at=now,
            actor=actor,
            reason=reason,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), field="lines") from exc
    draft.invoice.save()
    for line in draft.lines:
        line.invoice = draft.invoice
    InvoiceLine.objects.bulk_create(draft.lines)
    audit.record(actor=actor, action="invoice.drafted", instance=draft.invoice, reason=reason)
    return draft.invoice


@transaction.atomic
def issue_draft(invoice: Invoice, *, actor: str) -> Invoice:
    """Issue a draft: it gets its number now, in this transaction, and never changes again."""
    inv = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if inv.status != DocumentStatus.DRAFT:
        raise Conflict(f"{inv} is {inv.status}, not a draft", field="status")
    operator = Operator.current()
    now = clock.now()
    _number_documents([inv], operator=operator, at=now)
    inv.seller = seller_snapshot(operator)
    inv.buyer = buyer_snapshot(inv.customer)
    inv.save()
    _announce([inv], at=now, actor=actor)
    signals.documents_issued.send(
        sender=Invoice,
        customer_ids=[inv.customer_id],
        at=now,
        documents=[(inv, list(inv.lines.filter(voided=False)))],
    )
    return inv


@transaction.atomic
def void_draft(invoice: Invoice, *, reason: str, actor: str) -> Invoice:
    """Void a draft (never an issued document: that takes a credit note)."""
    if not reason.strip():
        raise InvalidInput("voiding needs a reason", field="reason")
    inv = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if inv.status != DocumentStatus.DRAFT:
        raise Conflict(
            f"{inv} is {inv.status}: only a draft can be voided; issue a credit note instead",
            field="status",
        )
    before = audit.snapshot(inv)
    inv.lines.update(voided=True)  # their charges may be billed again
    inv.status = DocumentStatus.VOID
    inv.save()
    audit.record(actor=actor, action="invoice.voided", instance=inv, reason=reason, before=before)
    return inv


@transaction.atomic
def add_one_off_charge(
    subscription: Subscription,
    *,
    description: str,
    unit_price: object,
    quantity: int = 1,
    actor: str,
    reason: str = "",
    bill_now: bool = False,
) -> OneOffCharge:
    """A charge for the next invoice (or an invoice now with ``bill_now``)."""
    if not description.strip():
        raise InvalidInput("a one-off charge needs a description", field="description")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InvalidInput("quantity must be a whole number of at least 1", field="quantity")
    price = money_input(unit_price, subscription.plan_version.currency, "unit_price")
    if price.is_negative():
        raise InvalidInput("a charge cannot be negative: issue a credit note", field="unit_price")
    if subscription.state == State.TERMINATED and not bill_now:
        raise Conflict("the subscription is terminated: bill the charge now", field="bill_now")
    charge = OneOffCharge.objects.create(
        subscription=subscription,
        description=description.strip(),
        unit_price=price.amount,
        quantity=quantity,
        created_at=clock.now(),
        created_by=actor,
        reason=reason,
    )
    audit.record(actor=actor, action="one_off_charge.created", instance=charge, reason=reason)
    if bill_now:
        bill_subscription(subscription, actor=actor)
    return charge


@transaction.atomic
def apply_coupon(subscription: Subscription, code: str, *, actor: str) -> SubscriptionDiscount:
    """Apply a coupon to a subscription (once); it reduces the next invoices."""
    coupon = Coupon.objects.select_for_update().filter(code=code.strip().upper()).first()
    if coupon is None or not coupon.active:
        raise NotFound(f"no active coupon {code!r}", field="code")
    today = local_date(clock.now(), subscriptions.operator_tz())
    if coupon.valid_until and today > coupon.valid_until:
        raise Conflict(f"coupon {coupon.code} expired on {coupon.valid_until}", field="code")
    used = SubscriptionDiscount.objects.filter(coupon=coupon).count()
    if coupon.max_redemptions is not None and used >= coupon.max_redemptions:
        raise Conflict(f"coupon {coupon.code} has been used up", field="code")
    if SubscriptionDiscount.objects.filter(subscription=subscription, code=coupon.code).exists():
        raise Conflict(f"coupon {coupon.code} is already applied", field="code")
    discount = SubscriptionDiscount.objects.create(
        subscription=subscription,
        coupon=coupon,
        code=coupon.code,
        percent=coupon.percent,
        amount=coupon.amount,
        cycles=coupon.cycles,
        applies_to=coupon.applies_to,
        created_at=clock.now(),
        created_by=actor,
    )
    audit.record(actor=actor, action="discount.applied", instance=discount, reason="coupon")
    return discount


@transaction.atomic
def renew_prepaid(subscription: Subscription, *, actor: str) -> Invoice:
    """A prepaid recharge: an invoice for one more validity, extending the expiry.

    Renewing before expiry extends from the current expiry (no paid day is lost). Asking
    twice for the same renewal bills it once: the charge key is the validity's first day.
    """
    subscriptions.locked(subscription.pk)  # customer first, then the subscription
    sub = Subscription.objects.select_related("plan_version__plan").get(pk=subscription.pk)
    terms = plan_terms(sub.plan_version)
    if terms.kind != "prepaid":
        raise Conflict(f"{terms.code} is not a prepaid plan", field="plan")
    if sub.state == State.TERMINATED:
        raise Conflict("a terminated subscription cannot be renewed", field="state")
    now = clock.now()
    tz = subscriptions.operator_tz()
    base = max(now, sub.prepaid_expires_at or now)
    start = local_date(base, tz)
    charge = generator.prepaid_charge(terms, start)
    before = audit.snapshot(sub)
    sub.prepaid_expires_at = rating.prepaid_validity(
        now, terms.prepaid_validity_days or 0, current_expiry=sub.prepaid_expires_at
    )
    sub.save(update_fields=["prepaid_expires_at"])
    audit.record(
        actor=actor,
        action="subscription.prepaid_renewed",
        instance=sub,
        reason="recharge",
        before=before,
    )
    operator = Operator.current()
    draft = _draft(
        DocumentKind.INVOICE,
        sub.customer,
        sub,
        [ProposedLine(charge, charge.key, charge.key, terms.tax)],
        operator=operator,
        at=now,
        actor=actor,
    )
    try:
        with transaction.atomic():
            _issue([draft], operator=operator, at=now, actor=actor)
    except IntegrityError as exc:
        raise Conflict("this renewal has already been billed", field="subscription") from exc
    return draft.invoice


def start_prepaid_validity(subscription: Subscription, at: datetime) -> None:
    """At activation of a prepaid plan: the first validity runs from now."""
    terms = plan_terms(subscription.plan_version)
    if terms.kind != "prepaid" or subscription.prepaid_expires_at is not None:
        return
    expires = rating.prepaid_validity(at, terms.prepaid_validity_days or 0)
    Subscription.objects.filter(pk=subscription.pk).update(prepaid_expires_at=expires)
    subscription.prepaid_expires_at = expires
