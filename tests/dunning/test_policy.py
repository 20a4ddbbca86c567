"""The dunning policy as pure rules: which steps, at what local time, and what holds them."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.dunning import policy as dp

IST = ZoneInfo("Asia/Kolkata")


def test_the_scenario_policy_reminds_at_nine_and_suspends_at_midnight():
    policy = dp.Policy.from_settings({"remind_days_before_due": [3], "suspend_days_after_due": 7})
    assert policy.steps(date(2026, 2, 15), IST) == [
        dp.Step(datetime(2026, 2, 12, 9, 0, tzinfo=IST), dp.REMIND, -3),
        dp.Step(datetime(2026, 2, 22, 0, 0, tzinfo=IST), dp.SUSPEND, 7),
    ]


def test_every_kind_of_step_in_time_order():
    policy = dp.Policy.from_settings(
        {
            "remind_days_before_due": [7, 1, 1],
            "remind_days_after_due": [2],
            "late_fee_days_after_due": 5,
            "late_fee_percent": "2",
            "suspend_days_after_due": 10,
            "terminate_days_after_due": 60,
            "reminder_time": "10:30",
        }
    )
    steps = policy.steps(date(2026, 3, 31), IST)
    assert [(s.kind, s.offset, s.at.date(), s.at.time()) for s in steps] == [
        (dp.REMIND, -7, date(2026, 3, 24), time(10, 30)),
        (dp.REMIND, -1, date(2026, 3, 30), time(10, 30)),
        (dp.REMIND_AFTER, 2, date(2026, 4, 2), time(10, 30)),
        (dp.LATE_FEE, 5, date(2026, 4, 5), time(0, 0)),
        (dp.SUSPEND, 10, date(2026, 4, 10), time(0, 0)),
        (dp.TERMINATE, 60, date(2026, 5, 30), time(0, 0)),
    ]
    assert policy.late_fee(Decimal("1178.82")) == Decimal("23.5764")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"remind_days_before_due": 3}, "must be a list"),
        ({"remind_days_before_due": [-1]}, "from 0 to 365"),
        ({"suspend_days_after_due": 400}, "from 1 to 365"),
        ({"suspend_days_after_due": True}, "from 1 to 365"),
        ({"suspend_days_after_due": 0}, "from 1 to 365"),  # never on the due date itself
        ({"suspend_days_after_due": 7, "terminate_days_after_due": 7}, "after suspension"),
        ({"late_fee_amount": "50"}, "needs both"),
        ({"late_fee_days_after_due": 3}, "needs both"),
        (
            {"late_fee_days_after_due": 3, "late_fee_amount": "5", "late_fee_percent": "1"},
            "not both",
        ),
        ({"late_fee_days_after_due": 3, "late_fee_amount": "-5"}, "zero or more"),
        ({"late_fee_days_after_due": 3, "late_fee_percent": "120"}, "at most 100"),
        ({"late_fee_days_after_due": 3, "late_fee_amount": "abc"}, "not a number"),
        ({"reminder_time": "9am"}, "not a time"),
        ({"suspend_after": 7}, "unknown dunning settings: suspend_after"),
    ],
)
def test_wrong_settings_are_refused_with_a_message(settings, message):
    with pytest.raises(ValueError, match=message):
        dp.Policy.from_settings(settings)


def test_a_promise_holds_late_steps_until_the_day_after_it():
    suspend = dp.Step(datetime(2026, 2, 22, 0, 0, tzinfo=IST), dp.SUSPEND, 7)
    remind = dp.Step(datetime(2026, 2, 21, 9, 0, tzinfo=IST), dp.REMIND, -3)
    assert dp.held_until(date(2026, 2, 25), suspend, IST) == datetime(2026, 2, 26, tzinfo=IST)
    assert dp.held_until(date(2026, 2, 20), suspend, IST) is None  # promise already over
    assert dp.held_until(date(2026, 2, 25), remind, IST) is None  # reminders still go out
    assert dp.held_until(None, suspend, IST) is None


@given(
    due=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)),
    before=st.lists(st.integers(0, 30), max_size=4),
    suspend=st.none() | st.integers(1, 60),
)
def test_steps_are_ordered_and_reminders_never_follow_the_suspension(due, before, suspend):
    policy = dp.Policy.from_settings(
        {"remind_days_before_due": before, "suspend_days_after_due": suspend}
    )
    steps = policy.steps(due, IST)
    assert steps == sorted(steps)
    assert len([s for s in steps if s.kind == dp.REMIND]) == len(set(before))
    for s in steps:
        if s.kind == dp.REMIND:
            assert s.at.date() <= due
        if s.kind == dp.SUSPEND:
            assert s.at.date() > due and s.at.time() == time(0, 0)
