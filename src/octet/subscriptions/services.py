"""Subscription use cases: lifecycle transitions, plan changes, credentials.

Each function is one transaction; each change writes a StateChange (for state) and an
audit entry with the actor and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from octet.catalog.models import AddOn, Plan, PlanVersion
from octet.core import audit, clock
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.core.models import Operator
from octet.core.periods import Alignment, BillingPeriod, Interval, local_date, period_containing
from octet.customers.models import Customer
from octet.subscriptions import credentials, signals
from octet.subscriptions.lifecycle import State, SuspendReason, TransitionRefused, check_transition
from octet.subscriptions.models import (
    PlanChange,
    PlanChangeStatus,
    PlanChangeWhen,
    StateChange,
    Subscription,
)


def operator_tz() -> ZoneInfo:
    return ZoneInfo(Operator.current().time_zone)


@dataclass(frozen=True)
class PlanSegment:
    """A plan version in force from ``start`` to ``end`` (exclusive; None: still in force),
    with the anchor its anniversary periods count from."""

    version: PlanVersion
    start: date
    end: date | None
    anchor: date

    def period(self, day: date) -> BillingPeriod:
        return period_containing(
            day, Interval(self.version.interval), Alignment(self.version.alignment), self.anchor
        )


def reanchors(old: PlanVersion, new: PlanVersion) -> bool:
    """Moving to an anniversary plan from another alignment or interval starts its periods
    on the day of the change (the old anchor would leave a period cut at a random day)."""
    return new.alignment == Alignment.ANNIVERSARY and (
        old.alignment != new.alignment or old.interval != new.interval
    )


def applied_changes(subscription_ids: list[int]) -> dict[int, list[PlanChange]]:
    """Applied plan changes of many subscriptions in one query, oldest first per subscription."""
    out: dict[int, list[PlanChange]] = {}
    for change in (
        PlanChange.objects.filter(
            subscription_id__in=subscription_ids, status=PlanChangeStatus.APPLIED
        )
        .select_related(
            "from_version__plan",
            "from_version__tax_category",
            "to_version__plan",
            "to_version__tax_category",
        )
        .order_by("effective_at", "id")
    ):
        out.setdefault(change.subscription_id, []).append(change)
    return out


def plan_timeline(
    subscription: Subscription,
    changes: list[PlanChange] | None = None,
    tz: ZoneInfo | None = None,
) -> list[PlanSegment]:
    """The versions the subscription has been on, oldest first (from applied plan changes).

    ``changes`` (from :func:`applied_changes`) and ``tz`` spare the queries when many
    subscriptions are looked at together (a billing run).
    """
    tz = tz or operator_tz()
    if subscription.activated_at is not None:
        first_day = local_date(subscription.activated_at, tz)
    else:
        first_day = subscription.anchor_date or local_date(clock.now(), tz)
    if changes is None:
        changes = applied_changes([subscription.pk]).get(subscription.pk, [])
    version = changes[0].from_version if changes else subscription.plan_version
    segments = [PlanSegment(version, first_day, None, first_day)]
    for change in changes:
        day = max(local_date(change.effective_at, tz), first_day)
        last = segments[-1]
        anchor = day if reanchors(last.version, change.to_version) else last.anchor
        segments[-1] = PlanSegment(last.version, last.start, day, last.anchor)
        segments.append(PlanSegment(change.to_version, day, None, anchor))
    return [s for s in segments if s.end is None or s.start < s.end]


def period_at(subscription: Subscription, day: date) -> BillingPeriod:
    """The billing period containing local ``day``, under the plan in force that day."""
    timeline = plan_timeline(subscription)
    segment = timeline[0]
    for candidate in timeline:
        if candidate.start <= day:
            segment = candidate
    return segment.period(day)


def billing_period(subscription: Subscription, at: datetime | None = None) -> BillingPeriod:
    """The billing period of this subscription that contains ``at`` (local dates)."""
    return period_at(subscription, local_date(at or clock.now(), operator_tz()))


def username_taken(username: str, exclude_pk: int | None = None) -> bool:
    qs = Subscription.objects.filter(username=username).exclude(state=State.TERMINATED)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def locked(subscription_id: int) -> Subscription:
    """The subscription, locked, after its customer's row.

    One lock order everywhere (customer, then subscription): payments lock the customer
    and may reconnect a subscription; a plan change or termination locks the subscription
    and settles the customer's invoices. Opposite orders would deadlock.
    """
    customer_id = Subscription.objects.values_list("customer_id", flat=True).get(pk=subscription_id)
    Customer.objects.select_for_update().filter(pk=customer_id).first()
    return Subscription.objects.select_for_update().get(pk=subscription_id)


def _transition(
    subscription: Subscription, target: State, *, reason: str, actor: str, note: str = ""
) -> Subscription:
    sub = locked(subscription.pk)
    try:
        check_transition(sub.state, target)
    except TransitionRefused as exc:
        raise Conflict(str(exc), field="state") from exc
    before = audit.snapshot(sub)
    now = clock.now()
    previous = sub.state
    sub.state = target
    sub.suspend_reason = reason if target == State.SUSPENDED else ""
    if target == State.ACTIVE and sub.activated_at is None:
        sub.activated_at = now
        if sub.anchor_date is None:
            sub.anchor_date = local_date(now, operator_tz())
    if target == State.TERMINATED:
        sub.terminated_at = now
        sub.plan_changes.filter(status=PlanChangeStatus.PENDING).update(
            status=PlanChangeStatus.CANCELLED
        )
    sub.save()
    StateChange.objects.create(
        subscription=sub,
        at=now,
        from_state=previous,
        to_state=target,
        reason=reason,
        note=note,
        actor=actor,
    )
    signals.state_changed.send(
        sender=Subscription, subscription=sub, previous=previous, target=target, reason=reason
    )
    audit.record(
        actor=actor,
        action=f"subscription.{target}",
        instance=sub,
        reason=f"{reason}: {note}" if note else reason,
        before=before,
    )
    return sub


@transaction.atomic
def subscribe(
    customer: Customer,
    plan: Plan | PlanVersion,
    *,
    username: str,
    password: str,
    actor: str,
    activate: bool = True,
    reason: str = "subscribed",
    static_ip: str | None = None,
    framed_pool: str = "",
    addons: list[AddOn] | None = None,
) -> Subscription:
    """Create a subscription on the plan's current version (pending, or active at once)."""
    version = plan.current_version if isinstance(plan, Plan) else plan
    if version is None:
        raise NotFound("the plan has no version", field="plan")
    if isinstance(plan, Plan) and not plan.available:
        raise Conflict(f"plan {plan.code} is no longer offered", field="plan")
    try:
        username = credentials.normalize_username(username)
        credentials.check_password(password)
    except credentials.InvalidCredential as exc:
        raise InvalidInput(str(exc), field="radius") from exc
    if username_taken(username):
        raise Conflict(f"RADIUS username {username!r} is already in use", field="username")
    if static_ip and Subscription.objects.filter(static_ip=static_ip).exists():
        raise Conflict(f"static IP {static_ip} is already assigned", field="static_ip")
    sub = Subscription(
        customer=customer,
        plan_version=version,
        username=username,
        static_ip=static_ip or None,
        framed_pool=framed_pool,
        created_at=clock.now(),
    )
    sub.set_password(password)
    try:
        with transaction.atomic():
            sub.save()
    except IntegrityError as exc:  # a concurrent request took the name first
        raise Conflict(f"RADIUS username {username!r} is already in use", field="username") from exc
    if addons:
        sub.addons.set(addons)
    StateChange.objects.create(
        subscription=sub, at=sub.created_at, to_state=State.PENDING, reason="ordered", actor=actor
    )
    audit.record(actor=actor, action="subscription.created", instance=sub, reason=reason)
    if activate:
        sub = _transition(sub, State.ACTIVE, reason=reason, actor=actor)
    return sub


@transaction.atomic
def activate(subscription: Subscription, *, actor: str, reason: str = "activated") -> Subscription:
    return _transition(subscription, State.ACTIVE, reason=reason, actor=actor)


@transaction.atomic
def suspend(subscription: Subscription, *, reason: str, actor: str, note: str = "") -> Subscription:
    try:
        reason = SuspendReason(reason)
    except ValueError as exc:
        allowed = ", ".join(r.value for r in SuspendReason)
        raise InvalidInput(f"unknown suspension reason {reason!r} (use {allowed})") from exc
    return _transition(subscription, State.SUSPENDED, reason=reason, actor=actor, note=note)


@transaction.atomic
def reconnect(
    subscription: Subscription, *, actor: str, reason: str = "reconnected", note: str = ""
) -> Subscription:
    return _transition(subscription, State.ACTIVE, reason=reason, actor=actor, note=note)


@transaction.atomic
def terminate(
    subscription: Subscription, *, actor: str, reason: str = "terminated", note: str = ""
) -> Subscription:
    return _transition(subscription, State.TERMINATED, reason=reason, actor=actor, note=note)


def _period_end_at(subscription: Subscription) -> datetime:
    return billing_period(subscription).end_at(operator_tz())


@transaction.atomic
def cancel(
    subscription: Subscription, *, when: str, actor: str, reason: str = "cancelled"
) -> Subscription:
    """Terminate now, or schedule termination for the end of the current billing period."""
    if when == PlanChangeWhen.NOW:
        return terminate(subscription, actor=actor, reason=reason)
    if when != PlanChangeWhen.PERIOD_END:
        raise InvalidInput(f"when must be 'now' or 'period_end', not {when!r}", field="when")
    sub = locked(subscription.pk)
    if sub.state == State.TERMINATED:
        raise Conflict("a terminated subscription cannot change state", field="state")
    before = audit.snapshot(sub)
    sub.cancel_at = _period_end_at(sub)
    sub.save(update_fields=["cancel_at"])
    audit.record(
        actor=actor,
        action="subscription.cancel_scheduled",
        instance=sub,
        reason=reason,
        before=before,
    )
    return sub


@transaction.atomic
def change_plan(
    subscription: Subscription,
    plan: Plan | PlanVersion,
    *,
    when: str,
    actor: str,
    reason: str = "plan change",
) -> PlanChange:
    """Move to another plan's current version now, or at the end of the billing period."""
    if when not in PlanChangeWhen.values:
        raise InvalidInput(f"when must be 'now' or 'period_end', not {when!r}", field="when")
    sub = locked(subscription.pk)
    if sub.state == State.TERMINATED:
        raise Conflict("a terminated subscription cannot change plan", field="state")
    target = plan.current_version if isinstance(plan, Plan) else plan
    if target.pk == sub.plan_version_id:
        raise Conflict(f"the subscription is already on {target}", field="plan")
    if target.currency != sub.plan_version.currency:
        raise Conflict("the new plan is priced in another currency", field="plan")
    now = clock.now()
    pending = sub.plan_changes.filter(status=PlanChangeStatus.PENDING).first()
    if pending is not None:
        # The newest request replaces a pending one, as staff would expect.
        pending.status = PlanChangeStatus.CANCELLED
        pending.save(update_fields=["status"])
    change = PlanChange.objects.create(
        subscription=sub,
        from_version=sub.plan_version,
        to_version=target,
        when=when,
        requested_at=now,
        effective_at=now if when == PlanChangeWhen.NOW else _period_end_at(sub),
        actor=actor,
        reason=reason,
    )
    audit.record(actor=actor, action="plan_change.requested", instance=change, reason=reason)
    if when == PlanChangeWhen.NOW:
        _apply_plan_change(change, actor=actor)
    return change


def _apply_plan_change(change: PlanChange, *, actor: str) -> None:
    sub = locked(change.subscription_id)
    before = audit.snapshot(sub)
    if reanchors(sub.plan_version, change.to_version):
        sub.anchor_date = local_date(change.effective_at, operator_tz())
    sub.plan_version = change.to_version
    sub.save(update_fields=["plan_version", "anchor_date"])
    change.status = PlanChangeStatus.APPLIED
    change.save(update_fields=["status"])
    signals.plan_changed.send(sender=Subscription, subscription=sub, change=change)
    audit.record(
        actor=actor,
        action="subscription.plan_changed",
        instance=sub,
        reason=change.reason or "plan change",
        before=before,
    )


def apply_due_changes(until: datetime | None = None, *, actor: str = "scheduler") -> int:
    """Apply plan changes and cancellations whose time has come. Idempotent; returns a count."""
    until = until or clock.now()
    done = 0
    for change_id in PlanChange.objects.filter(
        status=PlanChangeStatus.PENDING, effective_at__lte=until
    ).values_list("pk", flat=True):
        with transaction.atomic():
            change = PlanChange.objects.select_for_update().get(pk=change_id)
            if change.status == PlanChangeStatus.PENDING:
                _apply_plan_change(change, actor=actor)
                done += 1
    for sub_id in (
        Subscription.objects.filter(cancel_at__lte=until)
        .exclude(state=State.TERMINATED)
        .values_list("pk", flat=True)
    ):
        with transaction.atomic():
            terminate(Subscription(pk=sub_id), actor=actor, reason="cancelled")
            done += 1
    return done


@transaction.atomic
def set_radius_password(
    subscription: Subscription, password: str, *, actor: str, reason: str = "password reset"
) -> Subscription:
    try:
        credentials.check_password(password)
    except credentials.InvalidCredential as exc:
        raise InvalidInput(str(exc), field="password") from exc
    sub = locked(subscription.pk)
    sub.set_password(password)
    sub.save(update_fields=["password_encrypted"])
    # The audit entry says that it changed, never what it is.
    audit.record(
        actor=actor,
        action="subscription.password_reset",
        instance=sub,
        reason=reason,
        before={},
        after={"password": "changed"},
    )
    return sub


def live_subscription(customer: Customer) -> Subscription:
    """The customer's subscription that is not terminated (the scenario format has one)."""
    sub = (
        Subscription.objects.filter(customer=customer)
        .exclude(state=State.TERMINATED)
        .select_related("plan_version__plan")
        .order_by("-created_at")
        .first()
    )
    if sub is None:
        raise NotFound(f"customer {customer.account_number} has no live subscription")
    return sub


def plan_segments(
    subscription: Subscription, period: BillingPeriod
) -> list[tuple[PlanVersion, date, date]]:
    """The plan versions in force during ``period``: (version, first day, end exclusive).

    The day of activation or of a plan change counts in full for the new plan.
    """
    if subscription.activated_at is None:
        return []
    tz = operator_tz()
    end_of_service = (
        local_date(subscription.terminated_at, tz) if subscription.terminated_at else None
    )
    out = []
    for seg in plan_timeline(subscription):
        end = seg.end or period.end
        if end_of_service is not None:
            end = min(end, end_of_service)
        start, end = max(seg.start, period.start), min(end, period.end)
        if start < end:
            out.append((seg.version, start, end))
    return out
