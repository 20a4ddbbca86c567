"""Rendering a notification: its template (staff-edited or shipped) and its variables.

Templates are Django templates. The shipped ones live in
``templates/notifications/<kind>.subject.txt``, ``<kind>.txt``, ``<kind>.html`` and
``<kind>.sms.txt``; an active :class:`~octet.notifications.models.NotificationTemplate` row
for the kind, channel and language replaces them. Text parts render with autoescaping off,
the HTML part with it on.

Variables are plain values, never model instances, so a staff-edited template can read
only what is listed in docs/notifications.md: the notification's own context (money
formatted in the operator's locale, dates as dates), a few values looked up from the
records it names (plan names, receipt number...), ``customer``, ``operator`` and ``raw``
(the context exactly as stored).
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal
from django.core.exceptions import ObjectDoesNotExist
from django.template import Context, TemplateDoesNotExist, TemplateSyntaxError, engines
from django.template.base import Template
from django.utils import timezone, translation

from octet.core.models import Operator
from octet.core.money import Money, minor_units
from octet.notifications.models import Channel, Kind, Notification, NotificationTemplate

__all__ = [
    "COMMON_VARIABLES",
    "DEFAULT_LANGUAGE",
    "RenderError",
    "Rendered",
    "check_syntax",
    "render",
    "shipped_source",
    "template_context",
    "VARIABLES",
]

DEFAULT_LANGUAGE = "en"
SMS_MAX_LENGTH = 1600  # Twilio's limit for one message (it splits it into segments)
_COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}")
_DEFAULT_COLOR = "#1f4e79"
# Context keys holding an amount of money in the context's "currency".
_MONEY_KEYS = ("amount", "total", "amount_due", "balance", "open_amount", "price")
GB = 10**9  # ISPs sell decimal gigabytes (as octet.catalog.models.GB)
# A suspension's reason (octet.subscriptions.lifecycle.SuspendReason) in a sentence.
SUSPEND_REASONS = {
    "non_payment": "because a payment is overdue",
    "customer_request": "at your request",
    "staff": "by our staff",
    "abuse": "for a breach of our acceptable use policy",
    "prepaid_expired": "because your prepaid validity ended",
}


# What a template of each kind can use (docs/notifications.md says what each holds).
COMMON_VARIABLES: tuple[str, ...] = (
    "customer.name",
    "customer.account_number",
    "customer.email",
    "customer.phone",
    "operator.name",
    "operator.legal_name",
    "operator.email",
    "operator.phone",
    "operator.upi_id",
    "operator.brand_color",
    "kind",
    "notification.at",
    "raw",
)
_USAGE = ("percent", "allowance", "used", "period_start", "plan", "username", "action")
_USAGE += ("overage_billed", "overage_price")
VARIABLES: dict[str, tuple[str, ...]] = {
    Kind.INVOICE_ISSUED: ("number", "total", "currency", "due_date", "issue_date"),
    Kind.CREDIT_NOTE_ISSUED: ("number", "total", "currency", "issue_date", "against_number")
    + ("reason",),
    Kind.PAYMENT_RECEIVED: ("amount", "currency", "receipt_number", "method", "reference")
    + ("received_at",),
    Kind.PAYMENT_REMINDER: ("amount_due", "currency", "due_date", "overdue", "days")
    + ("invoices", "invoice_numbers"),
    Kind.SERVICE_SUSPENDED: ("reason", "reason_text", "amount_due", "due_date", "invoices")
    + ("invoice_numbers", "plan", "username"),
    Kind.SERVICE_RESTORED: ("reason", "plan", "username"),
    Kind.USAGE_80: _USAGE,
    Kind.USAGE_100: _USAGE,
    Kind.PLAN_CHANGED: ("from_plan", "to_plan", "to_price", "to_interval", "effective_at")
    + ("username", "from", "to"),
    Kind.PREPAID_EXPIRING: ("expires_at", "plan", "username"),
    Kind.PREPAID_EXPIRED: ("expired_at", "expires_at", "plan", "username"),
}


class RenderError(Exception):
    """A template could not be rendered; the message says which one and why."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None  # None for an SMS
    source: str  # "staff template #3" or "shipped file", for error messages and the log


# -- templates -------------------------------------------------------------------------


def _engine():
    # The project's engine (its loaders find the app's template files); raw Template
    # objects, so no request context processors run for a notification.
    return engines["django"].engine


def check_syntax(source: str) -> str:
    """'' when ``source`` compiles, else the template engine's message (for the admin)."""
    if not source:
        return ""
    try:
        _engine().from_string(source)
    except TemplateSyntaxError as exc:
        return f"Template error: {exc}"
    except Exception as exc:  # noqa: BLE001 - any compile failure is the editor's to fix
        return f"Template error: {type(exc).__name__}: {exc}"
    return ""


def _staff_template(kind: str, channel: str, language: str) -> NotificationTemplate | None:
    rows = NotificationTemplate.objects.filter(kind=kind, channel=channel, active=True)
    for lang in dict.fromkeys([language, DEFAULT_LANGUAGE]):
        row = rows.filter(language=lang).first()
        if row is not None:
            return row
    return None


def _render(template: Template, context: dict[str, Any], *, html: bool) -> str:
    return template.render(Context(context, autoescape=html))


def shipped_source(kind: str, channel: str) -> dict[str, str]:
    """The shipped files of a kind as text (for staff starting a template of their own)."""
    stem = f"notifications/{kind}"
    names = (
        {"body_text": f"{stem}.sms.txt"}
        if channel == Channel.SMS
        else {
            "subject": f"{stem}.subject.txt",
            "body_text": f"{stem}.txt",
            "body_html": f"{stem}.html",
        }
    )
    out = {}
    for field, name in names.items():
        try:
            out[field] = _engine().get_template(name).source.strip()
        except TemplateDoesNotExist:
            out[field] = ""
    return out


def render(
    notification: Notification,
    channel: str,
    *,
    language: str = DEFAULT_LANGUAGE,
    template: NotificationTemplate | None = None,
) -> Rendered:
    """Subject and bodies of ``notification`` for ``channel``; raises :class:`RenderError`.

    ``template``: render with this staff template instead of the active one (a preview).
    """
    context = template_context(notification, channel)
    operator = context["operator"]
    row = template or _staff_template(notification.kind, channel, language)
    source = f"staff template #{row.pk or 'new'}" if row else "shipped file"
    engine = _engine()
    stem = f"notifications/{notification.kind}"
    try:
        # Dates print in the operator's zone and language whatever the worker's settings.
        with timezone.override(ZoneInfo(operator["time_zone"])), translation.override(language):
            if channel == Channel.SMS:
                sms_t = (
                    engine.from_string(row.body_text)
                    if row
                    else engine.get_template(f"{stem}.sms.txt")
                )
                body = _tidy(_render(sms_t, context, html=False))
                if len(body) > SMS_MAX_LENGTH:
                    body = body[: SMS_MAX_LENGTH - 1] + "…"
                if not body:
                    raise ValueError("the message is empty")
                return Rendered(subject="", text=body, html=None, source=source)
            if row:
                subject_t = engine.from_string(row.subject)
                text_t = engine.from_string(row.body_text)
                html_t = engine.from_string(row.body_html) if row.body_html.strip() else None
            else:
                subject_t = engine.get_template(f"{stem}.subject.txt")
                text_t = engine.get_template(f"{stem}.txt")
                html_t = engine.get_template(f"{stem}.html")
            # One line: a newline in a header would be refused (or worse, injected).
            subject = " ".join(_render(subject_t, context, html=False).split())
            text = _tidy(_render(text_t, context, html=False))
            if html_t is None:  # staff wrote only text: show it in the branded layout
                html_t = engine.get_template("notifications/email_base.html")
                context = {**context, "text_body": text}
            html_body = _render(html_t, context, html=True)
    except Exception as exc:  # noqa: BLE001 - a bad template fails its delivery, not the worker
        what = f"{source} for {notification.kind} ({channel})"
        raise RenderError(f"{what} could not be rendered: {type(exc).__name__}: {exc}") from exc
    if not subject:
        raise RenderError(f"{source} for {notification.kind} ({channel}) has an empty subject")
    return Rendered(subject=subject, text=text, html=html_body, source=source)


def _tidy(text: str) -> str:
    """Trim each line's trailing space and collapse runs of blank lines (template tags
    leave them behind)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


# -- variables --------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _locale(country: str) -> str:
    name = f"en_{(country or 'IN').upper()}"
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return "en"
    return name


def _money(
    value: Any, currency: str, locale: str, *, absolute: bool = False, plain: bool = False
) -> Any:
    """'₹1,178.82'; ``plain``: 'INR 1,178.82' (an SMS in GSM characters is 160 long, one
    with a '₹' only 70)."""
    try:
        amount = Money(Decimal(str(value)), currency)
    except (InvalidOperation, ValueError, TypeError):
        return value  # not an amount after all: show what was stored
    amount = abs(amount) if absolute else amount
    if not plain:
        return amount.format(locale)
    pattern = copy.copy(Locale.parse(locale).decimal_formats[None])
    digits = minor_units(amount.currency)
    pattern.frac_prec = (digits, digits)
    return f"{amount.currency} {pattern.apply(amount.amount, locale)}"


def _when(key: str, value: Any, tz: ZoneInfo) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if key.endswith("_at"):
            moment = datetime.fromisoformat(value)
            return moment.astimezone(tz) if moment.tzinfo else moment
        if key.endswith(("_date", "_start", "_end")):
            return date.fromisoformat(value[:10])
    except ValueError:
        pass
    return value


def gigabytes(n: Any) -> str:
    """'500 GB', '412.5 GB': decimal gigabytes, as plans are sold."""
    try:
        value = (Decimal(int(n)) / GB).quantize(Decimal("0.1"))
    except (TypeError, ValueError, InvalidOperation):
        return ""
    return f"{format_decimal(value.normalize(), locale='en')} GB"


def _operator(operator: Operator) -> dict[str, Any]:
    color = operator.brand_color if _COLOR_RE.fullmatch(operator.brand_color or "") else ""
    return {
        "name": operator.name,
        "legal_name": operator.legal_name or operator.name,
        "email": operator.email,
        "phone": operator.phone,
        "upi_id": operator.upi_id,
        "brand_color": color or _DEFAULT_COLOR,  # never let a stored value write CSS
        "time_zone": operator.time_zone,
        "currency": operator.currency,
    }


def template_context(notification: Notification, channel: str = Channel.EMAIL) -> dict[str, Any]:
    """The variables a template of ``notification`` sees (see docs/notifications.md)."""
    operator = Operator.current()
    tz = ZoneInfo(operator.time_zone)
    locale = _locale(operator.country)
    raw = dict(notification.context or {})
    currency = str(raw.get("currency") or operator.currency)
    customer = notification.customer
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _MONEY_KEYS and value not in (None, ""):
            absolute = notification.kind == Kind.CREDIT_NOTE_ISSUED  # stored negative
            values[key] = _money(
                value, currency, locale, absolute=absolute, plain=channel == Channel.SMS
            )
        else:
            values[key] = _when(key, value, tz)
    values["currency"] = currency
    if notification.kind == Kind.SERVICE_SUSPENDED:
        values["reason_text"] = SUSPEND_REASONS.get(str(raw.get("reason") or ""), "")
    enrich = _ENRICH.get(notification.kind)
    if enrich is not None:
        # The record it names may be gone: the template still has the stored context.
        with contextlib.suppress(ObjectDoesNotExist, KeyError, ValueError, TypeError):
            values.update(enrich(notification, raw, tz=tz, locale=locale, channel=channel))
    return {
        **values,
        "kind": notification.kind,
        "notification": {"id": notification.pk, "at": notification.at.astimezone(tz)},
        "customer": {
            "name": customer.name,
            "account_number": customer.account_number,
            "email": customer.email,
            "phone": customer.phone,
        },
        "operator": _operator(operator),
        "raw": raw,
    }


Enricher = Callable[..., dict[str, Any]]


def _document(
    n: Notification, raw: dict, *, tz: ZoneInfo, locale: str, channel: str
) -> dict[str, Any]:
    from octet.billing.models import Invoice

    if not raw.get("document_id"):
        return {}
    doc = Invoice.objects.select_related("against").get(pk=raw["document_id"])
    out: dict[str, Any] = {
        "number": doc.number or raw.get("number") or "",
        "issue_date": doc.issued_at.astimezone(tz).date() if doc.issued_at else None,
        "reason": doc.reason,
    }
    if doc.against_id:
        out["against_number"] = doc.against.number or ""
    return out


def _payment(
    n: Notification, raw: dict, *, tz: ZoneInfo, locale: str, channel: str
) -> dict[str, Any]:
    from octet.payments.models import Method, Payment

    if not raw.get("payment_id"):
        return {}
    payment = Payment.objects.get(pk=raw["payment_id"])
    return {
        "receipt_number": payment.receipt_number or "",
        "method": Method(payment.method).label if payment.method in Method.values else "",
        "reference": payment.reference,
        "received_at": payment.received_at.astimezone(tz),
    }


def _usage(
    n: Notification, raw: dict, *, tz: ZoneInfo, locale: str, channel: str
) -> dict[str, Any]:
    from octet.metering.models import QuotaEvent

    out: dict[str, Any] = {
        "percent": 100 if n.kind == Kind.USAGE_100 else 80,
        "allowance": gigabytes(raw.get("allowance")),
        "used": gigabytes(raw.get("used")),
    }
    if not raw.get("period_start"):
        return out
    # The threshold event of this customer's period says which line and what was done.
    event = (
        QuotaEvent.objects.filter(
            subscription__customer_id=n.customer_id,
            period_start=raw["period_start"],
            kind=n.kind,
        )
        .select_related("subscription__plan_version__plan")
        .order_by("-at", "-id")
        .first()
    )
    if event is None:
        return out
    version = event.subscription.plan_version
    out.update(
        plan=version.plan.name,
        username=event.subscription.username,
        action=event.action or "",
        overage_price=_money(
            version.overage_price_per_gb, version.currency, locale, plain=channel == Channel.SMS
        )
        if version.overage_price_per_gb is not None
        else "",
        overage_billed=version.bills_overage,
    )
    return out


def _plan_change(
    n: Notification, raw: dict, *, tz: ZoneInfo, locale: str, channel: str
) -> dict[str, Any]:
    from octet.subscriptions.models import PlanChange

    if not raw.get("change_id"):
        return {}
    change = PlanChange.objects.select_related(
        "from_version__plan", "to_version__plan", "subscription"
    ).get(pk=raw["change_id"])
    new = change.to_version
    return {
        "from_plan": change.from_version.plan.name,
        "to_plan": new.plan.name,
        "to_price": _money(new.price, new.currency, locale, plain=channel == Channel.SMS),
        "to_interval": new.interval,
        "effective_at": change.effective_at.astimezone(tz),
        "username": change.subscription.username,
    }


def _subscription(
    n: Notification, raw: dict, *, tz: ZoneInfo, locale: str, channel: str
) -> dict[str, Any]:
    """Service and prepaid notices: the plan and username of the subscription named, or of
    the customer's only live one."""
    from octet.subscriptions.lifecycle import State
    from octet.subscriptions.models import Subscription

    subs = Subscription.objects.filter(customer_id=n.customer_id).select_related(
        "plan_version__plan"
    )
    if raw.get("subscription_id"):
        sub = subs.get(pk=raw["subscription_id"])
    else:
        live = list(subs.exclude(state=State.TERMINATED)[:2])
        if len(live) != 1:
            return {}
        sub = live[0]
    out: dict[str, Any] = {"plan": sub.plan_version.plan.name, "username": sub.username}
    if sub.prepaid_expires_at and "expires_at" not in raw:
        out["expires_at"] = sub.prepaid_expires_at.astimezone(tz)
    return out


def _dunning(
    n: Notification, raw: dict, *, tz: ZoneInfo, locale: str, channel: str
) -> dict[str, Any]:
    """Reminders and suspensions (octet.dunning): whether the due date has passed, and the
    invoice numbers in one string."""
    out: dict[str, Any] = {}
    invoices = raw.get("invoices")
    if isinstance(invoices, list):
        out["invoice_numbers"] = ", ".join(str(number) for number in invoices)
    if raw.get("due_date"):
        due = date.fromisoformat(str(raw["due_date"])[:10])
        out["overdue"] = due < n.at.astimezone(tz).date()
    if n.kind == Kind.SERVICE_SUSPENDED:
        out.update(_subscription(n, raw, tz=tz, locale=locale, channel=channel))
    elif raw.get("document_id"):
        out.update(_document(n, raw, tz=tz, locale=locale, channel=channel))
    return out


_ENRICH: dict[str, Enricher] = {
    Kind.INVOICE_ISSUED: _document,
    Kind.CREDIT_NOTE_ISSUED: _document,
    Kind.PAYMENT_REMINDER: _dunning,
    Kind.PAYMENT_RECEIVED: _payment,
    Kind.USAGE_80: _usage,
    Kind.USAGE_100: _usage,
    Kind.PLAN_CHANGED: _plan_change,
    Kind.SERVICE_SUSPENDED: _dunning,
    Kind.SERVICE_RESTORED: _subscription,
    Kind.PREPAID_EXPIRING: _subscription,
    Kind.PREPAID_EXPIRED: _subscription,
}
