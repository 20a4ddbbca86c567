"""The subscription state machine as data (pure: no database)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.subscriptions.lifecycle import (
    TRANSITIONS,
    State,
    SuspendReason,
    TransitionRefused,
    can_use_service,
    check_transition,
)

# Written out independently of TRANSITIONS, so a change to the table fails here.
ALLOWED = {
    ("pending", "active"),
    ("pending", "terminated"),
    ("active", "suspended"),
    ("active", "terminated"),
    ("suspended", "active"),
    ("suspended", "terminated"),
}
ALL_PAIRS = list(itertools.product([s.value for s in State], repeat=2))
FORBIDDEN = sorted(set(ALL_PAIRS) - ALLOWED)


def test_states_and_table_are_as_documented():
    assert [s.value for s in State] == ["pending", "active", "suspended", "terminated"]
    assert {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.TERMINATED] == frozenset()


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transition(current, target):
    check_transition(current, target)
    check_transition(State(current), State(target))


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition(current, target):
    with pytest.raises(TransitionRefused) as info:
        check_transition(current, target)
    message = str(info.value)
    if current == target:
        assert message == f"the subscription is already {current}"
    elif current == "terminated":
        assert message == "a terminated subscription cannot change state"
    else:
        allowed = ", ".join(sorted(b for a, b in ALLOWED if a == current))
        assert message == f"a {current} subscription cannot become {target} (allowed: {allowed})"


def test_forbidden_transition_is_a_value_error():
    assert issubclass(TransitionRefused, ValueError)
    with pytest.raises(ValueError):
        check_transition("pending", "suspended")


@pytest.mark.parametrize(("current", "target"), [("pending", "paused"), ("closed", "active")])
def test_unknown_state_is_refused(current, target):
    with pytest.raises(ValueError):
        check_transition(current, target)


def test_only_an_active_subscription_uses_the_service():
    assert [s.value for s in State if can_use_service(s)] == ["active"]
    assert can_use_service("active")
    assert not can_use_service("suspended")


def test_suspend_reasons():
    assert {r.value for r in SuspendReason} == {
        "non_payment",
        "customer_request",
        "staff",
        "abuse",
        "prepaid_expired",
    }


@given(st.lists(st.sampled_from(list(State)), max_size=40))
def test_random_walks_follow_the_table_and_termination_is_final(targets):
    state = State.PENDING
    path = [state]
    for target in targets:
        try:
            check_transition(state, target)
        except TransitionRefused:
            # Refused exactly when the table has no such edge.
            assert (state.value, target.value) not in ALLOWED
            continue
        assert (state.value, target.value) in ALLOWED
        assert state != State.TERMINATED
        state = target
        path.append(state)
    # Once terminated, nothing moves it again.
    if State.TERMINATED in path:
        assert path.index(State.TERMINATED) == len(path) - 1
        for target in State:
            with pytest.raises(TransitionRefused):
                check_transition(state, target)
    # No two consecutive states are equal (a transition always changes the state).
    assert all(a != b for a, b in itertools.pairwise(path))
