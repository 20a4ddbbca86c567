"""Dunning use cases: plan steps when invoices are issued, carry them out at their time,
reconnect at once when a customer has paid, and promises to pay.

Idempotent by construction: a step is a row (unique per customer, due date, kind and
offset) that moves from planned to done or skipped once, under a lock on the row; several
workers on one PostgreSQL each claim different steps (SKIP LOCKED).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from octet.billing import services as billing
from octet.billing.models import DocumentKind, Invoice
from octet.core import audit, bulk, clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import Operator
from octet.core.money import Money
from octet.core.periods import local_date
from octet.customers.models import Customer
from octet.dunning import policy as dp
from octet.dunning.models import DunningPolicy, DunningStep, PromiseToPay, StepStatus
from octet.notifications.services import notify
from octet.payments import services as payments
from octet.subscriptions import services as subscriptions
from octet.subscriptions.lifecycle import State, SuspendReason
from octet.subscriptions.models import Subscription

log = logging.getLogger(__name__)

ACTOR = "dunning"
BATCH = 200


# -- policies -------------------------------------------------------------------------------


def policy_for(group: str) -> dp.Policy:
    """The policy of a customer group, or the operator's default."""
    row = DunningPolicy.objects.filter(group=group).values_list("settings", flat=True).first()
    return _parse(row) if row is not None else _parse(Operator.current().dunning)


def _parse(settings: dict) -> dp.Policy:
    return dp.Policy.from_settings(settings)


def set_policy(group: str, settings: dict, *, actor: str) -> DunningPolicy:
    """Create or change a group's policy; refused with a message if the settings are wrong.

    Steps already planned keep their times (they were promised to nobody, but moving them
    silently would surprise staff); new invoices follow the new policy.
    """
    group = group.strip()
    if not group:
        raise InvalidInput("a policy needs a customer group", field="group")
    try:
        dp.Policy.from_settings(settings)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="settings") from exc
    with transaction.atomic():
        row, created = DunningPolicy.objects.select_for_update().get_or_create(
            group=group, defaults={"settings": settings, "updated_at": clock.now()}
        )
        before = None if created else audit.snapshot(row)
        row.settings = settings
        row.updated_at = clock.now()
        row.save()
        audit.record(
            actor=actor, action="dunning.policy_set", instance=row, reason=group, before=before
        )
    return row


# -- planning -------------------------------------------------------------------------------


def on_documents_issued(
    sender, customer_ids: list[int], at: datetime, documents=(), **kwargs
) -> None:
    invoices = [inv for inv, _ in documents if inv.kind == DocumentKind.INVOICE and inv.due_date]
    if invoices:
        plan_steps(invoices, at=at)


def on_invoices_reopened(sender, invoice_ids: list[int], at: datetime, **kwargs) -> None:
    invoices = list(Invoice.objects.filter(pk__in=invoice_ids, due_date__isnull=False))
    if invoices:
        plan_steps(invoices, at=at, again=True)


def plan_steps(invoices: Sequence[Invoice], *, at: datetime, again: bool = False) -> int:
    """Plan the dunning steps of newly issued invoices (those still open after settling).

    Reminders whose time has already passed are not planned; a late step (late fee,
    suspension, termination) whose time has passed runs at once.
    """
    tz = ZoneInfo(Operator.current().time_zone)
    customer_ids = sorted({inv.customer_id for inv in invoices})
    still_open = {pk for pk, left in payments.open_amounts(invoices).items() if left > 0}
    groups = dict(Customer.objects.filter(pk__in=customer_ids).values_list("pk", "group"))
    policies: dict[str, dp.Policy] = {}
    steps_of: dict[tuple[str, date], list[dp.Step]] = {}  # a run's invoices share due dates
    wanted = sorted({(inv.customer_id, inv.due_date) for inv in invoices if inv.pk in still_open})
    # Under the customers' locks (taken by settling), so nobody else plans these now.
    existing = set(
        DunningStep.objects.filter(
            customer_id__in=customer_ids, due_date__in={due for _, due in wanted}
        ).values_list("customer_id", "due_date", "kind", "offset")
    )
    rows: list[tuple] = []
    for customer_id, due in wanted:
        group = groups[customer_id]
        if (group, due) not in steps_of:
            if group not in policies:
                policies[group] = policy_for(group)
            steps_of[group, due] = policies[group].steps(due, tz)
        for step in steps_of[group, due]:
            if step.at <= at and step.kind in (dp.REMIND, dp.REMIND_AFTER):
                continue
            key = (customer_id, due, step.kind, step.offset)
            if key in existing:
                continue
            existing.add(key)
            rows.append((*key, max(step.at, at), StepStatus.PLANNED, ""))
    bulk.copy_rows(
        DunningStep,
        ("customer_id", "due_date", "kind", "offset", "at", "status", "outcome"),
        rows,
    )
    if again:
        # Reopened invoices (a bounced cheque): steps skipped because they were paid are
        # due again, at once if their time has passed. Reminders already sent stay sent.
        for customer_id, due in wanted:
            for step in steps_of[groups[customer_id], due]:
                if step.kind in (dp.REMIND, dp.REMIND_AFTER) and step.at <= at:
                    continue
                DunningStep.objects.filter(
                    customer_id=customer_id,
                    due_date=due,
                    kind=step.kind,
                    offset=step.offset,
                    status=StepStatus.SKIPPED,
                ).update(
                    status=StepStatus.PLANNED, at=max(step.at, at), done_at=None, outcome="reopened"
                )
    return len(rows)


# -- carrying steps out --------------------------------------------------------------------


def next_dunning_due(after: datetime) -> datetime | None:
    """The time of the earliest planned step (the scheduler runs :func:`run_dunning` then)."""
    return (
        DunningStep.objects.filter(status=StepStatus.PLANNED)
        .order_by("at")
        .values_list("at", flat=True)
        .first()
    )


def run_dunning(until: datetime, *, actor: str = ACTOR) -> dict[str, int]:
    """Carry out every planned step due by ``until``, each in its own transaction."""
    counts: dict[str, int] = defaultdict(int)
    held: set[int] = set()  # held by a promise past ``until``: not retried in this run
    while True:
        ids = list(
            DunningStep.objects.filter(status=StepStatus.PLANNED, at__lte=until)
            .exclude(pk__in=held)
            .order_by("at", "id")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            break
        for step_id in ids:
            try:
                outcome = _carry_out(step_id, actor=actor)
            except Exception:  # one customer's failure must not stop everyone's dunning
                log.exception("dunning step %s failed; it stays planned", step_id)
                held.add(step_id)
                counts["failed"] += 1
                continue
            if outcome == "held" or outcome is None:
                held.add(step_id)
            counts[outcome or "claimed_elsewhere"] += 1
    return dict(counts)


def _open_by_due_date(customer_id: int) -> dict[date, Money]:
    opens = payments.open_invoices([customer_id]).get(customer_id, [])
    due_dates = dict(
        Invoice.objects.filter(pk__in=[o.id for o in opens]).values_list("pk", "due_date")
    )
    out: dict[date, Money] = {}
    for o in opens:
        due = due_dates[o.id]
        out[due] = out[due] + o.open_amount if due in out else o.open_amount
    return out


def _active_promise(customer_id: int) -> PromiseToPay | None:
    return (
        PromiseToPay.objects.filter(customer_id=customer_id, cancelled_at__isnull=True)
        .order_by("-until")
        .first()
    )


@transaction.atomic
def _carry_out(step_id: int, *, actor: str) -> str | None:
    claim = DunningStep.objects.select_for_update(
        skip_locked=connection.features.has_select_for_update_skip_locked
    ).filter(pk=step_id, status=StepStatus.PLANNED)
    step = claim.first()
    if step is None:
        return None  # another worker has it, or it is done
    customer = Customer.objects.select_for_update().get(pk=step.customer_id)
    operator = Operator.current()
    tz = ZoneInfo(operator.time_zone)
    now = clock.now()
    opens = _open_by_due_date(customer.pk)
    policy = policy_for(customer.group)
    currency = operator.currency

    if step.kind == dp.REMIND:
        amount = sum((m.amount for due, m in opens.items() if due <= step.due_date), Decimal(0))
    else:
        amount = opens[step.due_date].amount if step.due_date in opens else Decimal(0)
    if amount <= 0 or (step.kind != dp.REMIND and amount <= policy.min_overdue):
        return _finish(step, StepStatus.SKIPPED, "paid", now)

    promise = _active_promise(customer.pk)
    resume = dp.held_until(
        promise.until if promise else None, dp.Step(step.at, step.kind, step.offset), tz
    )
    if resume is not None:
        step.at = resume
        step.outcome = f"held by a promise to pay until {promise.until}"
        step.save(update_fields=["at", "outcome"])
        return "held"

    numbers = sorted(
        Invoice.objects.filter(
            customer=customer,
            pk__in=[o.id for o in payments.open_invoices([customer.pk]).get(customer.pk, [])],
            due_date__lte=step.due_date,
        ).values_list("number", flat=True)
    )
    context = {
        "due_date": step.due_date.isoformat(),
        "amount_due": str(Money(amount, currency).amount),
        "currency": currency,
        "invoices": numbers,
        "days": step.offset,
    }
    if step.kind in (dp.REMIND, dp.REMIND_AFTER):
        notify(
            customer.pk,
            "payment_reminder",
            at=now,
            context=context,
            dedupe_key=f"reminder:{customer.pk}:{step.due_date}:{step.offset}",
        )
        return _finish(step, StepStatus.DONE, f"reminded of {amount} {currency}", now)
    if step.kind == dp.LATE_FEE:
        return _late_fee(step, customer, policy, Money(amount, currency), numbers, now, actor)
    if step.kind == dp.SUSPEND:
        return _suspend(step, customer, context, now, actor)
    if step.kind == dp.TERMINATE:
        return _terminate(step, customer, amount, now, actor)
    return _finish(step, StepStatus.SKIPPED, f"unknown step {step.kind}", now)


def _finish(step: DunningStep, status: str, outcome: str, now: datetime) -> str:
    step.status = status
    step.outcome = outcome[:200]
    step.done_at = now
    step.save(update_fields=["status", "outcome", "done_at"])
    return "done" if status == StepStatus.DONE else "skipped"


def _subscriptions(customer: Customer, states: Iterable[str]) -> list[Subscription]:
    return list(
        Subscription.objects.filter(customer=customer, state__in=list(states)).order_by("pk")
    )


def _suspend(
    step: DunningStep, customer: Customer, context: dict, now: datetime, actor: str
) -> str:
    active = _subscriptions(customer, [State.ACTIVE])
    if not active:
        return _finish(step, StepStatus.SKIPPED, "no active subscription", now)
    note = f"{context['amount_due']} {context['currency']} due {context['due_date']} unpaid"
    for sub in active:
        subscriptions.suspend(sub, reason=SuspendReason.NON_PAYMENT, actor=actor, note=note)
    notify(
        customer.pk,
        "service_suspended",
        at=now,
        context={**context, "reason": "non_payment"},
        dedupe_key=f"suspended:{customer.pk}:{step.due_date}",
    )
    return _finish(step, StepStatus.DONE, f"suspended {len(active)} subscription(s)", now)


def _terminate(
    step: DunningStep, customer: Customer, amount: Decimal, now: datetime, actor: str
) -> str:
    live = _subscriptions(customer, [State.ACTIVE, State.SUSPENDED, State.PENDING])
    if not live:
        return _finish(step, StepStatus.SKIPPED, "no live subscription", now)
    for sub in live:
        subscriptions.terminate(
            sub,
            reason="non_payment",
            actor=actor,
            note=f"{amount} due {step.due_date} unpaid after {step.offset} days",
        )
    return _finish(step, StepStatus.DONE, f"terminated {len(live)} subscription(s)", now)


def _late_fee(
    step: DunningStep,
    customer: Customer,
    policy: dp.Policy,
    overdue: Money,
    numbers: list[str],
    now: datetime,
    actor: str,
) -> str:
    fee = Money.rounded(policy.late_fee(overdue.amount), overdue.currency)
    if not fee.is_positive():
        return _finish(step, StepStatus.SKIPPED, "late fee is zero", now)
    subs = _subscriptions(customer, [State.ACTIVE, State.SUSPENDED])
    if not subs:
        return _finish(step, StepStatus.SKIPPED, "no subscription to charge", now)
    billing.add_one_off_charge(
        subs[0],
        description=f"Late payment fee ({', '.join(numbers) or step.due_date.isoformat()})",
        unit_price=fee.amount,
        actor=actor,
        reason=f"{overdue} due {step.due_date} unpaid after {step.offset} days",
    )
    return _finish(step, StepStatus.DONE, f"late fee {fee}", now)


# -- reconnection ---------------------------------------------------------------------------


def overdue(customer_id: int, today: date) -> Money | None:
    """What is open on invoices whose due date has passed (None: nothing open at all)."""
    opens = _open_by_due_date(customer_id)
    if not opens:
        return None
    currency = next(iter(opens.values())).currency
    total = Money.zero(currency)
    for due, amount in opens.items():
        if due < today:
            total += amount
    return total


def on_balance_changed(sender, customer_ids: list[int], at: datetime, **kwargs) -> None:
    for customer_id in customer_ids:
        reconnect_if_paid(customer_id, actor=ACTOR)


def reconnect_if_paid(customer_id: int, *, actor: str, reason: str = "paid") -> list[int]:
    """Reconnect subscriptions suspended for non-payment once nothing overdue is left."""
    suspended = list(
        Subscription.objects.filter(
            customer_id=customer_id,
            state=State.SUSPENDED,
            suspend_reason=SuspendReason.NON_PAYMENT,
        ).order_by("pk")
    )
    if not suspended:
        return []
    customer = Customer.objects.get(pk=customer_id)
    operator = Operator.current()
    now = clock.now()
    left = overdue(customer_id, local_date(now, operator.time_zone))
    if left is not None and left.amount > policy_for(customer.group).min_overdue:
        promise = _active_promise(customer_id)
        if promise is None or promise.until < local_date(now, operator.time_zone):
            return []
        reason = "promise_to_pay"
    reconnected = []
    for sub in suspended:
        try:
            subscriptions.reconnect(sub, actor=actor, reason=reason)
        except Conflict:  # reconnected (or terminated) by someone else meanwhile
            continue
        reconnected.append(sub.pk)
    if not reconnected:
        return []
    notify(
        customer_id,
        "service_restored",
        at=now,
        context={"reason": reason},
        dedupe_key=f"restored:{customer_id}:{now.isoformat()}",
    )
    return reconnected


# -- promises to pay ------------------------------------------------------------------------


@transaction.atomic
def promise_to_pay(
    customer: Customer, until: date, *, actor: str, reason: str, reconnect: bool = True
) -> PromiseToPay:
    """Staff accept the customer's promise to pay by ``until``.

    Late fees, suspension and termination wait until the day after; with ``reconnect``,
    a customer suspended for non-payment is reconnected now. A promise the customer does
    not keep simply ends: the held steps run the next day if the invoices are still open.
    """
    if not reason.strip():
        raise InvalidInput("a promise to pay needs a reason", field="reason")
    operator = Operator.current()
    today = local_date(clock.now(), operator.time_zone)
    if until < today:
        raise InvalidInput("the promised date is in the past", field="until")
    limit = 90
    if (until - today).days > limit:
        raise InvalidInput(f"a promise to pay may run at most {limit} days", field="until")
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if overdue(customer.pk, today) is None:
        raise Conflict(f"{customer.account_number} has nothing to pay", field="customer")
    PromiseToPay.objects.filter(customer=customer, cancelled_at__isnull=True).update(
        cancelled_at=clock.now()
    )
    promise = PromiseToPay.objects.create(
        customer=customer, until=until, created_at=clock.now(), actor=actor, reason=reason
    )
    audit.record(
        actor=actor,
        action="dunning.promise_to_pay",
        instance=promise,
        reason=f"until {until}: {reason}",
    )
    if reconnect and reconnect_if_paid(customer.pk, actor=actor):
        # Reconnected on the promise: if it is broken, suspend again the day after it.
        tz = ZoneInfo(operator.time_zone)
        overdue_dates = sorted(d for d in _open_by_due_date(customer.pk) if d < today)
        if overdue_dates:
            first = overdue_dates[0]
            resume = datetime.combine(until + timedelta(days=1), time(0, 0), tzinfo=tz)
            DunningStep.objects.get_or_create(
                customer=customer,
                due_date=first,
                kind=dp.SUSPEND,
                offset=(resume.date() - first).days,
                defaults={"at": resume, "outcome": "if the promise to pay is broken"},
            )
    return promise
