"""The delivery job: scheduling, interrupted sends, several workers, staff retries."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse

from octet import jobs
from octet.core import clock
from octet.core.models import AuditEntry
from octet.customers.services import create_customer
from octet.notifications import delivery
from octet.notifications.delivery import INTERRUPTED, SENDING_LEASE, deliver_due
from octet.notifications.models import Notification, NotificationDelivery
from octet.notifications.services import notify

from .conftest import at

NOW = at(2026, 1, 15, 9, 1)


def test_the_job_is_scheduled_last_and_due_at_the_notifications_time(subscribed):
    assert jobs.JOBS[-1].name == "notifications"
    assert delivery.next_due() == at(2026, 1, 15, 9)  # the invoice's notification
    jobs.run_due(NOW)  # as the worker runs it, on the real clock
    sent = NotificationDelivery.objects.get()
    assert (sent.status, sent.sent_at) == ("sent", NOW)
    assert delivery.next_due() is None


def test_nothing_is_sent_on_a_simulated_clock(subscribed, mailoutbox):
    """`octet simulate` and the demo's catch-up replay past months through the same jobs:
    their notifications are recorded, and skipped."""
    jobs.run_due(at(2026, 1, 15, 12), on_each=clock.set_time)
    skipped = NotificationDelivery.objects.get()
    assert (skipped.status, skipped.last_error) == ("skipped", delivery.SIMULATED)
    assert Notification.objects.get().status == "skipped"
    assert mailoutbox == []
    assert delivery.next_due() is None


def test_the_job_result_is_plain_data(subscribed):
    job = next(j for j in jobs.JOBS if j.name == "notifications")
    assert job.run(NOW) == {
        "planned": 1,
        "sent": 1,
        "retrying": 0,
        "failed": 0,
        "skipped": 0,
        "claimed": 1,
    }


def test_a_notification_for_later_waits_for_its_time(asha):
    later = at(2026, 3, 1, 9)
    notify(asha.pk, "service_restored", at=later, context={})
    assert delivery.next_due() == later
    assert deliver_due(NOW).planned == 0
    assert deliver_due(later).sent == 1


def test_an_interrupted_send_is_retried_and_says_so(subscribed):
    delivery.plan_deliveries(NOW)
    (claimed,) = delivery._claim(NOW, 10)  # a worker took it, then died before recording
    assert claimed.status == "sending" and claimed.attempts == 1
    assert delivery.next_due() == NOW + SENDING_LEASE

    assert deliver_due(NOW + timedelta(minutes=10)).claimed == 0  # maybe still sending
    report = deliver_due(NOW + SENDING_LEASE)
    assert report.retrying == 1 and report.claimed == 0
    claimed.refresh_from_db()
    assert (claimed.status, claimed.last_error) == ("pending", INTERRUPTED)
    assert claimed.next_attempt_at == NOW + SENDING_LEASE + timedelta(minutes=1)

    assert deliver_due(NOW + SENDING_LEASE + timedelta(minutes=1)).sent == 1
    claimed.refresh_from_db()
    assert (claimed.status, claimed.attempts, claimed.last_error) == ("sent", 2, "")


def test_a_worker_that_lost_its_claim_does_not_overwrite_the_log(subscribed):
    delivery.plan_deliveries(NOW)
    (mine,) = delivery._claim(NOW, 10)
    deliver_due(NOW + SENDING_LEASE)  # reclaimed as interrupted meanwhile
    late = delivery._Outcome("sent", to="asha@example.in", provider_message_id="<x@y>")
    assert delivery._record(mine, late, NOW + SENDING_LEASE) == "sending"
    mine.refresh_from_db()
    assert (mine.status, mine.provider_message_id) == ("pending", "")


def test_one_failing_delivery_does_not_stop_the_batch(operator, monkeypatch):
    customers = [
        create_customer(
            {"name": f"C {n}", "email": f"c{n}@example.in", "state_code": "29"}, actor="t"
        )
        for n in range(3)
    ]
    for c in customers:
        notify(c.pk, "service_restored", at=NOW, context={})
    real = delivery.rendering.render

    def render(notification, channel, **kw):
        if notification.customer_id == customers[1].pk:
            raise RuntimeError("boom")  # a bug, not a template error
        return real(notification, channel, **kw)

    monkeypatch.setattr(delivery.rendering, "render", render)
    report = deliver_due(NOW)
    assert (report.sent, report.retrying) == (2, 1)
    failed = NotificationDelivery.objects.get(notification__customer=customers[1], channel="email")
    assert (failed.status, failed.last_error) == ("pending", "RuntimeError: boom")


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_send_one_message_twice(smtp, operator):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL (SQLite serialises whole transactions)")
    customers = [
        create_customer(
            {"name": f"C {n}", "email": f"c{n}@example.in", "state_code": "29"}, actor="t"
        )
        for n in range(24)
    ]
    for c in customers:
        notify(c.pk, "service_restored", at=NOW, context={"reason": "paid"})
    errors = []

    def work() -> None:
        try:
            while deliver_due(NOW, limit=3).claimed or delivery.next_due() is not None:
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    recipients = sorted(r.rcpt_tos[0] for r in smtp.received)
    assert recipients == sorted(f"c{n}@example.in" for n in range(24))  # each exactly once
    rows = NotificationDelivery.objects.filter(channel="email")  # (SMS: no phone, skipped)
    assert rows.count() == 24
    assert {(d.status, d.attempts) for d in rows} == {("sent", 1)}
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}


def test_staff_retry_a_failed_delivery_from_the_admin(admin_client, smtp, subscribed):
    smtp.refuse.add("asha@example.in")
    deliver_due(NOW)
    failed = NotificationDelivery.objects.get()
    assert failed.status == "failed"
    url = reverse("admin:notifications_notificationdelivery_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "recipient refused by the mail server" in page.content.decode()

    smtp.refuse.clear()
    response = admin_client.post(
        url, {"action": "retry_now", "_selected_action": [failed.pk]}, follow=True
    )
    assert "1 queued for the next worker pass" in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("pending", 0, "")
    assert AuditEntry.objects.filter(action="notification_delivery.retried").count() == 1
    assert Notification.objects.get().status == "pending"
    deliver_due(failed.next_attempt_at)
    failed.refresh_from_db()
    assert failed.status == "sent" and len(smtp.received) == 1


def test_sent_deliveries_are_not_retried(subscribed):
    deliver_due(NOW)
    assert delivery.retry_now(list(NotificationDelivery.objects.all()), actor="clerk") == 0


def test_admin_pages(admin_client, subscribed):
    deliver_due(NOW)
    for name in (
        "notification",
        "notificationdelivery",
        "notificationtemplate",
        "notificationpreference",
    ):
        assert (
            admin_client.get(reverse(f"admin:notifications_{name}_changelist")).status_code == 200
        )
    notification = Notification.objects.get()
    page = admin_client.get(
        reverse("admin:notifications_notification_change", args=[notification.pk])
    )
    assert "asha@example.in" in page.content.decode()  # the deliveries inline
    # "Add" starts from the shipped file of the kind asked for.
    add = admin_client.get(
        reverse("admin:notifications_notificationtemplate_add"),
        {"kind": "invoice_issued", "channel": "email"},
    )
    form = add.context["adminform"].form
    assert form.initial["subject"].startswith("Invoice {{ number }}")
    assert "{{ due_date" in form.initial["body_text"]


def test_staff_create_a_template_in_the_admin_and_see_a_preview(admin_client, subscribed):
    response = admin_client.post(
        reverse("admin:notifications_notificationtemplate_add"),
        {
            "kind": "invoice_issued",
            "channel": "sms",
            "language": "en",
            "active": "on",
            "subject": "",
            "body_text": "{{ operator.name }}: bill {{ number }}, {{ total }}.",
            "body_html": "",
        },
    )
    assert response.status_code == 302
    from octet.notifications.models import NotificationTemplate

    template = NotificationTemplate.objects.get()
    assert template.updated_by == "admin"
    page = admin_client.get(
        reverse("admin:notifications_notificationtemplate_change", args=[template.pk])
    )
    assert "Kaveri Fibernet: bill KF/25-26/000001, INR 646.46." in page.content.decode()
    broken = admin_client.post(
        reverse("admin:notifications_notificationtemplate_add"),
        {"kind": "usage_80", "channel": "email", "language": "en", "active": "on"}
        | {"subject": "{% if %}", "body_text": "x", "body_html": ""},
    )
    assert broken.status_code == 200 and "Template error" in broken.content.decode()


def _settings_in_a_fresh_process(tmp_path, **env) -> dict[str, str]:
    code = (
        "import json, octet.settings as s;"
        "print(json.dumps({k: str(getattr(s, k, '')) for k in "
        "['EMAIL_BACKEND', 'EMAIL_FILE_PATH', 'EMAIL_PORT', 'EMAIL_USE_TLS', 'EMAIL_USE_SSL',"
        " 'OCTET_SMS_BACKEND']}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OCTET_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=clean | {"OCTET_DATA_DIR": str(tmp_path)} | env,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    return json.loads(result.stdout)


def test_the_embedded_default_writes_mail_to_files_and_sends_no_sms(tmp_path):
    values = _settings_in_a_fresh_process(tmp_path)
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert values["EMAIL_FILE_PATH"] == str(tmp_path / "outbox")
    assert values["OCTET_SMS_BACKEND"] == "octet.notifications.sms.DisabledSms"


def test_smtp_and_twilio_from_the_environment(tmp_path):
    values = _settings_in_a_fresh_process(
        tmp_path,
        OCTET_EMAIL_HOST="smtp.example.net",
        OCTET_EMAIL_PORT="465",
        OCTET_TWILIO_ACCOUNT_SID="AC1",
    )
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (values["EMAIL_PORT"], values["EMAIL_USE_SSL"], values["EMAIL_USE_TLS"]) == (
        "465",
        "True",
        "False",
    )
    assert values["OCTET_SMS_BACKEND"] == "octet.notifications.sms.TwilioSms"
    values = _settings_in_a_fresh_process(tmp_path, OCTET_EMAIL_HOST="smtp.example.net")
    assert (values["EMAIL_PORT"], values["EMAIL_USE_SSL"], values["EMAIL_USE_TLS"]) == (
        "587",
        "False",
        "True",
    )


def test_the_filebased_default_really_writes_files(tmp_path, subscribed, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "outbox"
    assert deliver_due(NOW).sent == 1
    (written,) = (tmp_path / "outbox").iterdir()
    assert "KF/25-26/000001" in written.read_text()
