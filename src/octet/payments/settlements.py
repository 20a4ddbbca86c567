"""Reconciling a gateway settlement: the payout in the bank against what Octet recorded.

A gateway (Stripe, Razorpay) collects payments into its own balance and pays them out to
the operator's bank in settlements, less refunds and its fees. Octet books every gateway
payment to ``gateway_clearing:NAME`` when the webhook arrives; importing the gateway's
settlement report moves each settled amount from clearing to the bank and the fees to an
expense, so the clearing balance is exactly what the gateway still holds for us.

Every row must match a payment (or refund) Octet recorded, for the same amount, not yet
settled; otherwise nothing is imported and the report says which rows do not match (a
payment the gateway has and Octet does not usually means a webhook never arrived).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from django.db import IntegrityError, transaction

from octet.core import audit, clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import Operator
from octet.core.money import Money, sum_money
from octet.core.validation import money_input
from octet.payments import journal, ledger
from octet.payments.models import Payment, Refund, Settlement, SettlementItem

__all__ = [
    "SettlementRow",
    "clearing_balance",
    "import_settlements",
    "parse_report",
    "unsettled_payments",
]

# Column names Octet reads, and the names the gateways' own reports use for them: the
# Razorpay settlement recon report (entity_id, type, amount, fee, settlement_id, settled_at)
# and the Stripe payout reconciliation report (source_id, reporting_category, gross, fee,
# automatic_payout_id, effective_at). Amounts are in major units (rupees, euros).
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "settlement_id": ("settlement_id", "automatic_payout_id", "payout_id"),
    "settled_on": ("settled_on", "settled_at", "effective_at", "payout_expected_arrival_date"),
    "type": ("type", "reporting_category"),
    "id": ("id", "entity_id", "source_id", "payment_intent_id"),
    "amount": ("amount", "gross"),
    "fee": ("fee",),
}
PAYMENT_TYPES = frozenset({"payment", "charge"})
REFUND_TYPES = frozenset({"refund"})


@dataclass(frozen=True)
class SettlementRow:
    settlement_id: str
    settled_on: date
    kind: str  # "payment" | "refund"
    gateway_id: str  # the gateway's payment id (pay_..., pi_...) or refund id
    amount: Money  # positive
    fee: Money  # not negative; tax on the fee included


@dataclass
class Report:
    imported: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _pick(row: Mapping[str, str], name: str, line: int) -> str:
    for alias in COLUMNS[name]:
        value = row.get(alias)
        if value not in (None, ""):
            return value.strip()
    raise InvalidInput(f"line {line}: no {name} (columns {', '.join(COLUMNS[name])})")


def _day(text: str, line: int) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidInput(f"line {line}: {text!r} is not a date (YYYY-MM-DD…)") from None


def parse_report(text: str, currency: str) -> list[SettlementRow]:
    """Rows of a settlement report (CSV with a header). Bad rows are refused by line."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InvalidInput("the settlement report is empty")
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
    rows: list[SettlementRow] = []
    for line, raw in enumerate(reader, start=2):
        kind = _pick(raw, "type", line).lower()
        if kind in PAYMENT_TYPES:
            kind = "payment"
        elif kind in REFUND_TYPES:
            kind = "refund"
        else:
            raise InvalidInput(f"line {line}: cannot reconcile a row of type {kind!r}")
        amount = abs(money_input(_pick(raw, "amount", line), currency, f"line {line} amount"))
        fee = money_input(raw.get("fee") or "0", currency, f"line {line} fee")
        if not amount.is_positive() or fee.is_negative():
            raise InvalidInput(f"line {line}: amount must be positive and fee not negative")
        rows.append(
            SettlementRow(
                settlement_id=_pick(raw, "settlement_id", line),
                settled_on=_day(_pick(raw, "settled_on", line), line),
                kind=kind,
                gateway_id=_pick(raw, "id", line),
                amount=amount,
                fee=fee,
            )
        )
    if not rows:
        raise InvalidInput("the settlement report has no rows")
    return rows


def _match(gateway: str, rows: Iterable[SettlementRow]) -> tuple[dict, list[str]]:
    """Each row's payment or refund, or the reasons it does not match."""
    rows = list(rows)
    payments = {
        p.gateway_payment_id: p
        for p in Payment.objects.filter(
            gateway=gateway, gateway_payment_id__in=[r.gateway_id for r in rows]
        )
    }
    refunds = {
        r.gateway_refund_id: r
        for r in Refund.objects.filter(
            gateway=gateway, gateway_refund_id__in=[r.gateway_id for r in rows]
        )
    }
    settled_payments = set(
        SettlementItem.objects.filter(payment__in=payments.values()).values_list(
            "payment_id", flat=True
        )
    )
    settled_refunds = set(
        SettlementItem.objects.filter(refund__in=refunds.values()).values_list(
            "refund_id", flat=True
        )
    )
    matched: dict[SettlementRow, Payment | Refund] = {}
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if (row.kind, row.gateway_id) in seen:
            problems.append(f"{row.kind} {row.gateway_id}: listed twice")
            continue
        seen.add((row.kind, row.gateway_id))
        found = (payments if row.kind == "payment" else refunds).get(row.gateway_id)
        if found is None:
            problems.append(f"{row.kind} {row.gateway_id}: not recorded in Octet for {gateway}")
        elif found.amount != row.amount.amount:
            problems.append(
                f"{row.kind} {row.gateway_id}: settled {row.amount}, Octet recorded {found.amount}"
            )
        elif (isinstance(found, Payment) and found.status != Payment.Status.RECEIVED) or (
            isinstance(found, Refund) and found.status == Refund.Status.FAILED
        ):
            problems.append(f"{row.kind} {row.gateway_id}: Octet has it as {found.status}")
        elif found.pk in (settled_payments if row.kind == "payment" else settled_refunds):
            problems.append(f"{row.kind} {row.gateway_id}: already in an earlier settlement")
        else:
            matched[row] = found
    return matched, problems


def import_settlements(gateway: str, rows: list[SettlementRow], *, actor: str) -> Report:
    """Import each settlement of the report once; all or nothing per settlement."""
    currency = Operator.current().currency
    by_settlement: dict[str, list[SettlementRow]] = defaultdict(list)
    for row in rows:
        by_settlement[row.settlement_id].append(row)
    report = Report()
    for settlement_id, group in sorted(by_settlement.items()):
        if Settlement.objects.filter(gateway=gateway, settlement_id=settlement_id).exists():
            report.already.append(settlement_id)
            continue
        days = {row.settled_on for row in group}
        if len(days) > 1:
            report.problems.append(f"settlement {settlement_id}: rows on several days")
            continue
        matched, problems = _match(gateway, group)
        if problems:
            report.problems += [f"settlement {settlement_id}: {p}" for p in problems]
            continue
        try:
            _import_one(gateway, settlement_id, days.pop(), matched, currency, actor)
        except IntegrityError:  # imported at the same moment by someone else
            report.already.append(settlement_id)
            continue
        except Conflict as exc:  # this settlement only; the others are still imported
            report.problems.append(f"settlement {settlement_id}: {exc.message}")
            continue
        report.imported.append(settlement_id)
    return report


@transaction.atomic
def _import_one(
    gateway: str,
    settlement_id: str,
    settled_on: date,
    matched: Mapping[SettlementRow, Payment | Refund],
    currency: str,
    actor: str,
) -> Settlement:
    payments_total = sum_money((r.amount for r in matched if r.kind == "payment"), currency)
    refunds_total = sum_money((r.amount for r in matched if r.kind == "refund"), currency)
    fees = sum_money((r.fee for r in matched), currency)
    gross = payments_total - refunds_total  # what leaves the clearing account
    paid_out = gross - fees
    if paid_out.is_negative() or not gross.is_positive():
        raise Conflict(
            f"settlement {settlement_id} pays out {paid_out}: refunds and fees exceed payments"
        )
    now = clock.now()
    settlement = Settlement.objects.create(
        gateway=gateway,
        settlement_id=settlement_id,
        settled_on=settled_on,
        currency=currency,
        payments_total=payments_total.amount,
        refunds_total=refunds_total.amount,
        fees=fees.amount,
        paid_out=paid_out.amount,
        imported_at=now,
        actor=actor,
    )
    SettlementItem.objects.bulk_create(
        SettlementItem(
            settlement=settlement,
            payment=found if isinstance(found, Payment) else None,
            refund=found if isinstance(found, Refund) else None,
            amount=row.amount.amount,
            fee=row.fee.amount,
        )
        for row, found in matched.items()
    )
    journal.post(
        ledger.settlement(gateway, gross, fees, paid_out, memo=f"{gateway} {settlement_id}"),
        at=now,
        settlement_id=settlement.pk,
    )
    audit.record(
        actor=actor,
        action="settlement.imported",
        instance=settlement,
        reason=f"{len(matched)} items, paid out {paid_out} {currency}",
    )
    return settlement


def unsettled_payments(gateway: str, *, received_before: object | None = None) -> list[Payment]:
    """Payments through ``gateway`` that no imported settlement has paid out yet."""
    qs = Payment.objects.filter(gateway=gateway, status=Payment.Status.RECEIVED).exclude(
        pk__in=SettlementItem.objects.filter(payment__isnull=False).values("payment_id")
    )
    if received_before is not None:
        qs = qs.filter(received_at__lt=received_before)
    return list(qs.order_by("received_at"))


def clearing_balance(gateway: str) -> Money:
    """What the ledger says the gateway still holds for us."""
    currency = Operator.current().currency
    return journal.trial_balance().get(ledger.gateway_clearing(gateway), Money.zero(currency))
