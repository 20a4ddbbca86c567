"""The subscription state machine, as data. Pure: no ORM."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"  # ordered, not yet in service (installation, first payment)
    ACTIVE = "active"
    SUSPENDED = "suspended"  # service withheld, account kept; always with a reason
    TERMINATED = "terminated"  # final


class SuspendReason(StrEnum):
    NON_PAYMENT = "non_payment"
    CUSTOMER_REQUEST = "customer_request"
    STAFF = "staff"
    ABUSE = "abuse"
    PREPAID_EXPIRED = "prepaid_expired"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.ACTIVE, State.TERMINATED}),
    State.ACTIVE: frozenset({State.SUSPENDED, State.TERMINATED}),
    State.SUSPENDED: frozenset({State.ACTIVE, State.TERMINATED}),
    State.TERMINATED: frozenset(),
}


class TransitionRefused(ValueError):
    pass


def check_transition(current: State | str, target: State | str) -> None:
    """Raise TransitionRefused with a plain explanation if current → target is not allowed."""
    current, target = State(current), State(target)
    if target in TRANSITIONS[current]:
        return
    if current == target:
        raise TransitionRefused(f"the subscription is already {current}")
    if current == State.TERMINATED:
        raise TransitionRefused("a terminated subscription cannot change state")
    allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing"
    raise TransitionRefused(f"a {current} subscription cannot become {target} (allowed: {allowed})")


def can_use_service(state: State | str) -> bool:
    return State(state) == State.ACTIVE
