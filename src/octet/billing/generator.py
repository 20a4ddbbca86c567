"""What a subscription should have been billed, minus what it was: the lines to issue now.

Pure: no Django, no database, no clock. The service layer loads an :class:`Account` (plan
segments, usage per period, lines already billed) and issues what :func:`propose` returns.

The method is Kill Bill's: compute every charge that *should* exist up to ``today`` within a
look-back window, then compare with what *was* billed, family by family (a family is one
charge and the lines that later corrected it, all sharing its ``base_key``):

* a charge never billed is billed;
* a recurring fee billed for more days than the service now covers (a plan change or a
  cancellation since) gets a credit note for the unused days, once;
* an amount that grew (late usage after the overage was billed) gets a line for the
  difference; one that shrank gets a credit for it.

Re-running with the same inputs proposes nothing, so a billing run that crashed anywhere can
simply be run again (invariant 2).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from octet.billing import rating
from octet.core.money import Money, sum_money
from octet.core.periods import Alignment, BillingPeriod, Interval, period_containing

__all__ = [
    "Account",
    "AddOnTerms",
    "BilledLine",
    "OneOff",
    "PlanTerms",
    "Proposal",
    "ProposedLine",
    "Segment",
    "TaxInfo",
    "UsageRecord",
    "propose",
]

_FAR = date.max


@dataclass(frozen=True)
class TaxInfo:
    rate: Decimal
    sac: str = ""
    inclusive: bool = False  # the price includes the tax
    exempt: bool = False


@dataclass(frozen=True)
class PlanTerms:
    """The billing terms of one plan version."""

    code: str
    name: str
    version: int
    price: Money
    interval: str  # month | quarter | year
    alignment: str  # calendar | anniversary
    fee_timing: str = "advance"  # advance | arrears
    proration: str = "daily"  # daily | none
    kind: str = "postpaid"  # postpaid | prepaid
    setup_fee: Money | None = None
    overage_price: Money | None = None
    overage_rounding: str = "up"
    overage_tiers: tuple[tuple[int | None, Money], ...] | None = None
    allowance_counts: str = "download"  # download | total
    prepaid_validity_days: int | None = None
    tax: TaxInfo = TaxInfo(Decimal(0))


@dataclass(frozen=True)
class Segment:
    """A plan version in force over ``[start, end)`` (end None: still in force)."""

    terms: PlanTerms
    start: date
    end: date | None
    anchor: date

    def period(self, day: date) -> BillingPeriod:
        return period_containing(
            day, Interval(self.terms.interval), Alignment(self.terms.alignment), self.anchor
        )


@dataclass(frozen=True)
class UsageRecord:
    """The usage of one billing period as metering stored it, with its allowance."""

    period: BillingPeriod
    download_bytes: int
    upload_bytes: int
    allowance_bytes: int | None


@dataclass(frozen=True)
class AddOnTerms:
    code: str
    name: str
    price: Money  # per ``interval``
    interval: str
    tax: TaxInfo


@dataclass(frozen=True)
class OneOff:
    reference: str  # the OneOffCharge's id: one line per record, ever
    description: str
    unit_price: Money
    quantity: int
    day: date
    tax: TaxInfo | None = None  # None: the plan's


@dataclass(frozen=True)
class BilledLine:
    """A line already on an issued (or draft) document."""

    key: str
    base_key: str
    kind: str
    description: str
    quantity: str
    unit_price: Money
    amount: Money  # positive; ``is_credit`` says which way
    period_start: date | None
    period_end: date | None
    document: int  # the invoice (or credit note) id
    is_credit: bool
    tax: TaxInfo


@dataclass(frozen=True)
class Account:
    """Everything the bill of one subscription depends on."""

    subscription_id: int
    currency: str
    activated_on: date
    segments: tuple[Segment, ...]
    service_end: date | None = None  # first day without service (termination)
    usage: tuple[UsageRecord, ...] = ()
    billed: tuple[BilledLine, ...] = ()
    addons: tuple[AddOnTerms, ...] = ()
    one_offs: tuple[OneOff, ...] = ()
    discounts: tuple[tuple[rating.Discount, int], ...] = ()  # (discount, cycles used)
    window_start: date | None = None  # periods ending before this are settled
    first_period_at_activation: bool = True
    credit_unused_on_plan_change: bool = True
    credit_unused_on_cancel: bool = True


@dataclass(frozen=True)
class ProposedLine:
    charge: rating.Charge
    key: str  # this line's own charge key
    base_key: str  # the family it bills or corrects
    tax: TaxInfo
    against: int | None = None  # credit lines: the invoice that billed the charge


@dataclass
class Proposal:
    invoice_lines: list[ProposedLine] = field(default_factory=list)
    credits: dict[int, list[ProposedLine]] = field(default_factory=dict)  # by invoice id
    next_bill_on: date | None = None

    @property
    def empty(self) -> bool:
        return not self.invoice_lines and not self.credits


@dataclass(frozen=True)
class _Should:
    charge: rating.Charge
    tax: TaxInfo
    period: BillingPeriod | None = None  # recurring fees: the billing period
    terms: PlanTerms | None = None


def _months(interval: str) -> int:
    return Interval(interval).months


def _segment_periods(
    seg: Segment, first: date, seg_end: date, today: date
) -> list[tuple[BillingPeriod, date, date]]:
    """(period, served from, served to) for each period of ``seg`` from ``first`` that has
    started by ``today``."""
    out = []
    period = seg.period(first)
    while period.start <= today and period.start < seg_end:
        out.append((period, max(period.start, seg.start), min(period.end, seg_end)))
        period = seg.period(period.end)
    return out


def _fees(account: Account, today: date, window: date) -> list[_Should]:
    service_end = account.service_end or _FAR
    should: list[_Should] = []
    for seg in account.segments:
        terms = seg.terms
        seg_end = min(seg.end or _FAR, service_end)
        first = max(seg.start, window)
        if terms.kind == "prepaid" or first >= seg_end:
            continue
        for period, served_from, served_to in _segment_periods(seg, first, seg_end, today):
            ended = served_to <= today
            if terms.fee_timing == "arrears":
                due = ended
            else:
                partial_first = period.start < account.activated_on and period.contains(
                    account.activated_on
                )
                due = ended or not partial_first or account.first_period_at_activation
                due = due or period.end <= today
            if not due:
                continue
            fee = rating.recurring_charge(
                plan_code=terms.code,
                plan_name=terms.name,
                version=terms.version,
                price=terms.price,
                period=period,
                served_from=served_from,
                served_to=served_to,
                proration=terms.proration,
            )
            if fee is not None:
                should.append(_Should(fee, terms.tax, period, terms))
            for addon in account.addons:
                price = addon.price.multiply(
                    Fraction(_months(terms.interval), _months(addon.interval))
                )
                charge = rating.recurring_charge(
                    plan_code=addon.code,
                    plan_name=addon.name,
                    version=0,
                    price=price,
                    period=period,
                    served_from=served_from,
                    served_to=served_to,
                    proration=terms.proration,
                    kind="addon",
                )
                if charge is not None:
                    addon_terms = replace(terms, code=addon.code, name=addon.name, version=0)
                    should.append(_Should(charge, addon.tax, period, addon_terms))
    return should


def _terms_on(account: Account, day: date) -> PlanTerms:
    terms = account.segments[0].terms
    for seg in account.segments:
        if seg.start <= day:
            terms = seg.terms
    return terms


def _overage(account: Account, today: date, window: date) -> list[_Should]:
    service_end = account.service_end or _FAR
    should = []
    for usage in account.usage:
        served_to = min(usage.period.end, service_end)
        served_from = max(usage.period.start, account.activated_on)
        if served_to > today or usage.period.end <= window or served_from >= served_to:
            continue  # not over yet, settled long ago, or outside the service
        terms = _terms_on(account, served_to - timedelta(days=1))
        if terms.kind == "prepaid":
            continue
        used = usage.download_bytes + (
            usage.upload_bytes if terms.allowance_counts == "total" else 0
        )
        charge = rating.overage_charge(
            used_bytes=used,
            allowance_bytes=usage.allowance_bytes,
            price_per_gb=None if terms.overage_tiers else terms.overage_price,
            rounding=terms.overage_rounding,
            period_start=served_from,
            period_end=served_to,
            tiers=terms.overage_tiers,
        )
        if charge is not None:
            # One family per usage period, whatever days of it were served.
            key = f"overage:{usage.period.start.isoformat()}/{usage.period.end.isoformat()}"
            should.append(_Should(replace(charge, key=key), terms.tax, None, terms))
    return should


def _first_charges(account: Account, window: date) -> list[_Should]:
    """Setup fee and, for a prepaid plan, the first validity, both at activation."""
    if account.activated_on < window:
        return []
    first = account.segments[0]
    terms = first.terms
    should = []
    if terms.setup_fee is not None:
        setup = rating.setup_charge(
            plan_code=terms.code, plan_name=terms.name, fee=terms.setup_fee, day=first.start
        )
        if setup is not None:
            should.append(_Should(setup, terms.tax))
    if terms.kind == "prepaid":
        should.append(_Should(prepaid_charge(terms, first.start), terms.tax, None, terms))
    return should


def prepaid_charge(terms: PlanTerms, start: date) -> rating.Charge:
    """The price of one prepaid validity starting on local day ``start``."""
    days = terms.prepaid_validity_days or 0
    if days < 1:
        raise ValueError(f"prepaid plan {terms.code} has no validity")
    end = start + timedelta(days=days)
    return rating.Charge(
        kind="recurring",
        key=f"prepaid:{terms.code}v{terms.version}:{start.isoformat()}",
        description=f"{terms.name}, {days} days, {rating.describe_period(start, end)}",
        quantity="1",
        unit_price=terms.price,
        amount=terms.price,
        period_start=start,
        period_end=end,
    )


def _one_offs(account: Account, fallback: TaxInfo) -> list[_Should]:
    return [
        _Should(
            rating.one_off_charge(
                reference=o.reference,
                description=o.description,
                unit_price=o.unit_price,
                quantity=o.quantity,
                day=o.day,
            ),
            o.tax or fallback,
        )
        for o in account.one_offs
    ]


def _quantity_difference(should: rating.Charge, lines: Sequence[BilledLine]) -> str | None:
    """Should's quantity minus what was billed, when both are plain numbers at one price."""
    try:
        billed = sum(
            (Decimal(line.quantity) * (-1 if line.is_credit else 1) for line in lines),
            Decimal(0),
        )
        diff = Decimal(should.quantity) - billed
    except InvalidOperation:
        return None
    if any(line.unit_price != should.unit_price for line in lines) or diff <= 0:
        return None
    return str(diff.normalize()) if diff == diff.to_integral_value() else str(diff)


def _credit_line(
    original: BilledLine, charge: rating.Charge, key: str, tax: TaxInfo | None = None
) -> ProposedLine:
    return ProposedLine(
        charge=charge,
        key=key,
        base_key=original.base_key,
        tax=tax or original.tax,
        against=original.document,
    )


def _unused(
    original: BilledLine, from_day: date, period: BillingPeriod | None, terms: PlanTerms | None
) -> rating.Charge | None:
    """Credit for the days of ``original`` from ``from_day`` on."""
    if original.period_start is None or original.period_end is None:
        return None
    if from_day <= original.period_start:
        # Nothing of it was used: credit exactly what was billed.
        return rating.Charge(
            kind="credit",
            key=f"{original.key}#credit",
            description=original.description.replace(", ", " unused, ", 1),
            quantity=original.quantity,
            unit_price=original.unit_price,
            amount=original.amount,
            period_start=original.period_start,
            period_end=original.period_end,
        )
    if period is None or terms is None:
        return None
    return rating.unused_credit(
        plan_code=terms.code,
        plan_name=terms.name,
        version=terms.version,
        price=original.unit_price,
        period=period,
        served_from=original.period_start,
        served_to=original.period_end,
        proration=terms.proration,
        from_day=from_day,
    )


def propose(account: Account, today: date) -> Proposal:
    """The lines to bill and to credit for ``account`` on local day ``today``."""
    if not account.segments:
        return Proposal()
    currency = account.currency
    window = max(account.window_start or account.activated_on, account.activated_on)
    plan_tax = account.segments[-1].terms.tax
    should = (
        _first_charges(account, window)
        + _fees(account, today, window)
        + _overage(account, today, window)
        + _one_offs(account, plan_tax)
    )

    families: dict[str, list[BilledLine]] = defaultdict(list)
    for line in account.billed:
        families[line.base_key].append(line)

    proposal = Proposal()
    new_charges: list[_Should] = []
    seen: set[str] = set()

    def credit_allowed(end: date) -> bool:
        if account.service_end is not None and end >= account.service_end:
            return account.credit_unused_on_cancel
        return account.credit_unused_on_plan_change

    for item in should:
        charge = item.charge
        if charge.key in seen:
            continue
        seen.add(charge.key)
        family = families.get(charge.key)
        if not family:
            new_charges.append(item)
            continue
        originals = [line for line in family if not line.is_credit]
        if not originals:
            continue
        original = originals[0]
        if charge.kind in {"recurring", "addon"}:
            credited = any(line.is_credit for line in family)
            if (
                not credited
                and charge.period_end is not None
                and original.period_end is not None
                and charge.period_end < original.period_end
                and credit_allowed(charge.period_end)
            ):
                credit = _unused(original, charge.period_end, item.period, item.terms)
                if credit is not None:
                    proposal.credits.setdefault(original.document, []).append(
                        _credit_line(original, credit, f"{original.key}#credit")
                    )
            continue
        # Amount families: bill or credit the difference.
        net = sum_money(
            (-line.amount if line.is_credit else line.amount for line in family), currency
        )
        diff = charge.amount - net
        n = len(family) + 1
        if diff.is_positive():
            quantity = _quantity_difference(charge, family)
            extra = replace(
                charge,
                key=f"{charge.key}#{n}",
                description=f"{charge.description} (difference)",
                quantity=quantity or "1",
                unit_price=charge.unit_price if quantity else diff,
                amount=diff,
            )
            proposal.invoice_lines.append(ProposedLine(extra, extra.key, charge.key, item.tax))
        elif diff.is_negative():
            credit = replace(
                charge,
                kind="credit",
                key=f"{charge.key}#credit{n}",
                description=f"{charge.description} (correction)",
                quantity="1",
                unit_price=-diff,
                amount=-diff,
            )
            proposal.credits.setdefault(original.document, []).append(
                _credit_line(original, credit, credit.key)
            )

    # Recurring fees billed in advance for days the service no longer covers at all.
    for base_key, family in families.items():
        if base_key in seen:
            continue
        originals = [
            line for line in family if not line.is_credit and line.kind in {"recurring", "addon"}
        ]
        if not originals or any(line.is_credit for line in family):
            continue
        original = originals[0]
        if (
            original.period_start is None
            or original.period_start < window
            or original.period_start > today
            or base_key.startswith("prepaid:")
            or not credit_allowed(original.period_start)
        ):
            continue
        credit = _unused(original, original.period_start, None, None)
        if credit is not None:
            proposal.credits.setdefault(original.document, []).append(
                _credit_line(original, credit, f"{original.key}#credit")
            )

    # Discounts reduce what is billed now; a cycle is an invoice that carried the discount.
    charges = [item.charge for item in new_charges]
    discounted = rating.apply_discounts(charges, list(account.discounts))
    taxes = {item.charge.key: item.tax for item in new_charges}
    for charge in discounted:
        if charge.key in families:
            continue
        tax = taxes.get(charge.key) or plan_tax
        proposal.invoice_lines.append(ProposedLine(charge, charge.key, charge.key, tax))
    proposal.invoice_lines.sort(key=lambda line: (line.charge.kind == "discount",))
    proposal.next_bill_on = _next_bill_on(account, today)
    _check_currency(proposal, currency)
    return proposal


def _next_bill_on(account: Account, today: date) -> date | None:
    """The next local day on which something falls due: the end of the current period."""
    service_end = account.service_end
    if service_end is not None and service_end <= today:
        return None
    seg = account.segments[-1]
    if seg.terms.kind == "prepaid":
        return None
    day = max(today, seg.start)
    boundary = seg.period(day).end
    if service_end is not None:
        boundary = min(boundary, service_end)
    return boundary


def _check_currency(proposal: Proposal, currency: str) -> None:
    lines = proposal.invoice_lines + [c for cs in proposal.credits.values() for c in cs]
    for line in lines:
        if line.charge.amount.currency != currency:
            raise ValueError(
                f"charge {line.key} is in {line.charge.amount.currency}, the account in {currency}"
            )
