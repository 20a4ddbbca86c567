"""SMS through the Twilio adapter and a fake Twilio API over real HTTP."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from django.test import override_settings

from octet.notifications import sms
from octet.notifications.delivery import MAX_ATTEMPTS, RETRY_DELAYS, deliver_due
from octet.notifications.models import Notification, NotificationDelivery
from octet.notifications.services import notify

from .conftest import at

NOW = at(2026, 2, 6, 15)
PHONE = "+919845012345"  # asha's "98450 12345", as stored


@pytest.fixture
def restored(asha):
    """A service_restored notice (SMS by default), as the dunning job writes it."""
    return notify(asha.pk, "service_restored", at=NOW, context={"reason": "paid"})


def sms_delivery() -> NotificationDelivery:
    return NotificationDelivery.objects.get(channel="sms")


def test_an_sms_is_posted_to_twilio_with_its_form_fields_and_auth(twilio, restored):
    report = deliver_due(NOW)

    assert report.sent == 2  # e-mail (locmem in tests) and SMS
    (request,) = twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.authorized and request.auth_user == twilio.account_sid
    assert request.form == {
        "To": PHONE,
        "From": "+15005550006",
        "Body": "Kaveri Fibernet: your internet service is restored. "
        "Restart your router if you are not online in a few minutes.",
    }
    delivery = sms_delivery()
    assert (delivery.status, delivery.to, delivery.attempts) == ("sent", PHONE, 1)
    assert delivery.provider_message_id == twilio.messages[0]["sid"]
    assert delivery.provider_message_id.startswith("SM")
    restored.refresh_from_db()
    assert restored.status == "sent"


def test_a_messaging_service_sid_is_sent_as_such(twilio, restored):
    with override_settings(OCTET_TWILIO_FROM="MG" + "1" * 32):
        deliver_due(NOW)
    form = twilio.requests[0].form
    assert form["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in form


def test_a_server_error_is_retried_on_the_backoff_schedule(twilio, restored):
    twilio.fail_next(500)
    report = deliver_due(NOW)
    assert (report.sent, report.retrying) == (1, 1)  # the e-mail went; the SMS waits
    delivery = sms_delivery()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == NOW + timedelta(minutes=1)
    assert delivery.last_error == (
        "Twilio refused the message (HTTP 500, code 20500): Internal Server Error"
    )
    restored.refresh_from_db()
    assert restored.status == "pending"

    assert deliver_due(NOW + timedelta(seconds=59)).claimed == 0  # not before its time
    report = deliver_due(NOW + timedelta(minutes=1))
    assert report.sent == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    assert delivery.sent_at == NOW + timedelta(minutes=1)
    assert len(twilio.messages) == 1
    restored.refresh_from_db()
    assert restored.status == "sent"


def test_after_the_last_retry_the_delivery_has_failed_for_good(twilio, restored):
    moment = NOW
    waits = []
    for _ in range(MAX_ATTEMPTS):
        twilio.fail_next(503, code=20503, message="Service Unavailable")
        deliver_due(moment)
        delivery = sms_delivery()
        if delivery.status == "pending":
            waits.append(delivery.next_attempt_at - moment)
            moment = delivery.next_attempt_at
    assert (
        tuple(waits)
        == RETRY_DELAYS
        == (
            timedelta(minutes=1),
            timedelta(minutes=5),
            timedelta(minutes=30),
            timedelta(hours=2),
            timedelta(hours=12),
        )
    )
    delivery = sms_delivery()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        "failed",
        6,
        None,
    )
    restored.refresh_from_db()
    assert restored.status == "failed"
    assert "sms: Twilio refused the message (HTTP 503" in restored.last_error
    assert deliver_due(moment + timedelta(days=1)).claimed == 0


def test_an_invalid_number_fails_at_once_and_the_log_masks_it(twilio, restored, caplog):
    twilio.fail_next(
        400, code=21211, message=f"The 'To' number {PHONE} is not a valid phone number."
    )
    with caplog.at_level(logging.DEBUG, logger="octet"):
        deliver_due(NOW)
    delivery = sms_delivery()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == (
        "Twilio refused the message (HTTP 400, code 21211): "
        "The 'To' number +91********45 is not a valid phone number."
    )
    assert PHONE not in caplog.text and PHONE[3:] not in caplog.text
    assert "+91********45" in caplog.text


def test_bad_credentials_are_retried_not_dropped(twilio, restored):
    with override_settings(OCTET_TWILIO_AUTH_TOKEN="wrong"):
        deliver_due(NOW)
    delivery = sms_delivery()
    assert delivery.status == "pending"
    assert delivery.last_error == "Twilio refused the message (HTTP 401, code 20003): Authenticate"
    assert "wrong" not in delivery.last_error
    assert twilio.requests[0].authorized is False


def test_twilio_that_does_not_answer_is_retried(restored):
    from .conftest import free_port

    with override_settings(
        OCTET_SMS_BACKEND="octet.notifications.sms.TwilioSms",
        OCTET_TWILIO_ACCOUNT_SID="AC123",
        OCTET_TWILIO_AUTH_TOKEN="token",
        OCTET_TWILIO_FROM="+15005550006",
        OCTET_TWILIO_API_BASE=f"http://127.0.0.1:{free_port()}",
    ):
        deliver_due(NOW)
    delivery = sms_delivery()
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("Twilio could not be reached")


def test_without_a_gateway_sms_deliveries_are_skipped_with_the_reason(restored):
    # The embedded default: OCTET_SMS_BACKEND unset, no Twilio account.
    deliver_due(NOW)
    delivery = sms_delivery()
    assert (delivery.status, delivery.attempts) == ("skipped", 0)
    assert delivery.last_error == "no SMS gateway is configured (OCTET_SMS_BACKEND)"
    restored.refresh_from_db()
    assert restored.status == "sent"  # the e-mail went; the SMS could not


def test_the_console_backend_writes_to_stderr_with_the_number_masked(capsys, restored):
    with override_settings(OCTET_SMS_BACKEND="octet.notifications.sms.ConsoleSms"):
        deliver_due(NOW)
    out, err = capsys.readouterr()
    assert out == ""  # stdout stays clean (octet simulate prints JSON there)
    assert "to +91********45:" in err and "internet service is restored" in err
    assert PHONE not in err
    assert sms_delivery().provider_message_id.startswith("console-")


def test_twilio_settings_are_checked():
    with pytest.raises(sms.SmsError, match="OCTET_TWILIO_AUTH_TOKEN"):
        sms.TwilioSms("AC1", "", "+15005550006")
    with pytest.raises(sms.SmsError, match="must be an https:// URL"):
        sms.TwilioSms("AC1", "t", "+15005550006", api_base="http://api.example.com")
    sms.TwilioSms("AC1", "t", "+15005550006", api_base="http://127.0.0.1:9")  # a test server


def test_twilio_adapter_alone(twilio):
    gateway = sms.TwilioSms(
        twilio.account_sid, twilio.auth_token, "+15005550006", api_base=twilio.url
    )
    sid = gateway.send("+14155550100", "hello")
    assert sid == twilio.messages[0]["sid"]
    with pytest.raises(sms.SmsError) as refused:
        gateway.send("0123", "hello")  # not E.164: Twilio's 21211
    assert refused.value.permanent
    stream = io.StringIO()
    sms.ConsoleSms(stream).send("+14155550100", "hi")
    assert "+14*******00" in stream.getvalue()


def test_an_sms_is_planned_for_the_number_of_the_day(twilio, restored, asha):
    from octet.customers.services import update_customer

    update_customer(asha, {"phone": "+919900011223"}, actor="clerk", reason="new number")
    deliver_due(NOW)
    assert twilio.requests[0].form["To"] == "+919900011223"
    assert Notification.objects.get().status == "sent"
