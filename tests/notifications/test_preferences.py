"""Customers' channel preferences: defaults, changes, and what delivery makes of them."""

from __future__ import annotations

import pytest

from octet.core.errors import InvalidInput
from octet.core.models import AuditEntry
from octet.customers.services import create_customer
from octet.notifications.delivery import deliver_due
from octet.notifications.models import Notification, NotificationDelivery
from octet.notifications.preferences import get_preferences, set_preferences
from octet.notifications.services import notify

from .conftest import at

NOW = at(2026, 2, 6, 15)


def deliveries(notification: Notification) -> list[tuple[str, str, str]]:
    return sorted(
        NotificationDelivery.objects.filter(notification=notification).values_list(
            "channel", "status", "last_error"
        )
    )


def test_defaults_email_everything_and_sms_what_is_urgent(asha):
    prefs = get_preferences(asha)
    assert set(prefs) == {
        "invoice_issued",
        "credit_note_issued",
        "payment_received",
        "payment_reminder",
        "service_suspended",
        "service_restored",
        "usage_80",
        "usage_100",
        "plan_changed",
        "prepaid_expiring",
        "prepaid_expired",
    }
    assert all(p.email and p.default for p in prefs.values())
    assert sorted(k for k, p in prefs.items() if p.sms) == [
        "payment_reminder",
        "prepaid_expired",
        "prepaid_expiring",
        "service_restored",
        "service_suspended",
        "usage_100",
    ]
    assert sorted(k for k, p in prefs.items() if p.email_required) == [
        "credit_note_issued",
        "invoice_issued",
        "payment_received",
    ]


def test_changes_are_stored_audited_and_merged(asha):
    prefs = set_preferences(
        asha, {"usage_80": {"sms": True}, "service_restored": {"sms": False}}, actor="portal"
    )
    assert (prefs["usage_80"].email, prefs["usage_80"].sms, prefs["usage_80"].default) == (
        True,
        True,
        False,
    )
    assert (prefs["service_restored"].email, prefs["service_restored"].sms) == (True, False)
    assert prefs["usage_100"].default  # untouched kinds keep the defaults
    prefs = set_preferences(asha, {"usage_80": {"email": False}}, actor="portal")
    assert (prefs["usage_80"].email, prefs["usage_80"].sms) == (False, True)
    actions = list(
        AuditEntry.objects.filter(entity="notifications.notificationpreference")
        .order_by("id")
        .values_list("action", "actor")
    )
    assert actions == [
        ("notification_preference.set", "portal"),
        ("notification_preference.set", "portal"),
        ("notification_preference.updated", "portal"),
    ]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"invoice_issued": {"email": False}}, "always e-mailed"),
        ({"payment_received": {"email": False}}, "always e-mailed"),
        ({"usage_42": {"email": False}}, "unknown notification kind"),
        ({"usage_80": {"fax": True}}, "unknown channel 'fax'"),
        ({"usage_80": {"sms": "yes"}}, "must be true or false"),
    ],
)
def test_wrong_changes_are_refused(asha, changes, message):
    with pytest.raises(InvalidInput, match=message):
        set_preferences(asha, changes, actor="portal")


def test_sms_turned_off_means_no_sms_delivery(twilio, asha):
    set_preferences(asha, {"service_restored": {"sms": False}}, actor="portal")
    n = notify(asha.pk, "service_restored", at=NOW, context={"reason": "paid"})
    deliver_due(NOW)
    assert deliveries(n) == [("email", "sent", "")]
    assert twilio.requests == []


def test_only_sms_when_the_customer_wants_only_sms(twilio, asha):
    set_preferences(asha, {"usage_80": {"email": False, "sms": True}}, actor="portal")
    n = notify(asha.pk, "usage_80", at=NOW, context={"allowance": 500 * 10**9})
    deliver_due(NOW)
    assert deliveries(n) == [("sms", "sent", "")]
    assert len(twilio.requests) == 1


def test_a_legal_document_is_emailed_even_if_a_stored_row_says_otherwise(asha):
    from octet.notifications.models import NotificationPreference

    NotificationPreference.objects.create(  # written around the service's check
        customer=asha, kind="payment_received", email=False, sms=False, updated_at=NOW
    )
    assert get_preferences(asha)["payment_received"].email


def test_no_email_address_is_a_skipped_delivery_with_the_reason(operator):
    ravi = create_customer(
        {"name": "Ravi Kumar", "phone": "98400 12345", "state_code": "33"}, actor="test"
    )
    n = notify(ravi.pk, "plan_changed", at=NOW, context={"from": "A v1", "to": "B v1"})
    deliver_due(NOW)
    assert deliveries(n) == [("email", "skipped", "the customer has no e-mail")]
    n.refresh_from_db()
    assert n.status == "skipped"
    assert n.last_error == "email: the customer has no e-mail"


def test_no_phone_is_a_skipped_sms_with_the_reason(twilio, operator):
    meera = create_customer(
        {"name": "Meera Iyer", "email": "meera@example.in", "state_code": "29"}, actor="test"
    )
    n = notify(meera.pk, "usage_100", at=NOW, context={"allowance": 10**9})
    deliver_due(NOW)
    assert deliveries(n) == [
        ("email", "sent", ""),
        ("sms", "skipped", "the customer has no phone number"),
    ]
    n.refresh_from_db()
    assert n.status == "sent"


def test_every_channel_turned_off_is_one_skipped_delivery(asha):
    set_preferences(asha, {"usage_80": {"email": False, "sms": False}}, actor="portal")
    n = notify(asha.pk, "usage_80", at=NOW, context={})
    deliver_due(NOW)
    assert deliveries(n) == [
        ("email", "skipped", "the customer turned off every channel for usage_80")
    ]
    n.refresh_from_db()
    assert n.status == "skipped"
