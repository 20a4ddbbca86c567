"""E-mail: the message of a notification, its attachments, and the From address.

Sent through Django's e-mail API, so the backend is settings.EMAIL_BACKEND: SMTP when
OCTET_EMAIL_HOST is set, otherwise files under OCTET_DATA_DIR/outbox (see
docs/notifications.md).
"""

from __future__ import annotations

import logging
import re
import smtplib
from email.utils import formataddr, make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from octet.core.models import Operator
from octet.notifications.models import Kind, Notification
from octet.notifications.rendering import Rendered

__all__ = [
    "AttachmentError",
    "Attachment",
    "attachments_for",
    "build_message",
    "from_address",
    "is_permanent",
    "mask_email",
]

log = logging.getLogger(__name__)

Attachment = tuple[str, bytes, str]  # file name, content, MIME type


class AttachmentError(Exception):
    """The document a message must carry could not be rendered."""


def mask_email(address: str) -> str:
    """'asha@example.in' -> 'a***@example.in': enough to tell addresses apart in a log."""
    local, _, domain = (address or "").partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def from_address(operator: Operator) -> str:
    """OCTET_EMAIL_FROM (else the operator's address), shown with the operator's name."""
    configured = getattr(settings, "OCTET_EMAIL_FROM", "") or operator.email
    configured = configured or settings.DEFAULT_FROM_EMAIL
    name, address = parseaddr(configured)
    return formataddr((name or operator.name, address))


def attachments_for(notification: Notification) -> list[Attachment]:
    """The invoice or credit note PDF, or the payment receipt PDF when one can be made."""
    if notification.kind in (Kind.INVOICE_ISSUED, Kind.CREDIT_NOTE_ISSUED):
        return [_document_pdf(notification)]
    if notification.kind == Kind.PAYMENT_RECEIVED:
        receipt = _receipt_pdf(notification)
        return [receipt] if receipt else []
    return []


def _document_pdf(notification: Notification) -> Attachment:
    from octet.billing import documents
    from octet.billing.models import Invoice

    document_id = (notification.context or {}).get("document_id")
    invoice = Invoice.objects.filter(pk=document_id).first() if document_id else None
    if invoice is None or invoice.customer_id != notification.customer_id:
        raise AttachmentError(f"document {document_id} of this notification was not found")
    try:
        pdf = documents.render_pdf(invoice)
    except Exception as exc:  # noqa: BLE001 - reported on the delivery, not raised
        raise AttachmentError(
            f"the PDF of {invoice.number or invoice.pk} could not be rendered: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return documents.filename(invoice, "pdf"), pdf, "application/pdf"


def _receipt_pdf(notification: Notification) -> Attachment | None:
    try:
        # Optional: sent without a receipt by a build that cannot render one.
        from octet.payments.receipts import render_receipt_pdf
    except ImportError:
        return None
    from octet.payments.models import Payment

    payment_id = (notification.context or {}).get("payment_id")
    payment = Payment.objects.filter(pk=payment_id).first() if payment_id else None
    if payment is None or payment.customer_id != notification.customer_id:
        raise AttachmentError(f"payment {payment_id} of this notification was not found")
    try:
        pdf = render_receipt_pdf(payment)
    except Exception as exc:  # noqa: BLE001 - reported on the delivery, not raised
        raise AttachmentError(
            f"the receipt of payment {payment.pk} could not be rendered: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        from octet.payments.receipts import receipt_filename

        name = receipt_filename(payment)
    except ImportError:
        name = f"receipt-{payment.pk}.pdf"
    return name, pdf, "application/pdf"


def build_message(
    notification: Notification,
    rendered: Rendered,
    to: str,
    *,
    attachments: list[Attachment],
    operator: Operator | None = None,
) -> EmailMultiAlternatives:
    operator = operator or Operator.current()
    sender = from_address(operator)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "octet.invalid"
    headers = {
        # Our own id (no DNS lookup of this host), kept as the provider message id.
        "Message-ID": make_msgid(idstring=f"n{notification.pk}", domain=domain),
        # RFC 3834: autoresponders and "out of office" replies leave it alone.
        "Auto-Submitted": "auto-generated",
        "X-Octet-Notification": f"{notification.kind} {notification.pk}",
    }
    reply_to = [operator.email] if operator.email and operator.email not in sender else []
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=sender,
        to=[to],
        reply_to=reply_to,
        headers=headers,
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    for name, content, mimetype in attachments:
        message.attach(name, content, mimetype)
    return message


def is_permanent(exc: Exception) -> bool:
    """Whether an SMTP failure will happen again however often it is retried: every
    recipient refused with a 5xx code (no such mailbox). Anything else (connection,
    timeout, 4xx "try later", authentication) is retried."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    return False


def describe(exc: Exception) -> str:
    """A short reason for the delivery log: the server's answer, never a password."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, answer = next(iter(exc.recipients.values()), (0, b""))
        return f"recipient refused by the mail server: {code} {_text(answer)}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the mail server refused the login (OCTET_EMAIL_USER): {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the mail server answered {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPException | OSError):
        return f"the mail server could not be reached: {type(exc).__name__}: {_text(str(exc))}"
    return f"{type(exc).__name__}: {_text(str(exc))}"


_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _text(answer: bytes | str) -> str:
    """A server's answer on one line, addresses masked (it often quotes the recipient)."""
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    text = _ADDRESS.sub(lambda m: mask_email(m.group(0)), text)
    return " ".join(text.split())[:200]
