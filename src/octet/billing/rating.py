"""What should be billed: charges as pure functions of plans, periods and usage.

No Django, no database, no clock. A billing run computes the charges that *should* exist for
a subscription and a period, then bills only those whose key was not billed before
(:func:`reconcile`, in the manner of Kill Bill's invoice generator). Keys are stable across
re-runs, so a run that crashed can simply be run again (invariant 2); the database keeps a
unique constraint on (subscription, key) as the last line of defence.

Dates are local billing dates; every period end is exclusive, as in
:class:`~octet.core.periods.BillingPeriod`. Every amount is rounded once, half up, to the
currency's minor unit (invariant 1).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from octet.core.money import Money, sum_money
from octet.core.periods import BillingPeriod

__all__ = [
    "CHARGE_KINDS",
    "GB",
    "Charge",
    "Discount",
    "apply_discounts",
    "describe_period",
    "one_off_charge",
    "overage_charge",
    "prepaid_validity",
    "prorated_allowance",
    "recurring_charge",
    "reconcile",
    "setup_charge",
    "unused_credit",
]

GB = 10**9  # plans and the scenario format count decimal gigabytes
CHARGE_KINDS = frozenset(
    {"recurring", "overage", "setup", "one_off", "addon", "discount", "credit"}
)
PRORATIONS = frozenset({"daily", "none"})
OVERAGE_ROUNDINGS = frozenset({"up", "exact"})


@dataclass(frozen=True)
class Charge:
    """One line that should appear on an invoice (or, for kind "credit", a credit note)."""

    kind: str  # one of CHARGE_KINDS
    key: str  # idempotency key, unique per subscription; stable across re-runs
    description: str  # "Fiber 100, 15-31 Jan 2026"
    quantity: str  # "17/31", "1", "26"
    unit_price: Money
    amount: Money  # negative for discounts
    period_start: date | None = None
    period_end: date | None = None  # exclusive

    def __post_init__(self) -> None:
        if self.kind not in CHARGE_KINDS:
            raise ValueError(f"unknown charge kind {self.kind!r}")
        if not self.key:
            raise ValueError("a charge needs an idempotency key")
        if self.unit_price.currency != self.amount.currency:
            raise ValueError("unit price and amount of a charge must share a currency")
        if (
            self.period_start is not None
            and self.period_end is not None
            and not self.period_start < self.period_end
        ):
            raise ValueError(f"charge period {self.period_start}..{self.period_end} is empty")


def _day(value: object, what: str) -> date:
    # datetime is a date subclass; accepting it would silently drop the time and zone.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime.date, got {value!r}")
    return value


def describe_period(start: date, end_exclusive: date) -> str:
    """Inclusive dates as people read them on an invoice.

    "15-31 Jan 2026", "15 Jan 2026", "15 Jan - 14 Feb 2026", "15 Dec 2025 - 14 Jan 2026".
    """
    start = _day(start, "start")
    last = _day(end_exclusive, "end_exclusive") - timedelta(days=1)
    if last < start:
        raise ValueError(f"empty period {start}..{end_exclusive}")
    month_year = f"{last:%b} {last.year}"
    if start == last:
        return f"{start.day} {month_year}"
    if (start.year, start.month) == (last.year, last.month):
        return f"{start.day}-{last.day} {month_year}"
    if start.year == last.year:
        return f"{start.day} {start:%b} - {last.day} {month_year}"
    return f"{start.day} {start:%b} {start.year} - {last.day} {month_year}"


def _served(period: BillingPeriod, served_from: date, served_to: date) -> tuple[date, date] | None:
    """The served days clipped to the period, or None if none falls inside it."""
    start = max(period.start, _day(served_from, "served_from"))
    end = min(period.end, _day(served_to, "served_to"))
    return (start, end) if start < end else None


def _check_proration(proration: str) -> None:
    if proration not in PRORATIONS:
        raise ValueError(f"unknown proration {proration!r}; expected one of {sorted(PRORATIONS)}")


def _plan_key(
    kind: str, plan_code: str, version: int, first_day: date, period: BillingPeriod
) -> str:
    # The first served day (not the last) is in the key: a later cancellation is settled by
    # a credit note and must not make the original charge look unbilled. Starting the key at
    # the first served day keeps two pieces of one plan in one period (A -> B -> A) apart.
    return f"{kind}:{plan_code}v{version}:{first_day.isoformat()}/{period.end.isoformat()}"


def recurring_charge(
    *,
    plan_code: str,
    plan_name: str,
    version: int,
    price: Money,
    period: BillingPeriod,
    served_from: date,
    served_to: date,
    proration: str,
    kind: str = "recurring",
) -> Charge | None:
    """The fee for the days of ``period`` that this plan version was in force.

    ``served_from``/``served_to`` (end exclusive) may reach outside the period; they are
    clipped to it. Daily proration: price x days / period days, rounded half up, quantity
    "days/period_days" ("1" for the whole period). Proration "none": the full price as soon as
    one day is served. None when no day of the period is served. ``kind`` is "addon" for
    a recurring add-on (a static IP...), billed by the same rule.
    """
    _check_proration(proration)
    if kind not in {"recurring", "addon"}:
        raise ValueError(f"recurring_charge bills kind recurring or addon, not {kind!r}")
    served = _served(period, served_from, served_to)
    if served is None:
        return None
    start, end = served
    days = (end - start).days
    if proration == "none" or days == period.days:
        amount, quantity = price, "1"
    else:
        amount, quantity = price.multiply(Fraction(days, period.days)), f"{days}/{period.days}"
    return Charge(
        kind=kind,
        key=_plan_key(kind, plan_code, version, start, period),
        description=f"{plan_name}, {describe_period(start, end)}",
        quantity=quantity,
        unit_price=price,
        amount=amount,
        period_start=start,
        period_end=end,
    )


def unused_credit(
    *,
    plan_code: str,
    plan_name: str,
    version: int,
    price: Money,
    period: BillingPeriod,
    served_from: date,
    served_to: date,
    proration: str,
    from_day: date,
) -> Charge | None:
    """The credit for the days of a billed fee that will not be used (plan change, cancel).

    ``served_from``/``served_to`` are as given to :func:`recurring_charge` when the fee was
    billed; ``from_day`` is the first day no longer served by this plan (the change day
    counts for the new plan). Amount: price x unused days / period days, rounded half up,
    as a positive amount of kind "credit" that the caller issues as a credit note. Its key
    is the billed charge's key with the kind "credit", so a fee is credited at most once.
    None when nothing is unused, or with proration "none" (no partial fees, no partial
    refunds either).
    """
    _check_proration(proration)
    served = _served(period, served_from, served_to)
    if served is None or proration == "none":
        return None
    first_billed, end = served
    start = max(first_billed, _day(from_day, "from_day"))
    if start >= end:
        return None
    days = (end - start).days
    return Charge(
        kind="credit",
        key=_plan_key("credit", plan_code, version, first_billed, period),
        description=f"{plan_name} unused, {describe_period(start, end)}",
        quantity=f"{days}/{period.days}",
        unit_price=price,
        amount=price.multiply(Fraction(days, period.days)),
        period_start=start,
        period_end=end,
    )


def prorated_allowance(allowance_bytes: int, days: int, period_days: int) -> int:
    """Allowance for ``days`` of a ``period_days`` period, rounded down to the byte."""
    if period_days <= 0:
        raise ValueError(f"period_days must be positive, got {period_days}")
    if not 0 <= days <= period_days:
        raise ValueError(f"days must be between 0 and {period_days}, got {days}")
    if allowance_bytes < 0:
        raise ValueError(f"allowance must not be negative, got {allowance_bytes}")
    return allowance_bytes * days // period_days


def _gb_text(units: int, per_gb: int) -> str:
    # Exact decimal text of units / per_gb with trailing zeros trimmed: "26", "1.5".
    whole, rest = divmod(units, per_gb)
    if rest == 0:
        return str(whole)
    digits = len(str(per_gb)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0")


def _check_tiers(tiers: Sequence[tuple[int | None, Money]]) -> None:
    if not tiers:
        raise ValueError("overage tiers must not be empty")
    bounds = [bound for bound, _ in tiers]
    if bounds[-1] is not None:
        raise ValueError("the last overage tier must be open-ended (up_to_gb None)")
    closed = bounds[:-1]
    if any(b is None or b <= 0 for b in closed) or closed != sorted(set(closed)):
        raise ValueError("overage tier bounds must be positive and strictly increasing")
    if any(price.is_negative() for _, price in tiers):
        raise ValueError("overage prices must not be negative")


def overage_charge(
    *,
    used_bytes: int,
    allowance_bytes: int | None,
    price_per_gb: Money | None,
    rounding: str,
    period_start: date,
    period_end: date,
    tiers: Sequence[tuple[int | None, Money]] | None = None,
) -> Charge | None:
    """Data used beyond the allowance of the usage period ``[period_start, period_end)``.

    Rounding "up": billed GB = ceil(over / 10^9), amount = GB x price. "exact": amount =
    over bytes x price / 10^9 rounded half up, quantity in GB with up to 9 decimals.
    ``tiers`` replaces ``price_per_gb`` with graduated prices on the GB over the allowance:
    ``[(50, 10.00), (None, 8.00)]`` bills the first 50 GB over at 10.00 and the rest at
    8.00 (the bounds are cumulative; the last tier must be open-ended). The line's unit
    price is then the first tier's, and the description lists each tier.
    None when nothing is over, the plan is unlimited, there is no overage price, or the
    amount rounds to zero.
    """
    if rounding not in OVERAGE_ROUNDINGS:
        raise ValueError(f"unknown overage rounding {rounding!r}")
    if used_bytes < 0 or (allowance_bytes is not None and allowance_bytes < 0):
        raise ValueError("used and allowance bytes must not be negative")
    if tiers is not None and price_per_gb is not None:
        raise ValueError("give either price_per_gb or tiers, not both")
    if price_per_gb is not None:
        tiers = [(None, price_per_gb)]
    if tiers is not None:
        _check_tiers(tiers)
    if allowance_bytes is None or tiers is None:
        return None
    over = used_bytes - allowance_bytes
    if over <= 0:
        return None

    # Work in billing units: whole GB for "up", bytes for "exact".
    per_gb = 1 if rounding == "up" else GB
    units = math.ceil(Fraction(over, GB)) if rounding == "up" else over
    currency = tiers[0][1].currency
    exact = Fraction(0)
    parts: list[str] = []
    lower = 0
    for bound, price in tiers:
        upper = units if bound is None else min(units, bound * per_gb)
        if upper > lower:
            exact += Fraction(upper - lower, per_gb) * Fraction(price.amount)
            if price.currency != currency:
                raise ValueError("all overage tiers must be priced in one currency")
            parts.append(f"{_gb_text(upper - lower, per_gb)} GB at {price}")
        lower = max(lower, upper)
        if lower >= units:
            break

    amount = Money.rounded(exact, currency)
    if amount.is_zero():
        return None  # a few bytes over at "exact" round to nothing: no empty line
    quantity = _gb_text(units, per_gb)
    detail = parts[0] if len(parts) == 1 else f"{quantity} GB ({', '.join(parts)})"
    return Charge(
        kind="overage",
        key=f"overage:{period_start.isoformat()}/{period_end.isoformat()}",
        description=f"Data over allowance, {describe_period(period_start, period_end)}: {detail}",
        quantity=quantity,
        unit_price=tiers[0][1],
        amount=amount,
        period_start=period_start,
        period_end=period_end,
    )


def setup_charge(*, plan_code: str, plan_name: str, fee: Money, day: date) -> Charge | None:
    """The one-time setup fee of a subscription started on ``day``; None when there is none."""
    if fee.is_zero():
        return None
    if fee.is_negative():
        raise ValueError(f"a setup fee must not be negative, got {fee}")
    day = _day(day, "day")
    return Charge(
        kind="setup",
        key=f"setup:{plan_code}:{day.isoformat()}",
        description=f"{plan_name} setup",
        quantity="1",
        unit_price=fee,
        amount=fee,
        period_start=day,
        period_end=day + timedelta(days=1),
    )


def one_off_charge(
    *,
    reference: str,
    description: str,
    unit_price: Money,
    quantity: int = 1,
    day: date | None = None,
) -> Charge:
    """A charge entered by staff (router sale, site visit). ``reference`` names the record
    that asked for it, so billing it twice is impossible."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be a positive whole number, got {quantity!r}")
    if not description.strip():
        raise ValueError("a one-off charge needs a description")
    if day is not None:
        _day(day, "day")
    return Charge(
        kind="one_off",
        key=f"one_off:{reference}",
        description=description.strip(),
        quantity=str(quantity),
        unit_price=unit_price,
        amount=unit_price.multiply(quantity),
        period_start=day,
        period_end=None if day is None else day + timedelta(days=1),
    )


@dataclass(frozen=True)
class Discount:
    """A percentage or fixed amount off, for a number of billing cycles (None: forever)."""

    code: str
    percent: Decimal | None = None
    amount: Money | None = None
    cycles: int | None = None
    applies_to: str = "recurring"  # a charge kind, or "all" (every positive charge)

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.amount is None):
            raise ValueError(f"discount {self.code}: give exactly one of percent or amount")
        if self.percent is not None and not 0 < self.percent <= 100:
            raise ValueError(f"discount {self.code}: percent must be in (0, 100]")
        if self.amount is not None and not self.amount.is_positive():
            raise ValueError(f"discount {self.code}: amount must be positive")
        if self.cycles is not None and self.cycles < 1:
            raise ValueError(f"discount {self.code}: cycles must be at least 1 (None: forever)")
        if self.applies_to != "all" and self.applies_to not in CHARGE_KINDS - {
            "discount",
            "credit",
        }:
            raise ValueError(f"discount {self.code}: cannot apply to {self.applies_to!r}")

    def applies(self, charge: Charge) -> bool:
        if charge.kind in {"discount", "credit"} or not charge.amount.is_positive():
            return False
        return self.applies_to == "all" or charge.kind == self.applies_to


def apply_discounts(
    charges: Sequence[Charge], discounts: Sequence[tuple[Discount, int]]
) -> list[Charge]:
    """``charges`` followed by one negative line per discount that still has cycles left.

    Each pair is (discount, cycles already used). A percentage is taken of the sum of the
    charges it applies to; a fixed amount is capped at that sum; and discounts in turn never
    take more than what the earlier ones left, so a line never goes below zero. The key
    ties the discount to the span of the charges it reduces, so a re-run adds it once.
    """
    result = list(charges)
    left: dict[int, Money] = {}  # per charge index: what discounts may still take from it
    for discount, used in discounts:
        if used < 0:
            raise ValueError(f"discount {discount.code}: cycles used must not be negative")
        if discount.cycles is not None and used >= discount.cycles:
            continue
        targets = [i for i, c in enumerate(charges) if discount.applies(c)]
        if not targets:
            continue
        currency = charges[targets[0]].amount.currency
        base = sum_money((charges[i].amount for i in targets), currency)
        room = sum_money((left.get(i, charges[i].amount) for i in targets), currency)
        if discount.percent is not None:
            wanted = base.multiply(Fraction(discount.percent) / 100)
            label = f"{_plain_percent(discount.percent)}%"
        else:
            assert discount.amount is not None
            wanted, label = discount.amount, str(discount.amount)
        off = min(wanted, room)
        if not off.is_positive():
            continue
        # Record what is used up, charge by charge in order, to cap later discounts.
        remaining = off
        for i in targets:
            take = min(remaining, left.get(i, charges[i].amount))
            left[i] = left.get(i, charges[i].amount) - take
            remaining = remaining - take
        starts = [charges[i].period_start for i in targets if charges[i].period_start]
        ends = [charges[i].period_end for i in targets if charges[i].period_end]
        if starts and ends:
            span = f"{min(starts).isoformat()}/{max(ends).isoformat()}"
            when = f", {describe_period(min(starts), max(ends))}"
        else:
            span, when = "+".join(sorted(charges[i].key for i in targets)), ""
        result.append(
            Charge(
                kind="discount",
                key=f"discount:{discount.code}:{span}",
                description=f"Discount {discount.code} ({label}){when}",
                quantity="1",
                unit_price=-off,
                amount=-off,
                period_start=min(starts) if starts and ends else None,
                period_end=max(ends) if starts and ends else None,
            )
        )
    return result


def _plain_percent(value: Decimal) -> str:
    normal = value.normalize()
    return str(normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal)


def prepaid_validity(
    start: datetime, days: int, *, current_expiry: datetime | None = None
) -> datetime:
    """When a prepaid recharge of ``days`` bought at ``start`` expires.

    A renewal before expiry extends from the current expiry, so no paid day is lost; after
    expiry it runs from ``start``. Days are calendar days in the zone of the base instant
    (same wall-clock time), which is what a customer reading "valid 30 days" expects.
    """
    for value, what in ((start, "start"), (current_expiry, "current_expiry")):
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"{what} must be an aware datetime")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"validity days must be a positive whole number, got {days!r}")
    base = start if current_expiry is None else max(start, current_expiry)
    return base + timedelta(days=days)


def reconcile(should: Sequence[Charge], billed_keys: Collection[str]) -> list[Charge]:
    """What should have been billed minus what was, by key: the charges to bill now.

    Never returns a key in ``billed_keys``, so ``reconcile(should, billed | returned)`` is
    empty. Two different charges under one key are a rating bug and raise ValueError.
    """
    seen: dict[str, Charge] = {}
    todo: list[Charge] = []
    for charge in should:
        earlier = seen.get(charge.key)
        if earlier is not None:
            if earlier != charge:
                raise ValueError(f"two different charges share the key {charge.key!r}")
            continue
        seen[charge.key] = charge
        if charge.key not in billed_keys:
            todo.append(charge)
    return todo
