"""The generator: should-vs-billed reconciliation, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from octet.billing import rating
from octet.billing.generator import (
    Account,
    BilledLine,
    OneOff,
    PlanTerms,
    Proposal,
    Segment,
    TaxInfo,
    UsageRecord,
    propose,
)
from octet.core.money import Money
from octet.core.periods import BillingPeriod

GB = 10**9
GST = TaxInfo(Decimal("18"), "998422")


def inr(value: str) -> Money:
    return Money(Decimal(value), "INR")


FIBER100 = PlanTerms(
    code="FIBER100",
    name="Fiber 100",
    version=1,
    price=inr("999.00"),
    interval="month",
    alignment="calendar",
    overage_price=inr("10.00"),
    tax=GST,
)
FIBER300 = replace(FIBER100, code="FIBER300", name="Fiber 300", price=inr("1499.00"))


def account(*segments: Segment, **kwargs) -> Account:
    return Account(
        subscription_id=1,
        currency="INR",
        activated_on=segments[0].start,
        segments=segments,
        **kwargs,
    )


def as_billed(proposal: Proposal, first_document: int = 100) -> list[BilledLine]:
    """The lines a proposal turns into once issued (credit notes first, as services do)."""
    out = []
    doc = first_document
    for against, lines in sorted(proposal.credits.items()):
        doc += 1
        out += [_billed(line, doc, against) for line in lines]
    if proposal.invoice_lines:
        doc += 1
        out += [_billed(line, doc, None) for line in proposal.invoice_lines]
    return out


def _billed(line, doc: int, against: int | None) -> BilledLine:
    c = line.charge
    return BilledLine(
        key=line.key,
        base_key=line.base_key,
        kind=c.kind,
        description=c.description,
        quantity=c.quantity,
        unit_price=c.unit_price,
        amount=c.amount,
        period_start=c.period_start,
        period_end=c.period_end,
        document=against if against is not None else doc,
        is_credit=against is not None,
        tax=line.tax,
    )


def amounts(lines) -> list[tuple[str, str, str]]:
    return [(line.charge.kind, line.charge.quantity, str(line.charge.amount)) for line in lines]


def test_activation_bills_the_partial_first_period_in_advance():
    acct = account(Segment(FIBER100, date(2026, 1, 15), None, date(2026, 1, 15)))
    proposal = propose(acct, date(2026, 1, 15))
    assert amounts(proposal.invoice_lines) == [("recurring", "17/31", "547.84")]
    assert proposal.invoice_lines[0].charge.description == "Fiber 100, 15-31 Jan 2026"
    assert proposal.next_bill_on == date(2026, 2, 1)
    assert not proposal.credits


def test_the_first_period_can_wait_for_the_next_run():
    acct = account(
        Segment(FIBER100, date(2026, 1, 15), None, date(2026, 1, 15)),
        first_period_at_activation=False,
    )
    assert propose(acct, date(2026, 1, 15)).empty
    # On 1 Feb both January's days and February are billed.
    proposal = propose(acct, date(2026, 2, 1))
    assert amounts(proposal.invoice_lines) == [
        ("recurring", "17/31", "547.84"),
        ("recurring", "1", "999.00"),
    ]


def test_next_period_with_overage_and_nothing_twice():
    seg = Segment(FIBER100, date(2026, 1, 15), None, date(2026, 1, 15))
    first = propose(account(seg), date(2026, 1, 15))
    usage = UsageRecord(
        BillingPeriod(date(2026, 1, 1), date(2026, 2, 1)), 300 * GB, 20 * GB, 274_193_548_387
    )
    acct = account(seg, billed=tuple(as_billed(first)), usage=(usage,))
    proposal = propose(acct, date(2026, 2, 1))
    assert amounts(proposal.invoice_lines) == [
        ("recurring", "1", "999.00"),
        ("overage", "26", "260.00"),
    ]
    again = account(seg, billed=tuple(as_billed(first) + as_billed(proposal, 200)), usage=(usage,))
    assert propose(again, date(2026, 2, 1)).empty
    assert propose(again, date(2026, 2, 20)).empty


def test_plan_change_now_credits_unused_days_against_the_billing_invoice():
    old = Segment(FIBER100, date(2026, 1, 15), date(2026, 2, 10), date(2026, 1, 15))
    new = Segment(FIBER300, date(2026, 2, 10), None, date(2026, 1, 15))
    before = account(replace(old, end=None))
    billed = as_billed(propose(before, date(2026, 1, 15)), 1)
    billed += as_billed(
        propose(account(replace(old, end=None), billed=tuple(billed)), date(2026, 2, 1)), 10
    )
    february = next(line for line in billed if line.quantity == "1")
    proposal = propose(account(old, new, billed=tuple(billed)), date(2026, 2, 10))
    assert list(proposal.credits) == [february.document]
    (credit,) = proposal.credits[february.document]
    assert (credit.charge.quantity, str(credit.charge.amount)) == ("19/28", "677.89")
    assert credit.charge.description == "Fiber 100 unused, 10-28 Feb 2026"
    assert amounts(proposal.invoice_lines) == [("recurring", "19/28", "1017.18")]
    settled = account(old, new, billed=tuple(billed + as_billed(proposal, 20)))
    assert propose(settled, date(2026, 2, 10)).empty


def test_plan_change_credit_can_be_turned_off():
    old = Segment(FIBER100, date(2026, 2, 1), date(2026, 2, 10), date(2026, 2, 1))
    new = Segment(FIBER300, date(2026, 2, 10), None, date(2026, 2, 1))
    billed = as_billed(propose(account(replace(old, end=None)), date(2026, 2, 1)))
    acct = account(old, new, billed=tuple(billed), credit_unused_on_plan_change=False)
    proposal = propose(acct, date(2026, 2, 10))
    assert not proposal.credits
    assert amounts(proposal.invoice_lines) == [("recurring", "19/28", "1017.18")]


def test_cancellation_now_credits_and_bills_final_overage():
    seg = Segment(FIBER100, date(2026, 2, 1), None, date(2026, 2, 1))
    billed = as_billed(propose(account(seg), date(2026, 2, 1)))
    usage = UsageRecord(BillingPeriod(date(2026, 2, 1), date(2026, 3, 1)), 520 * GB, 0, 500 * GB)
    acct = account(seg, service_end=date(2026, 2, 15), billed=tuple(billed), usage=(usage,))
    proposal = propose(acct, date(2026, 2, 15))
    (credit,) = next(iter(proposal.credits.values()))
    assert (credit.charge.quantity, str(credit.charge.amount)) == ("14/28", "499.50")
    assert amounts(proposal.invoice_lines) == [("overage", "20", "200.00")]
    assert proposal.next_bill_on is None
    assert not propose(
        account(
            seg,
            service_end=date(2026, 2, 15),
            billed=tuple(billed),
            usage=(usage,),
            credit_unused_on_cancel=False,
        ),
        date(2026, 2, 15),
    ).credits


def test_arrears_fee_is_billed_when_the_period_is_over():
    terms = replace(FIBER100, fee_timing="arrears")
    seg = Segment(terms, date(2026, 1, 15), None, date(2026, 1, 15))
    assert propose(account(seg), date(2026, 1, 15)).empty
    proposal = propose(account(seg), date(2026, 2, 1))
    assert amounts(proposal.invoice_lines) == [("recurring", "17/31", "547.84")]


def test_late_usage_bills_only_the_difference():
    seg = Segment(FIBER100, date(2026, 1, 1), None, date(2026, 1, 1))
    january = BillingPeriod(date(2026, 1, 1), date(2026, 2, 1))
    first = propose(
        account(seg, usage=(UsageRecord(january, 510 * GB, 0, 500 * GB),)), date(2026, 2, 1)
    )
    billed = as_billed(first)
    late = account(
        seg, billed=tuple(billed), usage=(UsageRecord(january, 514_500_000_000, 0, 500 * GB),)
    )
    proposal = propose(late, date(2026, 2, 2))
    (line,) = proposal.invoice_lines
    assert (line.key, line.base_key) == (
        "overage:2026-01-01/2026-02-01#2",
        "overage:2026-01-01/2026-02-01",
    )
    assert (line.charge.quantity, str(line.charge.amount)) == ("5", "50.00")


def test_a_plan_that_never_served_a_day_is_credited_in_full():
    # Billed in advance for March; the service ended on 1 Mar before any day was used.
    seg = Segment(FIBER100, date(2026, 2, 1), None, date(2026, 2, 1))
    billed = as_billed(propose(account(seg), date(2026, 3, 1)))
    acct = account(seg, service_end=date(2026, 3, 1), billed=tuple(billed))
    proposal = propose(acct, date(2026, 3, 1))
    credits = [amounts(lines) for lines in proposal.credits.values()]
    assert credits == [[("credit", "1", "999.00")]]


def test_discount_for_two_cycles():
    seg = Segment(FIBER100, date(2026, 1, 1), None, date(2026, 1, 1))
    ten = rating.Discount(code="WELCOME", percent=Decimal("10"), cycles=2)
    billed: list[BilledLine] = []
    totals = []
    for n, day in enumerate([date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]):
        used = len({b.key for b in billed if b.kind == "discount"})
        proposal = propose(account(seg, billed=tuple(billed), discounts=((ten, used),)), day)
        totals.append(amounts(proposal.invoice_lines))
        billed += as_billed(proposal, 100 * (n + 1))
    assert totals == [
        [("recurring", "1", "999.00"), ("discount", "1", "-99.90")],
        [("recurring", "1", "999.00"), ("discount", "1", "-99.90")],
        [("recurring", "1", "999.00")],
    ]


def test_one_off_charge_is_billed_once_with_the_next_invoice():
    seg = Segment(FIBER100, date(2026, 1, 1), None, date(2026, 1, 1))
    router = OneOff("7", "Router", inr("2500.00"), 1, date(2026, 1, 9))
    billed = as_billed(propose(account(seg), date(2026, 1, 1)))
    proposal = propose(account(seg, billed=tuple(billed), one_offs=(router,)), date(2026, 2, 1))
    assert amounts(proposal.invoice_lines) == [
        ("recurring", "1", "999.00"),
        ("one_off", "1", "2500.00"),
    ]
    billed += as_billed(proposal, 50)
    assert propose(account(seg, billed=tuple(billed), one_offs=(router,)), date(2026, 2, 1)).empty


def test_setup_fee_and_prepaid_validity_at_activation():
    prepaid = replace(
        FIBER100,
        kind="prepaid",
        prepaid_validity_days=30,
        setup_fee=inr("500.00"),
        price=inr("449.00"),
    )
    proposal = propose(
        account(Segment(prepaid, date(2026, 1, 15), None, date(2026, 1, 15))), date(2026, 1, 15)
    )
    assert amounts(proposal.invoice_lines) == [
        ("setup", "1", "500.00"),
        ("recurring", "1", "449.00"),
    ]
    assert (
        proposal.invoice_lines[1].charge.description == "Fiber 100, 30 days, 15 Jan - 13 Feb 2026"
    )
    assert proposal.next_bill_on is None


def test_anniversary_periods_clamp_at_month_end():
    terms = replace(FIBER100, alignment="anniversary")
    seg = Segment(terms, date(2028, 1, 31), None, date(2028, 1, 31))
    billed: list[BilledLine] = []
    seen = []
    day = date(2028, 1, 31)
    for n in range(4):
        proposal = propose(account(seg, billed=tuple(billed)), day)
        (line,) = proposal.invoice_lines
        seen.append((line.charge.period_start, line.charge.period_end, line.charge.quantity))
        billed += as_billed(proposal, 10 * (n + 1))
        day = proposal.next_bill_on
    assert seen == [
        (date(2028, 1, 31), date(2028, 2, 29), "1"),
        (date(2028, 2, 29), date(2028, 3, 31), "1"),
        (date(2028, 3, 31), date(2028, 4, 30), "1"),
        (date(2028, 4, 30), date(2028, 5, 31), "1"),
    ]


@settings(max_examples=150, deadline=None)
@given(
    start=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
    change_after=st.integers(0, 120),
    cancel_after=st.none() | st.integers(1, 120),
    calendar=st.booleans(),
    used_gb=st.integers(0, 2000),
)
def test_billing_every_day_never_bills_twice_and_settles(
    start, change_after, cancel_after, calendar, used_gb
):
    """Whatever the days the run happens on, re-running proposes nothing and the fees billed
    minus credited never exceed the price of the days served."""
    alignment = "calendar" if calendar else "anniversary"
    a = replace(FIBER100, alignment=alignment)
    b = replace(FIBER300, alignment=alignment)
    change = start + timedelta(days=change_after)
    segments = (
        (Segment(a, start, None, start),)
        if change_after == 0
        else (Segment(a, start, change, start), Segment(b, change, None, start))
    )
    end = None if cancel_after is None else start + timedelta(days=cancel_after)
    billed: list[BilledLine] = []
    doc = 0
    day = start
    while day <= start + timedelta(days=130):
        # What was known on that day: later plan changes and cancellations not yet.
        known = tuple(
            replace(s, end=None if s.end is not None and s.end > day else s.end)
            for s in segments
            if s.start <= day
        )
        known_end = end if end is not None and end <= day else None
        acct = account(*known, service_end=known_end, billed=tuple(billed))
        proposal = propose(acct, day)
        doc += 10
        billed += as_billed(proposal, doc)
        assert propose(replace(acct, billed=tuple(billed)), day).empty
        day += timedelta(days=7)
    fees = sum(
        (-line.amount.amount if line.is_credit else line.amount.amount)
        for line in billed
        if line.kind in {"recurring", "credit"}
    )
    assert fees >= 0
    # Never more than every plan's full price for every period touched.
    assert fees <= Decimal("1499.00") * 6
