"""Tests for octet.billing.rating: scenario 01 worked by hand, then each rule, then properties."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from octet.billing.rating import (
    GB,
    Charge,
    Discount,
    apply_discounts,
    describe_period,
    one_off_charge,
    overage_charge,
    prepaid_validity,
    prorated_allowance,
    reconcile,
    recurring_charge,
    setup_charge,
    unused_credit,
)
from octet.billing.tax import TaxContext, invoice_totals, line_taxes
from octet.core.money import Money
from octet.core.periods import BillingPeriod, period_containing
from octet.metering.quota import PlanSegment, period_allowance

GST = TaxContext(regime="in_gst", supplier_region="29", customer_region="29")
JAN = BillingPeriod(date(2026, 1, 1), date(2026, 2, 1))
FEB = BillingPeriod(date(2026, 2, 1), date(2026, 3, 1))
MAR = BillingPeriod(date(2026, 3, 1), date(2026, 4, 1))


def inr(amount: str) -> Money:
    return Money(Decimal(amount), "INR")


def fiber100(period: BillingPeriod, served_from: date, served_to: date) -> Charge | None:
    return recurring_charge(
        plan_code="FIBER100",
        plan_name="Fiber 100",
        version=1,
        price=inr("999.00"),
        period=period,
        served_from=served_from,
        served_to=served_to,
        proration="daily",
    )


def fiber300(period: BillingPeriod, served_from: date, served_to: date) -> Charge | None:
    return recurring_charge(
        plan_code="FIBER300",
        plan_name="Fiber 300",
        version=1,
        price=inr("1499.00"),
        period=period,
        served_from=served_from,
        served_to=served_to,
        proration="daily",
    )


def invoice(*charges: Charge | None) -> tuple[str, str, str]:
    lines = [line_taxes(c.amount, Decimal("18"), GST) for c in charges if c is not None]
    return tuple(str(m) for m in invoice_totals(lines))  # type: ignore[return-value]


def taxes(charge: Charge | None) -> list[str]:
    assert charge is not None
    return [str(t.amount) for t in line_taxes(charge.amount, Decimal("18"), GST).taxes]


# -- scenario 01 -------------------------------------------------------------------------


def test_scenario_01_first_partial_month() -> None:
    charge = fiber100(JAN, date(2026, 1, 15), date(2026, 3, 1))
    assert charge is not None
    assert charge.kind == "recurring"
    assert charge.description == "Fiber 100, 15-31 Jan 2026"
    assert charge.quantity == "17/31"
    assert charge.amount == inr("547.84")
    assert charge.unit_price == inr("999.00")
    assert (charge.period_start, charge.period_end) == (date(2026, 1, 15), date(2026, 2, 1))
    assert taxes(charge) == ["49.31", "49.31"]
    assert invoice(charge) == ("547.84", "98.62", "646.46")


def test_scenario_01_february_invoice_fee_and_january_overage() -> None:
    fee = fiber100(FEB, date(2026, 1, 15), date(2026, 3, 1))
    assert fee is not None
    assert fee.key == "recurring:FIBER100v1:2026-02-01/2026-03-01"
    assert (fee.description, fee.quantity, str(fee.amount)) == (
        "Fiber 100, 1-28 Feb 2026",
        "1",
        "999.00",
    )
    assert taxes(fee) == ["89.91", "89.91"]

    allowance = prorated_allowance(500 * GB, 17, 31)
    assert allowance == 274193548387
    overage = overage_charge(
        used_bytes=300 * GB,
        allowance_bytes=allowance,
        price_per_gb=inr("10.00"),
        rounding="up",
        period_start=date(2026, 1, 15),
        period_end=date(2026, 2, 1),
    )
    assert overage is not None
    assert overage.description == "Data over allowance, 15-31 Jan 2026: 26 GB at 10.00"
    assert (overage.quantity, str(overage.amount)) == ("26", "260.00")
    assert taxes(overage) == ["23.40", "23.40"]
    assert invoice(fee, overage) == ("1259.00", "226.62", "1485.62")


def test_scenario_01_upgrade_on_10_february() -> None:
    change = date(2026, 2, 10)
    credit = unused_credit(
        plan_code="FIBER100",
        plan_name="Fiber 100",
        version=1,
        price=inr("999.00"),
        period=FEB,
        served_from=FEB.start,
        served_to=FEB.end,
        proration="daily",
        from_day=change,
    )
    assert credit is not None
    assert credit.kind == "credit"
    assert credit.description == "Fiber 100 unused, 10-28 Feb 2026"
    assert (credit.quantity, str(credit.amount)) == ("19/28", "677.89")
    assert taxes(credit) == ["61.01", "61.01"]
    assert invoice(credit) == ("677.89", "122.02", "799.91")

    new = fiber300(FEB, change, date(2026, 4, 1))
    assert new is not None
    assert (new.description, new.quantity, str(new.amount)) == (
        "Fiber 300, 10-28 Feb 2026",
        "19/28",
        "1017.18",
    )
    assert taxes(new) == ["91.55", "91.55"]
    assert invoice(new) == ("1017.18", "183.10", "1200.28")


def test_scenario_01_february_allowance_is_both_plans_shares() -> None:
    allowance = prorated_allowance(500 * GB, 9, 28) + prorated_allowance(1000 * GB, 19, 28)
    assert allowance == 839285714285
    segments = [
        PlanSegment(500 * GB, date(2026, 1, 15), date(2026, 2, 10)),
        PlanSegment(1000 * GB, date(2026, 2, 10), date(2026, 4, 1)),
    ]
    assert period_allowance(FEB, segments) == allowance  # same rule as metering
    over = overage_charge(
        used_bytes=700 * GB,
        allowance_bytes=allowance,
        price_per_gb=inr("10.00"),
        rounding="up",
        period_start=FEB.start,
        period_end=FEB.end,
    )
    assert over is None  # 700 GB < 839 GB: the March invoice has no overage line


def test_scenario_01_march() -> None:
    fee = fiber300(MAR, date(2026, 2, 10), date(2026, 4, 1))
    assert fee is not None
    assert (fee.description, fee.quantity, str(fee.amount)) == (
        "Fiber 300, 1-31 Mar 2026",
        "1",
        "1499.00",
    )
    assert taxes(fee) == ["134.91", "134.91"]
    assert invoice(fee) == ("1499.00", "269.82", "1768.82")


# -- descriptions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        (date(2026, 1, 15), date(2026, 2, 1), "15-31 Jan 2026"),
        (date(2026, 2, 1), date(2026, 3, 1), "1-28 Feb 2026"),
        (date(2026, 1, 15), date(2026, 2, 15), "15 Jan - 14 Feb 2026"),
        (date(2026, 1, 1), date(2026, 4, 1), "1 Jan - 31 Mar 2026"),
        (date(2026, 1, 1), date(2027, 1, 1), "1 Jan - 31 Dec 2026"),
        (date(2025, 12, 15), date(2026, 1, 15), "15 Dec 2025 - 14 Jan 2026"),
        (date(2026, 2, 10), date(2026, 2, 11), "10 Feb 2026"),
    ],
)
def test_describe_period(start: date, end: date, text: str) -> None:
    assert describe_period(start, end) == text


def test_describe_period_refuses_empty_and_datetimes() -> None:
    with pytest.raises(ValueError):
        describe_period(date(2026, 2, 1), date(2026, 2, 1))
    with pytest.raises(TypeError):
        describe_period(datetime(2026, 2, 1, tzinfo=UTC), date(2026, 3, 1))


@pytest.mark.parametrize(
    ("interval", "anchor", "day", "text"),
    [
        ("month", date(2026, 1, 15), date(2026, 2, 3), "15 Jan - 14 Feb 2026"),
        ("month", date(2026, 1, 31), date(2026, 2, 3), "31 Jan - 27 Feb 2026"),
        ("quarter", None, date(2026, 2, 3), "1 Jan - 31 Mar 2026"),
        ("quarter", date(2025, 11, 20), date(2026, 2, 3), "20 Nov 2025 - 19 Feb 2026"),
        ("year", None, date(2026, 2, 3), "1 Jan - 31 Dec 2026"),
        ("year", date(2026, 1, 15), date(2026, 2, 3), "15 Jan 2026 - 14 Jan 2027"),
    ],
)
def test_anniversary_quarterly_and_yearly_fees(
    interval: str, anchor: date | None, day: date, text: str
) -> None:
    alignment = "calendar" if anchor is None else "anniversary"
    period = period_containing(day, interval, alignment, anchor)
    charge = fiber100(period, period.start, period.end)
    assert charge is not None
    assert charge.description == f"Fiber 100, {text}"
    assert charge.quantity == "1"
    assert charge.amount == inr("999.00")
    assert charge.key == f"recurring:FIBER100v1:{period.start}/{period.end}"


def test_yearly_plan_started_mid_year_is_prorated_by_days() -> None:
    year = BillingPeriod(date(2026, 1, 1), date(2027, 1, 1))
    charge = recurring_charge(
        plan_code="FIBER100Y",
        plan_name="Fiber 100 yearly",
        version=2,
        price=inr("9999.00"),
        period=year,
        served_from=date(2026, 7, 1),
        served_to=date(2027, 7, 1),
        proration="daily",
    )
    assert charge is not None
    assert charge.description == "Fiber 100 yearly, 1 Jul - 31 Dec 2026"
    assert charge.quantity == "184/365"
    assert charge.amount == inr("5040.59")  # 9999 x 184 / 365 = 5040.5917...
    assert charge.key == "recurring:FIBER100Yv2:2026-07-01/2027-01-01"


# -- recurring fees ----------------------------------------------------------------------


def test_no_day_served_is_no_charge() -> None:
    assert fiber100(FEB, date(2026, 3, 1), date(2026, 4, 1)) is None
    assert fiber100(FEB, date(2026, 1, 1), date(2026, 2, 1)) is None


def test_proration_none_bills_the_full_price_for_any_day() -> None:
    charge = recurring_charge(
        plan_code="FIBER100",
        plan_name="Fiber 100",
        version=1,
        price=inr("999.00"),
        period=FEB,
        served_from=date(2026, 2, 27),
        served_to=date(2026, 5, 1),
        proration="none",
    )
    assert charge is not None
    assert (charge.quantity, charge.amount) == ("1", inr("999.00"))
    assert charge.description == "Fiber 100, 27-28 Feb 2026"


def test_addon_fee_uses_the_same_rule() -> None:
    charge = recurring_charge(
        plan_code="STATICIP",
        plan_name="Static IP",
        version=1,
        price=inr("200.00"),
        period=FEB,
        served_from=date(2026, 2, 10),
        served_to=FEB.end,
        proration="daily",
        kind="addon",
    )
    assert charge is not None
    assert charge.kind == "addon"
    assert charge.key == "addon:STATICIPv1:2026-02-10/2026-03-01"
    assert charge.amount == inr("135.71")  # 200 x 19 / 28 = 135.714...


def test_recurring_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="proration"):
        recurring_charge(
            plan_code="X",
            plan_name="X",
            version=1,
            price=inr("1.00"),
            period=FEB,
            served_from=FEB.start,
            served_to=FEB.end,
            proration="hourly",
        )
    with pytest.raises(TypeError):
        fiber100(FEB, datetime(2026, 2, 1, tzinfo=UTC), FEB.end)  # type: ignore[arg-type]


def test_keys_are_stable_and_keep_pieces_of_one_plan_apart() -> None:
    assert fiber100(FEB, FEB.start, FEB.end) == fiber100(FEB, FEB.start, FEB.end)
    # A later cancellation does not change the key of the fee already billed.
    whole = fiber100(FEB, FEB.start, FEB.end)
    cut = fiber100(FEB, FEB.start, date(2026, 2, 10))
    assert whole is not None and cut is not None
    assert whole.key == cut.key
    # Fiber 100 -> Fiber 300 -> Fiber 100 within February: two distinct Fiber 100 fees.
    back = fiber100(FEB, date(2026, 2, 20), FEB.end)
    assert back is not None and back.key != whole.key


# -- unused credit -----------------------------------------------------------------------


def credit(
    from_day: date, served_from: date = FEB.start, proration: str = "daily"
) -> Charge | None:
    return unused_credit(
        plan_code="FIBER100",
        plan_name="Fiber 100",
        version=1,
        price=inr("999.00"),
        period=FEB,
        served_from=served_from,
        served_to=FEB.end,
        proration=proration,
        from_day=from_day,
    )


def test_unused_credit_edges() -> None:
    assert credit(FEB.end) is None  # change at period end: nothing unused
    assert credit(date(2026, 2, 10), proration="none") is None
    whole = credit(date(2026, 1, 20))  # cancelled before the period began: all of it back
    assert whole is not None and whole.amount == inr("999.00") and whole.quantity == "28/28"
    # A partly billed first period: the credit starts no earlier than what was billed.
    partial = credit(date(2026, 2, 5), served_from=date(2026, 2, 3))
    assert partial is not None
    assert partial.description == "Fiber 100 unused, 5-28 Feb 2026"
    assert partial.key == "credit:FIBER100v1:2026-02-03/2026-03-01"


def test_credit_key_mirrors_the_fee_it_credits() -> None:
    fee = fiber100(FEB, FEB.start, FEB.end)
    note = credit(date(2026, 2, 10))
    assert fee is not None and note is not None
    assert note.key == fee.key.replace("recurring:", "credit:", 1)


# -- overage -----------------------------------------------------------------------------


def over(used: int, allowance: int | None = 100 * GB, **kwargs: object) -> Charge | None:
    args: dict[str, object] = {
        "price_per_gb": inr("10.00"),
        "rounding": "up",
        "period_start": FEB.start,
        "period_end": FEB.end,
    }
    args.update(kwargs)
    return overage_charge(used_bytes=used, allowance_bytes=allowance, **args)  # type: ignore[arg-type]


def test_overage_up_bills_every_started_gb() -> None:
    charge = over(100 * GB + 1)
    assert charge is not None
    assert (charge.quantity, charge.amount) == ("1", inr("10.00"))
    assert charge.key == "overage:2026-02-01/2026-03-01"


def test_overage_exact_bills_per_byte() -> None:
    charge = over(101_500_000_000, rounding="exact")
    assert charge is not None
    assert (charge.quantity, charge.amount) == ("1.5", inr("15.00"))
    assert charge.description == "Data over allowance, 1-28 Feb 2026: 1.5 GB at 10.00"
    odd = over(100 * GB + 123_456_789, rounding="exact")
    assert odd is not None
    assert (odd.quantity, odd.amount) == ("0.123456789", inr("1.23"))
    assert over(100 * GB + 1, rounding="exact") is None  # 0.00000001 rounds to nothing


def test_no_overage_cases() -> None:
    assert over(100 * GB) is None  # exactly the allowance
    assert over(10 * GB) is None
    assert over(10**15, allowance=None) is None  # unlimited
    assert over(10**15, price_per_gb=None) is None  # throttled, not billed


def test_tiered_overage_is_graduated() -> None:
    tiers = [(50, inr("10.00")), (None, inr("8.00"))]
    inside = over(126 * GB, price_per_gb=None, tiers=tiers)
    assert inside is not None
    assert (inside.quantity, inside.amount) == ("26", inr("260.00"))
    assert inside.description == "Data over allowance, 1-28 Feb 2026: 26 GB at 10.00"

    beyond = over(160 * GB - 5, price_per_gb=None, tiers=tiers)
    assert beyond is not None
    assert (beyond.quantity, beyond.amount) == ("60", inr("580.00"))  # 50 x 10 + 10 x 8
    assert beyond.description == (
        "Data over allowance, 1-28 Feb 2026: 60 GB (50 GB at 10.00, 10 GB at 8.00)"
    )
    assert beyond.unit_price == inr("10.00")

    three = [(10, inr("0.00")), (50, inr("10.00")), (None, inr("8.00"))]
    exact = over(170_500_000_000, price_per_gb=None, tiers=three, rounding="exact")
    assert exact is not None
    assert (exact.quantity, exact.amount) == ("70.5", inr("564.00"))  # 0 + 400 + 20.5 x 8
    assert over(105 * GB, price_per_gb=None, tiers=three) is None  # free first 10 GB


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [(50, inr("10.00"))],
        [(50, inr("10.00")), (40, inr("9.00")), (None, inr("8.00"))],
        [(0, inr("10.00")), (None, inr("8.00"))],
        [(None, inr("-1.00"))],
    ],
)
def test_bad_tiers_are_refused(tiers: list[tuple[int | None, Money]]) -> None:
    with pytest.raises(ValueError):
        over(200 * GB, price_per_gb=None, tiers=tiers)


def test_overage_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="not both"):
        over(200 * GB, tiers=[(None, inr("8.00"))])
    with pytest.raises(ValueError, match="rounding"):
        over(200 * GB, rounding="down")
    with pytest.raises(ValueError):
        over(-1)


def test_prorated_allowance_rounds_down() -> None:
    assert prorated_allowance(500 * GB, 17, 31) == 274193548387
    assert prorated_allowance(500 * GB, 31, 31) == 500 * GB
    assert prorated_allowance(500 * GB, 0, 31) == 0
    with pytest.raises(ValueError):
        prorated_allowance(500 * GB, 32, 31)
    with pytest.raises(ValueError):
        prorated_allowance(500 * GB, 0, 0)


# -- setup and one-off charges -----------------------------------------------------------


def test_setup_charge() -> None:
    charge = setup_charge(
        plan_code="FIBER100", plan_name="Fiber 100", fee=inr("500.00"), day=date(2026, 1, 15)
    )
    assert charge is not None
    assert (charge.kind, charge.key, charge.description) == (
        "setup",
        "setup:FIBER100:2026-01-15",
        "Fiber 100 setup",
    )
    assert charge.amount == inr("500.00")
    assert setup_charge(plan_code="F", plan_name="F", fee=inr("0"), day=date(2026, 1, 15)) is None
    with pytest.raises(ValueError):
        setup_charge(plan_code="F", plan_name="F", fee=inr("-1"), day=date(2026, 1, 15))


def test_one_off_charge() -> None:
    charge = one_off_charge(
        reference="OOC-42", description=" Router (ONT) ", unit_price=inr("1250.50"), quantity=2
    )
    assert (charge.kind, charge.key, charge.description) == (
        "one_off",
        "one_off:OOC-42",
        "Router (ONT)",
    )
    assert (charge.quantity, charge.amount) == ("2", inr("2501.00"))
    with pytest.raises(ValueError):
        one_off_charge(reference="x", description="x", unit_price=inr("1"), quantity=0)
    with pytest.raises(ValueError):
        one_off_charge(reference="x", description=" ", unit_price=inr("1"))


def test_charge_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Charge("rebate", "k", "d", "1", inr("1"), inr("1"))
    with pytest.raises(ValueError, match="key"):
        Charge("one_off", "", "d", "1", inr("1"), inr("1"))
    with pytest.raises(ValueError, match="currency"):
        Charge("one_off", "k", "d", "1", inr("1"), Money(Decimal("1"), "EUR"))
    with pytest.raises(ValueError, match="empty"):
        Charge("one_off", "k", "d", "1", inr("1"), inr("1"), FEB.end, FEB.start)


# -- discounts ---------------------------------------------------------------------------

TEN = Discount(code="WELCOME10", percent=Decimal("10"), cycles=3)


def test_percent_discount_for_three_cycles() -> None:
    fee = fiber100(FEB, FEB.start, FEB.end)
    assert fee is not None
    for used in (0, 1, 2):
        lines = apply_discounts([fee], [(TEN, used)])
        assert lines[0] is fee
        assert len(lines) == 2
        line = lines[1]
        assert (line.kind, line.amount, line.quantity) == ("discount", inr("-99.90"), "1")
        assert line.key == "discount:WELCOME10:2026-02-01/2026-03-01"
        assert line.description == "Discount WELCOME10 (10%), 1-28 Feb 2026"
    assert apply_discounts([fee], [(TEN, 3)]) == [fee]  # used up
    forever = Discount(code="STAFF", percent=Decimal("10"))
    assert len(apply_discounts([fee], [(forever, 500)])) == 2


def test_percent_is_of_the_applicable_sum_rounded_half_up() -> None:
    fee = fiber100(JAN, date(2026, 1, 15), JAN.end)  # 547.84
    overage = over(126 * GB, period_start=date(2026, 1, 15), period_end=JAN.end)  # 260.00
    assert fee is not None and overage is not None
    only_fee = apply_discounts([fee, overage], [(TEN, 0)])[-1]
    assert only_fee.amount == inr("-54.78")  # 54.784
    everything = Discount(code="ALL10", percent=Decimal("10"), applies_to="all")
    assert apply_discounts([fee, overage], [(everything, 0)])[-1].amount == inr("-80.78")
    half = Discount(code="HALF", percent=Decimal("50"))
    odd = Charge("recurring", "k", "d", "1", inr("0.05"), inr("0.05"), FEB.start, FEB.end)
    assert apply_discounts([odd], [(half, 0)])[-1].amount == inr("-0.03")  # 0.025 -> 0.03


def test_amount_coupon_is_capped_at_the_charge() -> None:
    fee = fiber100(FEB, FEB.start, FEB.end)
    assert fee is not None
    big = Discount(code="SORRY", amount=inr("2000.00"), cycles=1)
    line = apply_discounts([fee], [(big, 0)])[-1]
    assert line.amount == inr("-999.00")
    assert line.description == "Discount SORRY (2000.00), 1-28 Feb 2026"


def test_stacked_discounts_never_exceed_the_charges() -> None:
    fee = fiber100(FEB, FEB.start, FEB.end)
    assert fee is not None
    coupon = Discount(code="C900", amount=inr("900.00"))
    lines = apply_discounts([fee], [(coupon, 0), (TEN, 0), (Discount("MORE", amount=inr("5")), 0)])
    assert [line.amount for line in lines[1:]] == [inr("-900.00"), inr("-99.00")]
    assert sum((line.amount for line in lines), Money.zero("INR")).is_zero()


def test_discount_without_applicable_charges_adds_nothing() -> None:
    setup = setup_charge(plan_code="F", plan_name="F", fee=inr("500.00"), day=FEB.start)
    assert setup is not None
    assert apply_discounts([setup], [(TEN, 0)]) == [setup]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"percent": Decimal("10"), "amount": inr("1")},
        {"percent": Decimal("0")},
        {"percent": Decimal("101")},
        {"amount": inr("0")},
        {"percent": Decimal("10"), "cycles": 0},
        {"percent": Decimal("10"), "applies_to": "credit"},
    ],
)
def test_bad_discounts_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Discount(code="BAD", **kwargs)  # type: ignore[arg-type]


# -- prepaid validity --------------------------------------------------------------------

IST = ZoneInfo("Asia/Kolkata")


def test_prepaid_validity() -> None:
    bought = datetime(2026, 1, 15, 9, 0, tzinfo=IST)
    expiry = prepaid_validity(bought, 30)
    assert expiry == datetime(2026, 2, 14, 9, 0, tzinfo=IST)
    # Renewed early: the new days start at the current expiry, none is lost.
    early = prepaid_validity(datetime(2026, 2, 10, tzinfo=IST), 30, current_expiry=expiry)
    assert early == datetime(2026, 3, 16, 9, 0, tzinfo=IST)
    # Renewed after expiry: from the moment of renewal.
    late = datetime(2026, 2, 20, 18, 0, tzinfo=IST)
    assert prepaid_validity(late, 30, current_expiry=expiry) == late + timedelta(days=30)


def test_prepaid_validity_keeps_wall_clock_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    expiry = prepaid_validity(datetime(2026, 3, 20, 12, 0, tzinfo=berlin), 30)
    assert expiry.replace(tzinfo=None) == datetime(2026, 4, 19, 12, 0)


def test_prepaid_validity_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="aware"):
        prepaid_validity(datetime(2026, 1, 15), 30)
    with pytest.raises(ValueError):
        prepaid_validity(datetime(2026, 1, 15, tzinfo=UTC), 0)


# -- reconcile ---------------------------------------------------------------------------


def test_reconcile_bills_only_the_difference() -> None:
    jan = fiber100(JAN, date(2026, 1, 15), FEB.end)
    feb = fiber100(FEB, date(2026, 1, 15), FEB.end)
    assert jan is not None and feb is not None
    assert reconcile([jan, feb], {jan.key}) == [feb]
    assert reconcile([jan, feb], {jan.key, feb.key}) == []
    assert reconcile([jan, jan, feb], set()) == [jan, feb]  # duplicates collapse
    clash = Charge("recurring", jan.key, "other", "1", inr("1"), inr("1"))
    with pytest.raises(ValueError, match="share the key"):
        reconcile([jan, clash], set())


# -- properties --------------------------------------------------------------------------

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
schedules = st.sampled_from(
    [(i, a) for i in ("month", "quarter", "year") for a in ("calendar", "anniversary")]
)


@given(
    day=days,
    schedule=schedules,
    anchor=days,
    price_units=st.integers(min_value=0, max_value=10**9),
    cuts=st.lists(st.integers(min_value=1, max_value=365), max_size=6),
)
def test_proration_pieces_add_up_to_the_price(
    day: date, schedule: tuple[str, str], anchor: date, price_units: int, cuts: list[int]
) -> None:
    interval, alignment = schedule
    period = period_containing(day, interval, alignment, anchor)
    bounds = sorted(
        {period.start, period.end} | {period.start + timedelta(c) for c in cuts if c < period.days}
    )
    price = Money.from_minor_units(price_units, "INR")
    pieces = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        charge = recurring_charge(
            plan_code="P",
            plan_name="P",
            version=1,
            price=price,
            period=period,
            served_from=start,
            served_to=end,
            proration="daily",
        )
        assert charge is not None
        pieces.append(charge)
    total = sum((c.amount for c in pieces), Money.zero("INR"))
    gap = abs(total.to_minor_units() - price_units)
    assert gap <= len(pieces)  # at most one minor unit per piece...
    assert 2 * gap <= len(pieces)  # ...in fact half a unit per piece (half-up rounding)
    assert len({c.key for c in pieces}) == len(pieces)


@given(
    total=st.integers(min_value=1, max_value=366),
    change=st.integers(min_value=0, max_value=366),
    price_units=st.integers(min_value=0, max_value=10**9),
)
def test_used_plus_credited_is_the_billed_fee_within_a_unit(
    total: int, change: int, price_units: int
) -> None:
    assume(change <= total)
    period = BillingPeriod(date(2026, 1, 1), date(2026, 1, 1) + timedelta(total))
    price = Money.from_minor_units(price_units, "INR")
    common = {"plan_code": "P", "plan_name": "P", "version": 1, "price": price, "period": period}
    change_day = period.start + timedelta(change)
    fee = recurring_charge(
        **common, served_from=period.start, served_to=period.end, proration="daily"
    )
    cred = unused_credit(
        **common,
        served_from=period.start,
        served_to=period.end,
        proration="daily",
        from_day=change_day,
    )
    used = (
        recurring_charge(
            **common, served_from=period.start, served_to=change_day, proration="daily"
        )
        if change
        else None
    )
    assert fee is not None
    parts = [c.amount for c in (cred, used) if c is not None]
    assert abs(sum(parts, Money.zero("INR")).to_minor_units() - fee.amount.to_minor_units()) <= 1


def charge_for(key: str) -> Charge:
    return Charge(
        "one_off",
        key,
        key,
        "1",
        Money.from_minor_units(100, "INR"),
        Money.from_minor_units(100, "INR"),
    )


keys = st.text(alphabet="abc:/0123", min_size=1, max_size=6)


@given(should_keys=st.lists(keys, max_size=20), billed=st.sets(keys, max_size=20))
def test_reconcile_never_rebills_and_is_idempotent(
    should_keys: list[str], billed: set[str]
) -> None:
    should = [charge_for(k) for k in should_keys]
    todo = reconcile(should, billed)
    returned = {c.key for c in todo}
    assert not returned & billed
    assert len(returned) == len(todo)  # each key at most once
    assert returned == set(should_keys) - billed  # nothing that should be billed is lost
    assert reconcile(should, billed | returned) == []
    assert reconcile(should, billed) == todo  # deterministic


@given(
    allowance=st.integers(min_value=0, max_value=10**13),
    used=st.integers(min_value=0, max_value=10**13),
    more=st.integers(min_value=0, max_value=10**12),
    rounding=st.sampled_from(["up", "exact"]),
    tiered=st.booleans(),
)
def test_overage_is_monotone_in_usage(
    allowance: int, used: int, more: int, rounding: str, tiered: bool
) -> None:
    pricing: dict[str, object] = (
        {"price_per_gb": None, "tiers": [(50, inr("10.00")), (None, inr("8.00"))]}
        if tiered
        else {"price_per_gb": inr("10.00")}
    )

    def billed(n: int) -> tuple[Decimal, Money]:
        charge = over(n, allowance, rounding=rounding, **pricing)
        return (
            (Decimal(0), inr("0")) if charge is None else (Decimal(charge.quantity), charge.amount)
        )

    low, high = billed(used), billed(used + more)
    assert low[0] <= high[0]
    assert low[1] <= high[1]
    if rounding == "up" and used > allowance:
        assert low[0] == -(-(used - allowance) // GB)
