"""E-mail through a real SMTP server (aiosmtpd on loopback) with Django's SMTP backend."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from octet.billing.models import Invoice
from octet.core.models import Operator
from octet.customers.services import create_customer
from octet.notifications.delivery import RETRY_DELAYS, deliver_due
from octet.notifications.models import (
    Notification,
    NotificationDelivery,
    NotificationTemplate,
)
from octet.notifications.services import notify
from octet.payments import services as payments

from .conftest import SMTP_PASSWORD, SMTP_USER, at, free_port

NOW = at(2026, 1, 15, 9, 1)


def subject(message) -> str:
    # A long encoded subject is folded before its first word ("Subject: \n =?utf-8?..."):
    # mail readers drop that leading space; Python's parser keeps it.
    return message["Subject"].strip()


def parts(message):
    # What went over the wire has CRLF line ends; compare with plain newlines.
    text = message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")
    files = [
        (a.get_filename(), a.get_content_type(), a.get_content())
        for a in message.iter_attachments()
    ]
    return text, html, files


def test_invoice_arrives_with_subject_text_html_and_the_pdf(smtp, subscribed, asha):
    operator = Operator.current()
    operator.brand_color = "#aa3300"
    operator.email = "help@kaveri.example"
    operator.phone = "+918041234567"
    operator.save()

    report = deliver_due(NOW)

    assert (report.sent, report.failed, report.retrying) == (1, 0, 0)
    (got,) = smtp.received
    message = got.message
    assert got.rcpt_tos == ["asha@example.in"]
    assert message["To"] == "asha@example.in"
    assert message["From"] == "Kaveri Fibernet <billing@kaveri.example>"
    assert message["Reply-To"] == "help@kaveri.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert subject(message) == "Invoice KF/25-26/000001 from Kaveri Fibernet - ₹646.46"
    text, html, files = parts(message)
    assert "Dear Asha Rao," in text
    assert "for ₹646.46 is attached" in text
    assert "Please pay it by 29 Jan 2026." in text
    assert "Contact us on +918041234567 or at help@kaveri.example" in text
    assert "{{" not in text and "{%" not in text
    assert "background:#aa3300" in html
    assert "<strong>KF/25-26/000001</strong>" in html
    assert "29 Jan 2026" in html
    ((name, mimetype, pdf),) = files
    assert (name, mimetype) == ("KF-25-26-000001.pdf", "application/pdf")
    assert pdf.startswith(b"%PDF")
    from pypdf import PdfReader

    assert "KF/25-26/000001" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()

    delivery = NotificationDelivery.objects.get()
    assert (delivery.channel, delivery.to, delivery.status, delivery.attempts) == (
        "email",
        "asha@example.in",
        "sent",
        1,
    )
    assert delivery.provider_message_id == message["Message-ID"]
    assert delivery.sent_at == NOW
    assert Notification.objects.get().status == "sent"
    # Nothing more to do: a second pass sends nothing twice.
    assert deliver_due(NOW + timedelta(hours=1)).claimed == 0
    assert len(smtp.received) == 1


def test_payment_received_carries_the_receipt(smtp, subscribed, asha):
    from octet.core import clock

    clock.set_time(at(2026, 1, 20, 11))
    payment = payments.record_payment(asha, "646.46", "upi", reference="UTR123", actor="clerk")
    clock.set_time(None)  # the worker runs on the real clock
    deliver_due(at(2026, 1, 20, 11, 1))

    (mail,) = [r.message for r in smtp.received if subject(r.message).startswith("Payment")]
    assert subject(mail) == f"Payment received - ₹646.46 (receipt {payment.receipt_number})"
    text, html, files = parts(mail)
    assert "received your payment of ₹646.46 on 20 Jan 2026 by UPI" in text
    assert "Reference: UTR123" in text
    ((name, mimetype, pdf),) = files
    assert name.startswith("receipt-") and name.endswith(".pdf")
    assert mimetype == "application/pdf" and pdf.startswith(b"%PDF")


def test_the_configured_smtp_login_is_used(smtp, subscribed):
    with override_settings(EMAIL_HOST_USER=SMTP_USER, EMAIL_HOST_PASSWORD=SMTP_PASSWORD):
        assert deliver_due(NOW).sent == 1
    assert smtp.received[0].login == SMTP_USER


def test_a_staff_template_replaces_the_shipped_file(smtp, subscribed):
    NotificationTemplate.objects.create(
        kind="invoice_issued",
        channel="email",
        subject="Bill {{ number }} for {{ customer.name }}",
        body_text="Please pay {{ total }} by {{ due_date|date:'d/m/Y' }}.\n\n{{ operator.name }}",
        body_html="",  # empty: the text, in the operator's layout
        updated_at=NOW,
    )
    deliver_due(NOW)
    (got,) = smtp.received
    assert subject(got.message) == "Bill KF/25-26/000001 for Asha Rao"
    text, html, files = parts(got.message)
    assert text.strip() == "Please pay ₹646.46 by 29/01/2026.\n\nKaveri Fibernet"
    assert "<p>Please pay ₹646.46 by 29/01/2026.</p>" in html
    assert "Kaveri Fibernet" in html and len(files) == 1  # the PDF still goes with it


def test_an_inactive_staff_template_leaves_the_file_in_use(smtp, subscribed):
    NotificationTemplate.objects.create(
        kind="invoice_issued",
        subject="Bill {{ number }}",
        body_text="x",
        active=False,
        updated_at=NOW,
    )
    deliver_due(NOW)
    assert subject(smtp.received[0].message).startswith("Invoice KF/25-26/000001")


def test_customer_data_is_escaped_in_html_but_not_in_text(smtp, operator):
    customer = create_customer(
        {"name": "Rao <b>&</b> Sons", "email": "rao@example.in", "state_code": "29"},
        actor="test",
    )
    notify(customer.pk, "service_restored", at=NOW, context={"reason": "paid"})
    deliver_due(NOW)
    text, html, _ = parts(smtp.received[0].message)
    assert "Dear Rao <b>&</b> Sons," in text
    assert "Dear Rao &lt;b&gt;&amp;&lt;/b&gt; Sons," in html


def test_a_broken_template_fails_its_delivery_and_the_worker_goes_on(smtp, subscribed, asha):
    template = NotificationTemplate(
        kind="invoice_issued",
        subject="Invoice {{ number }}",
        body_text='{% include "notifications/no-such-part.txt" %}',
        updated_at=NOW,
    )
    template.full_clean()  # it compiles: the missing file only shows when it renders
    template.save()
    notify(asha.pk, "service_restored", at=NOW, context={"reason": "paid"})

    report = deliver_due(NOW)

    assert (report.sent, report.failed) == (1, 1)
    assert [subject(r.message) for r in smtp.received] == [
        "Your Kaveri Fibernet internet service is back"
    ]
    failed = NotificationDelivery.objects.get(notification__kind="invoice_issued")
    assert failed.status == "failed" and failed.attempts == 1  # it will not fix itself
    assert failed.next_attempt_at is None
    assert failed.last_error.startswith(
        f"staff template #{template.pk} for invoice_issued (email) could not be rendered: "
        "TemplateDoesNotExist: notifications/no-such-part.txt"
    )
    notification = failed.notification
    notification.refresh_from_db()
    assert notification.status == "failed"
    assert "could not be rendered" in notification.last_error


def test_a_template_that_does_not_compile_is_refused_in_the_admin_form(operator):
    template = NotificationTemplate(
        kind="usage_80", subject="{% if %}", body_text="{{ used|nosuchfilter }}", updated_at=NOW
    )
    with pytest.raises(ValidationError) as caught:
        template.full_clean()
    assert "Template error" in caught.value.message_dict["subject"][0]
    assert "nosuchfilter" in caught.value.message_dict["body_text"][0]


def test_a_syntax_error_saved_anyway_fails_with_a_message(smtp, subscribed):
    NotificationTemplate.objects.create(  # written around the form's check
        kind="invoice_issued", subject="{% if %}", body_text="x", updated_at=NOW
    )
    deliver_due(NOW)
    delivery = NotificationDelivery.objects.get()
    assert delivery.status == "failed"
    assert "TemplateSyntaxError" in delivery.last_error
    assert smtp.received == []


def test_a_refused_mailbox_fails_for_good_at_once(smtp, subscribed):
    smtp.refuse.add("asha@example.in")
    report = deliver_due(NOW)
    assert report.failed == 1
    delivery = NotificationDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert delivery.last_error == (
        "recipient refused by the mail server: 550 5.1.1 <a***@example.in>: "
        "Recipient address rejected: no such mailbox"  # the address masked, as in the log
    )


def test_a_mail_server_that_does_not_answer_is_retried(subscribed, asha, monkeypatch):
    from django.core.mail.backends.smtp import EmailBackend

    opened = []
    real_open = EmailBackend.open

    def counting_open(self):
        opened.append(self.port)
        return real_open(self)

    monkeypatch.setattr(EmailBackend, "open", counting_open)
    notify(asha.pk, "plan_changed", at=NOW, context={"from": "A v1", "to": "B v1"})
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=free_port(),  # nothing listens there
        EMAIL_TIMEOUT=2,
    ):
        report = deliver_due(NOW)
    assert report.retrying == 2
    assert len(opened) == 1  # the second message did not wait for a second timeout
    for delivery in NotificationDelivery.objects.all():
        assert delivery.status == "pending" and delivery.attempts == 1
        assert delivery.next_attempt_at == NOW + RETRY_DELAYS[0]
        assert delivery.last_error.startswith("the mail server could not be reached")
    assert set(Notification.objects.values_list("status", flat=True)) == {"pending"}


def test_the_address_is_read_when_sending(smtp, subscribed, asha):
    """Staff fixing a wrong address before the retry: the retry uses the new one."""
    from octet.customers.services import update_customer

    smtp.refuse.add("asha@example.in")
    deliver_due(NOW)
    update_customer(asha, {"email": "asha.rao@example.in"}, actor="clerk", reason="typo")
    from octet.notifications.delivery import retry_now

    assert retry_now(list(NotificationDelivery.objects.all()), actor="clerk", now=NOW) == 1
    deliver_due(NOW + timedelta(minutes=1))
    delivery = NotificationDelivery.objects.get()
    assert (delivery.status, delivery.to) == ("sent", "asha.rao@example.in")
    assert smtp.received[0].rcpt_tos == ["asha.rao@example.in"]


def test_the_invoice_pdf_must_exist(smtp, subscribed, asha):
    invoice = Invoice.objects.get()
    Notification.objects.filter(kind="invoice_issued").update(
        context={"document_id": invoice.pk + 1000, "number": "X", "total": "1", "currency": "INR"}
    )
    deliver_due(NOW)
    delivery = NotificationDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.last_error == f"document {invoice.pk + 1000} of this notification was not found"
