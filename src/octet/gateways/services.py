"""Online payments: gateway accounts, checkout links, webhooks, auto-pay and refunds.

Works with every provider through the :class:`~octet.gateways.base.Gateway` protocol; the
adapter for an account's provider is imported the first time it is needed.

Money is only ever recorded through ``octet.payments.services`` (``record_payment``,
``record_refund``, ``complete_refund``, ``fail_refund``), which lock the customer, allocate,
post the ledger, audit and notify. What this module adds:

* a webhook counts once: its :class:`WebhookEvent` row is inserted, unique per account and
  event id, in the same transaction as the payment it causes; a payment counts once
  whatever event brings it (``Payment.gateway_payment_id``);
* money received is always recorded: for an invoice settled meanwhile it becomes credit.
  Only a payment in the wrong currency is refused (logged at error level for staff);
* an auto-pay attempt is claimed by inserting its unique (invoice, attempt) row before the
  gateway is called, so two workers never charge the same attempt; the gateway call itself
  runs outside any transaction with the idempotency key ``autopay:INVOICE:ATTEMPT``, and an
  unanswered call is asked again with the same key, so a charge that went through is found
  rather than made twice.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from octet.billing.models import DocumentKind, DocumentStatus, Invoice
from octet.core import audit, clock
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.core.models import Operator
from octet.core.money import InvalidCurrency, Money
from octet.core.periods import local_date
from octet.core.validation import clean_or_refuse, money_input
from octet.customers.models import Customer
from octet.gateways.base import (
    ChargeResult,
    EventKind,
    Gateway,
    GatewayError,
    GatewayEvent,
    InvalidSignature,
)
from octet.gateways.models import (
    AutoPayAttempt,
    CheckoutLink,
    GatewayAccount,
    Provider,
    SavedMethod,
    WebhookEvent,
)
from octet.payments import services as payments
from octet.payments.ledger import GATEWAY_METHODS
from octet.payments.models import Method, Payment, Refund

__all__ = [
    "LINK_REUSE_FOR",
    "PROVIDERS",
    "RETRY_SCHEDULE",
    "TOP_UP_MAX",
    "TOP_UP_MIN",
    "AutoPayRun",
    "add_account",
    "add_saved_method",
    "adapter_for",
    "checkout_for_invoice",
    "checkout_for_top_up",
    "default_account",
    "default_return_url",
    "handle_webhook",
    "next_auto_pay_due",
    "refund_to_original",
    "revoke_saved_method",
    "run_auto_pay",
    "set_account_enabled",
]

log = logging.getLogger(__name__)

# Provider -> adapter class, imported on first use (an install without one SDK still runs).
PROVIDERS: dict[str, str] = {
    Provider.STRIPE: "octet.gateways.stripe_gateway.StripeGateway",
    Provider.RAZORPAY: "octet.gateways.razorpay_gateway.RazorpayGateway",
}

# Auto-pay retries after a failed attempt, counted from the first attempt: attempts on day
# 0, 1, 3 and 7, then no more (the invoice goes the usual dunning way).
RETRY_SCHEDULE: tuple[timedelta, ...] = (timedelta(days=1), timedelta(days=3), timedelta(days=7))
# The least time between two attempts, if the schedule has fallen behind (a stopped worker).
MIN_RETRY_GAP = timedelta(hours=1)
# An attempt claimed but unanswered (the call timed out, the worker died) is asked about
# again with the same idempotency key after this; after GIVE_UP_UNANSWERED it is failed
# (Stripe keeps idempotency keys for 24 hours).
UNANSWERED_RETRY = timedelta(minutes=30)
GIVE_UP_UNANSWERED = timedelta(hours=23)
# The same checkout link is handed out again while it is this young (Stripe Checkout
# Sessions expire after 24 hours).
LINK_REUSE_FOR = timedelta(hours=23)
# Prepaid top-ups, in the operator's currency.
TOP_UP_MIN = Decimal("1")
TOP_UP_MAX = Decimal("100000")

AUTO_PAY_ACTOR = "auto-pay"


# -- adapters ------------------------------------------------------------------------------

_classes: dict[str, type] = {}
_classes_lock = threading.Lock()


def adapter_for(account: GatewayAccount) -> Gateway:
    """The adapter for ``account`` (a new one each call: cheap, and no shared sessions)."""
    path = PROVIDERS.get(account.provider)
    if path is None:
        raise NotFound(f"no adapter for provider {account.provider!r}", field="provider")
    with _classes_lock:
        cls = _classes.get(account.provider)
        if cls is None:
            module, _, name = path.rpartition(".")
            cls = _classes[account.provider] = getattr(importlib.import_module(module), name)
    return cls(account.config())


def _shown(money: Money) -> str:
    """An amount for messages and the log: "646.46 INR"."""
    return f"{money} {money.currency}"


def _actor(account: GatewayAccount) -> str:
    return f"gateway:{account.name}"


def _snapshot(account: GatewayAccount) -> dict[str, Any]:
    """An account for the audit log: never its secrets, not even encrypted."""
    data = audit.snapshot(account)
    return {k: v for k, v in data.items() if not k.endswith("_encrypted")}


# -- accounts ------------------------------------------------------------------------------


@transaction.atomic
def add_account(
    *,
    provider: str,
    name: str,
    secret_key: str,
    webhook_secret: str,
    key_id: str = "",
    api_base: str = "",
    currency: str | None = None,
    actor: str,
    reason: str = "gateway account added",
) -> GatewayAccount:
    """Add a Stripe or Razorpay account; its secrets are stored encrypted."""
    name = (name or "").strip()
    if provider not in Provider.values:
        raise InvalidInput(
            f"unknown provider {provider!r} (use stripe or razorpay)", field="provider"
        )
    if not secret_key or not secret_key.strip():
        raise InvalidInput("the API secret key is required", field="secret_key")
    if not webhook_secret or not webhook_secret.strip():
        raise InvalidInput("the webhook signing secret is required", field="webhook_secret")
    if provider == Provider.RAZORPAY and not key_id.strip():
        raise InvalidInput("a Razorpay account needs its key id (rzp_...)", field="key_id")
    operator_currency = Operator.current().currency
    currency = (currency or operator_currency).strip().upper()
    try:
        Money.zero(currency)
    except InvalidCurrency as exc:
        raise InvalidInput(f"{currency!r} is not a currency code", field="currency") from exc
    if currency != operator_currency:
        raise InvalidInput(
            f"Octet records payments in {operator_currency}: the account must charge in it",
            field="currency",
        )
    if GatewayAccount.objects.filter(name=name).exists():
        raise Conflict(f"a gateway account named {name!r} exists", field="name")
    account = GatewayAccount(
        name=name,
        provider=provider,
        key_id=key_id.strip(),
        api_base=api_base.strip(),
        currency=currency,
        enabled=True,
        created_at=clock.now(),
    )
    account.set_secret_key(secret_key.strip())
    account.set_webhook_secret(webhook_secret.strip())
    clean_or_refuse(account)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        raise Conflict(f"a gateway account named {name!r} exists", field="name") from exc
    audit.record(
        actor=actor,
        action="gateway.account_added",
        instance=account,
        reason=reason,
        after=_snapshot(account),
    )
    return account


@transaction.atomic
def set_account_enabled(
    account: GatewayAccount, enabled: bool, *, actor: str, reason: str = ""
) -> GatewayAccount:
    """Enable or disable an account. Disabled: no new checkouts or auto-pay charges; its
    webhooks are still processed (money already on its way is still recorded)."""
    account = GatewayAccount.objects.select_for_update().get(pk=account.pk)
    if account.enabled == enabled:
        return account
    before = _snapshot(account)
    account.enabled = enabled
    account.save(update_fields=["enabled"])
    audit.record(
        actor=actor,
        action="gateway.account_enabled" if enabled else "gateway.account_disabled",
        instance=account,
        reason=reason,
        before=before,
        after=_snapshot(account),
    )
    return account


def default_account(currency: str | None = None) -> GatewayAccount:
    """The oldest enabled account (charging in ``currency``, if given)."""
    accounts = GatewayAccount.objects.filter(enabled=True)
    if currency:
        accounts = accounts.filter(currency=currency)
    account = accounts.order_by("created_at", "id").first()
    if account is None:
        raise NotFound(
            "no enabled payment gateway account: add one with `octet gateway add`",
            field="account",
        )
    return account


def _usable(account: GatewayAccount | None, currency: str) -> GatewayAccount:
    account = account or default_account(currency)
    if not account.enabled:
        raise Conflict(f"gateway account {account.name} is disabled", field="account")
    if account.currency != currency:
        raise Conflict(
            f"gateway account {account.name} charges in {account.currency}, not {currency}",
            field="account",
        )
    return account


# -- checkout ------------------------------------------------------------------------------


def default_return_url() -> str:
    """Where the provider sends the customer after paying: Octet's own thank-you page
    under OCTET_PUBLIC_URL (e.g. https://billing.example.net), or "" if that is unset."""
    base = settings.OCTET_PUBLIC_URL
    return f"{base}{reverse('gateways:returned')}" if base else ""


def _open_amount(invoice: Invoice) -> Money | None:
    for item in payments.open_invoices([invoice.customer_id]).get(invoice.customer_id, []):
        if item.id == invoice.pk:
            return item.open_amount
    return None


def checkout_for_invoice(
    invoice: Invoice,
    *,
    account: GatewayAccount | None = None,
    return_url: str = "",
    save_method: bool = False,
    actor: str,
) -> CheckoutLink:
    """A payment page for what is open on ``invoice``.

    Asked again while the open amount is unchanged (and the link younger than
    :data:`LINK_REUSE_FOR`), the same link comes back; the provider call carries a key
    stable per (invoice, open amount), so even a retried call makes no second page.
    """
    if invoice.kind != DocumentKind.INVOICE or invoice.status != DocumentStatus.ISSUED:
        raise Conflict(f"{invoice} is not an issued invoice", field="invoice")
    open_amount = _open_amount(invoice)
    if open_amount is None:
        raise Conflict(f"{invoice} has nothing left to pay", field="invoice")
    account = _usable(account, open_amount.currency)
    reuse = f"inv:{invoice.pk}:{open_amount.to_minor_units()}:{'save' if save_method else 'pay'}"
    return _checkout(
        account,
        invoice.customer,
        invoice,
        CheckoutLink.Purpose.INVOICE,
        open_amount,
        reuse=reuse,
        metadata={
            "purpose": "invoice",
            "invoice_id": str(invoice.pk),
            "customer_id": str(invoice.customer_id),
        },
        description=f"{Operator.current().name}: invoice {invoice.number}",
        return_url=return_url,
        save_method=save_method,
        actor=actor,
    )


def checkout_for_top_up(
    customer: Customer,
    amount: object,
    *,
    account: GatewayAccount | None = None,
    return_url: str = "",
    save_method: bool = False,
    actor: str,
) -> CheckoutLink:
    """A payment page adding ``amount`` to the customer's prepaid credit (which settles
    open invoices first, oldest first, like any payment)."""
    currency = Operator.current().currency
    money = money_input(amount, currency, "amount")
    low, high = Money(TOP_UP_MIN, currency), Money(TOP_UP_MAX, currency)
    if money < low or money > high:
        raise InvalidInput(
            f"a top-up must be between {_shown(low)} and {_shown(high)}", field="amount"
        )
    account = _usable(account, currency)
    reuse = f"top:{customer.pk}:{money.to_minor_units()}:{'save' if save_method else 'pay'}"
    return _checkout(
        account,
        customer,
        None,
        CheckoutLink.Purpose.TOP_UP,
        money,
        reuse=reuse,
        metadata={"purpose": "top_up", "customer_id": str(customer.pk)},
        description=f"{Operator.current().name}: top-up of account {customer.account_number}",
        return_url=return_url,
        save_method=save_method,
        actor=actor,
    )


def _checkout(
    account: GatewayAccount,
    customer: Customer,
    invoice: Invoice | None,
    purpose: str,
    amount: Money,
    *,
    reuse: str,
    metadata: dict[str, str],
    description: str,
    return_url: str,
    save_method: bool,
    actor: str,
) -> CheckoutLink:
    links = CheckoutLink.objects.filter(account=account, reuse_key=reuse)
    current = links.filter(status=CheckoutLink.Status.CREATED).order_by("-created_at", "-id")
    link = current.first()
    if link is not None and clock.now() - link.created_at < LINK_REUSE_FOR:
        return link
    # A new page after the old one went stale: a new key, counted per reuse key.
    key = f"checkout:{account.name}:{reuse}:{links.count()}"
    # "checkout" finds the link again from any event of the payment; save_method tells
    # whether the customer was asked to save the method.
    metadata = {**metadata, "checkout": key}
    if save_method:
        metadata["save_method"] = "1"
    checkout = adapter_for(account).create_checkout(
        amount,
        description=description,
        metadata=metadata,
        customer_email=customer.email,
        customer_phone=customer.phone,
        customer_name=customer.name,
        return_url=return_url or default_return_url(),
        save_method=save_method,
        idempotency_key=key,
    )
    with transaction.atomic():
        links.filter(status=CheckoutLink.Status.CREATED).exclude(
            provider_id=checkout.provider_id
        ).update(status=CheckoutLink.Status.EXPIRED)
        try:
            with transaction.atomic():
                link = CheckoutLink.objects.create(
                    account=account,
                    customer=customer,
                    invoice=invoice,
                    purpose=purpose,
                    amount=amount.amount,
                    currency=amount.currency,
                    save_method=save_method,
                    reuse_key=reuse,
                    idempotency_key=key,
                    provider_id=checkout.provider_id,
                    url=checkout.url,
                    created_at=clock.now(),
                )
        except IntegrityError:
            # Asked twice at once: the provider answered both calls with the same page.
            same = CheckoutLink.objects.filter(idempotency_key=key).first()
            if same is None:
                raise
            return same
        audit.record(
            actor=actor,
            action="checkout.created",
            instance=link,
            reason=f"{purpose} {_shown(amount)} via {account.name}",
        )
    return link


# -- saved methods -------------------------------------------------------------------------


def add_saved_method(
    customer: Customer,
    account: GatewayAccount,
    *,
    provider_customer_id: str,
    provider_method_id: str,
    method: str = "card",
    label: str = "",
    auto_pay: bool = True,
    actor: str,
    reason: str = "saved method registered",
) -> SavedMethod:
    """Register a method saved at the provider (a card, a UPI or eMandate token) that the
    customer agreed Octet may charge; webhooks do this by themselves for checkouts that
    asked to save the method."""
    if not provider_method_id.strip():
        raise InvalidInput("the provider's method id is required", field="provider_method_id")
    if method not in GATEWAY_METHODS:
        raise InvalidInput(f"{method!r} cannot be charged through a gateway", field="method")
    with transaction.atomic():
        saved, created = _save_method(
            account,
            customer,
            provider_customer_id=provider_customer_id.strip(),
            provider_method_id=provider_method_id.strip(),
            method=method,
            label=label.strip(),
            auto_pay=auto_pay,
            actor=actor,
            reason=reason,
        )
    if not created:
        raise Conflict(f"method {provider_method_id} is already saved", field="provider_method_id")
    return saved


@transaction.atomic
def revoke_saved_method(method: SavedMethod, *, actor: str, reason: str) -> SavedMethod:
    """Stop using a saved method (auto-pay off); the row stays for the attempts it made."""
    method = SavedMethod.objects.select_for_update().get(pk=method.pk)
    if method.revoked_at is not None:
        return method
    before = audit.snapshot(method)
    method.revoked_at = clock.now()
    method.auto_pay = False
    method.save(update_fields=["revoked_at", "auto_pay"])
    audit.record(
        actor=actor, action="saved_method.revoked", instance=method, reason=reason, before=before
    )
    return method


def _save_method(
    account: GatewayAccount,
    customer: Customer,
    *,
    provider_customer_id: str,
    provider_method_id: str,
    method: str,
    label: str,
    auto_pay: bool,
    actor: str,
    reason: str,
) -> tuple[SavedMethod, bool]:
    """Create the saved method, or fill in what an earlier event did not know."""
    existing = (
        SavedMethod.objects.select_for_update()
        .filter(account=account, provider_method_id=provider_method_id)
        .first()
    )
    method = method if method in GATEWAY_METHODS else "card"
    if existing is None:
        try:
            with transaction.atomic():
                saved = SavedMethod.objects.create(
                    customer=customer,
                    account=account,
                    provider_customer_id=provider_customer_id,
                    provider_method_id=provider_method_id,
                    method=method,
                    label=(label or f"{Method(method).label} saved at checkout")[:100],
                    auto_pay=auto_pay,
                    created_at=clock.now(),
                )
        except IntegrityError:
            existing = SavedMethod.objects.select_for_update().get(
                account=account, provider_method_id=provider_method_id
            )
        else:
            audit.record(actor=actor, action="saved_method.added", instance=saved, reason=reason)
            return saved, True
    if existing.customer_id != customer.pk:
        log.error(
            "gateway %s: method %s is saved for customer %s, not customer %s; left as it was",
            account.name,
            provider_method_id,
            existing.customer_id,
            customer.pk,
        )
        return existing, False
    before = audit.snapshot(existing)
    if label and existing.label != label[:100]:
        existing.label = label[:100]
    if provider_customer_id and not existing.provider_customer_id:
        existing.provider_customer_id = provider_customer_id
    if auto_pay and not existing.auto_pay and existing.revoked_at is None:
        existing.auto_pay = True
    after = audit.snapshot(existing)
    if after != before:
        existing.save()
        audit.record(actor=actor, action="saved_method.updated", instance=existing, before=before)
    return existing, False


# -- webhooks ------------------------------------------------------------------------------


def handle_webhook(account: GatewayAccount, body: bytes, headers: Any) -> str:
    """Verify and act on one webhook; returns what happened (also stored on the event).

    Raises :class:`InvalidSignature` (answer 400: nothing was written) or
    :class:`GatewayError` for a verified body that is no event Octet can read (400). A
    replay, or the same event delivered twice at once, changes nothing.
    """
    adapter = adapter_for(account)
    try:
        event = adapter.parse_webhook(body, headers)
    except InvalidSignature:
        # Never the body or the headers: they may hold personal data, and the secret's
        # absence or mismatch is all staff need to know.
        log.warning("gateway %s: webhook signature does not verify; dropped", account.name)
        raise
    except GatewayError as exc:
        log.warning("gateway %s: unreadable webhook dropped: %s", account.name, exc)
        raise
    event_id = event.event_id or hashlib.sha256(bytes(body)).hexdigest()
    if len(event_id) > 100:
        event_id = f"sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(
                    account=account,
                    event_id=event_id,
                    kind=event.kind[:30],
                    provider_payment_id=event.provider_payment_id[:100],
                    received_at=clock.now(),
                )
        except IntegrityError:
            log.info("gateway %s: event %s again; nothing to do", account.name, event_id)
            return "duplicate event: already processed"
        handler = _HANDLERS.get(event.kind)
        outcome = handler(account, event, record) if handler else "ignored"
        record.outcome = outcome
        record.save(update_fields=["outcome"])
    log.info("gateway %s: event %s (%s): %s", account.name, event_id, event.kind, outcome)
    return outcome


def _int(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _link_for(account: GatewayAccount, metadata: dict[str, str]) -> CheckoutLink | None:
    key = metadata.get("checkout")
    if not key:
        return None
    return (
        CheckoutLink.objects.select_for_update()
        .filter(account=account, idempotency_key=key)
        .first()
    )


def _attempt_for(event: GatewayEvent, metadata: dict[str, str]) -> AutoPayAttempt | None:
    attempts = AutoPayAttempt.objects.select_for_update()
    invoice_id, number = _int(metadata.get("invoice_id")), _int(metadata.get("attempt"))
    if invoice_id is not None and number is not None:
        found = attempts.filter(invoice_id=invoice_id, attempt=number).first()
        if found is not None:
            return found
    if event.provider_payment_id:
        return attempts.filter(provider_payment_id=event.provider_payment_id).first()
    return None


def _whose(
    link: CheckoutLink | None, attempt: AutoPayAttempt | None, metadata: dict[str, str]
) -> tuple[Customer | None, Invoice | None]:
    """The customer and invoice a payment is for: what Octet stored wins over metadata."""
    if link is not None:
        return link.customer, link.invoice
    if attempt is not None:
        return attempt.invoice.customer, attempt.invoice
    customer_id = _int(metadata.get("customer_id"))
    customer = Customer.objects.filter(pk=customer_id).first() if customer_id else None
    if customer is None:
        return None, None
    invoice_id = _int(metadata.get("invoice_id"))
    invoice = (
        Invoice.objects.filter(pk=invoice_id, customer=customer, kind=DocumentKind.INVOICE).first()
        if invoice_id
        else None
    )
    return customer, invoice


def _record_gateway_payment(
    account: GatewayAccount,
    customer: Customer,
    amount: Money,
    method: str,
    provider_payment_id: str,
    invoice: Invoice | None,
    *,
    expected: Money | None,
    purpose: str,
) -> tuple[Payment, list[str]]:
    """Record money the gateway collected: to ``invoice`` while it is open, else as credit.

    An amount other than what is open is recorded as it is (record_payment allocates it:
    the rest of an overpayment is credit, an underpayment settles part of the invoice).
    """
    notes: list[str] = []
    method = method if method in GATEWAY_METHODS else "card"
    open_amount = _open_amount(invoice) if invoice is not None else None
    if invoice is not None and open_amount is None:
        notes.append(f"{invoice} was already settled: kept as credit")
    elif open_amount is not None and amount > open_amount:
        notes.append(f"more than the {_shown(open_amount)} open on {invoice}: the rest is credit")
    elif open_amount is not None and amount < open_amount:
        notes.append(f"less than the {_shown(open_amount)} open on {invoice}: settled in part")
    if expected is not None and amount != expected:
        notes.append(f"asked for {_shown(expected)}, received {_shown(amount)}")
    common: dict[str, Any] = {
        "actor": _actor(account),
        "reference": provider_payment_id,
        "gateway": account.name,
        "gateway_payment_id": provider_payment_id,
        "note": f"{purpose.replace('_', '-')} via {account.name}",
    }
    try:
        payment = payments.record_payment(
            customer, amount.amount, method, to_invoice=invoice if open_amount else None, **common
        )
    except Conflict:
        # Settled by someone else since we looked (a clerk at the counter): the money
        # received is still the customer's, as credit.
        payment = payments.record_payment(customer, amount.amount, method, **common)
        notes.append(f"{invoice} was settled meanwhile: kept as credit")
    except IntegrityError:
        # The same payment recorded at this moment by another event of it.
        payment = Payment.objects.filter(gateway_payment_id=provider_payment_id).first()
        if payment is None:
            raise
        notes.append("recorded by another event at the same time")
    return payment, notes


def _on_payment_succeeded(
    account: GatewayAccount, event: GatewayEvent, record: WebhookEvent
) -> str:
    if not event.provider_payment_id:
        log.error("gateway %s: event %s has no payment id", account.name, record.event_id)
        return "rejected: no payment id"
    metadata = dict(event.metadata)
    link = _link_for(account, metadata)
    attempt = _attempt_for(event, metadata) if metadata.get("purpose") == "auto_pay" else None
    customer, invoice = _whose(link, attempt, metadata)
    existing = Payment.objects.filter(gateway_payment_id=event.provider_payment_id).first()
    if customer is None:
        if existing is not None:
            return f"payment {existing.pk} already recorded"
        log.warning(
            "gateway %s: payment %s names no Octet customer and was not recorded; if no "
            "other event of it is recorded, attribute it by hand",
            account.name,
            event.provider_payment_id,
        )
        return "ignored: no Octet customer in the payment's metadata"
    if event.amount is None:
        log.error("gateway %s: payment %s has no amount", account.name, event.provider_payment_id)
        return "rejected: no amount"
    if link is not None:
        expected_currency = link.currency
    elif attempt is not None:
        expected_currency = attempt.currency
    else:
        expected_currency = invoice.currency if invoice is not None else account.currency
    received = event.amount.currency
    if received != expected_currency or received != Operator.current().currency:
        log.error(
            "gateway %s: payment %s is in %s, expected %s; NOT recorded: refund it at the "
            "gateway or record it by hand",
            account.name,
            event.provider_payment_id,
            received,
            expected_currency,
        )
        audit.record(
            actor=_actor(account),
            action="gateway.payment_rejected",
            instance=record,
            reason=f"payment {event.provider_payment_id} in {received}, expected "
            f"{expected_currency}",
        )
        return f"rejected: currency {received} instead of {expected_currency}"
    if existing is not None:
        payment, notes = existing, [f"payment {existing.pk} already recorded"]
    else:
        if link is not None:
            expected = Money(link.amount, link.currency)
            purpose = link.purpose
        elif attempt is not None:
            expected, purpose = Money(attempt.amount, attempt.currency), "auto_pay"
        else:
            expected, purpose = None, metadata.get("purpose") or "gateway payment"
        payment, notes = _record_gateway_payment(
            account,
            customer,
            event.amount,
            event.method,
            event.provider_payment_id,
            invoice,
            expected=expected,
            purpose=purpose,
        )
        notes.insert(0, f"recorded payment {payment.pk}")
    if link is not None:
        _mark_link_paid(account, link, payment, event)
    if attempt is not None:
        _attempt_succeeded(attempt, payment, event.provider_payment_id, actor=_actor(account))
    wants_saving = link.save_method if link is not None else metadata.get("save_method") == "1"
    if event.provider_method_id and wants_saving:
        _, created = _save_method(
            account,
            customer,
            provider_customer_id=event.provider_customer_id,
            provider_method_id=event.provider_method_id,
            method=event.method,
            label=event.method_label,
            auto_pay=True,
            actor=_actor(account),
            reason="saved at checkout",
        )
        if created:
            notes.append("method saved for auto-pay")
    return "; ".join(notes)


def _mark_link_paid(
    account: GatewayAccount, link: CheckoutLink, payment: Payment, event: GatewayEvent
) -> None:
    before = audit.snapshot(link)
    if link.status != CheckoutLink.Status.PAID:
        link.status = CheckoutLink.Status.PAID
        link.paid_at = clock.now()
    if link.payment_id is None:
        link.payment = payment
    if event.provider_customer_id and not link.provider_customer_id:
        link.provider_customer_id = event.provider_customer_id[:100]
    if audit.snapshot(link) != before:
        link.save()
        audit.record(actor=_actor(account), action="checkout.paid", instance=link, before=before)


def _retry_at(attempt: AutoPayAttempt, at: datetime) -> datetime | None:
    """When the attempt after this failed one is due, or None: no more."""
    if attempt.attempt > len(RETRY_SCHEDULE):
        return None
    first = (
        AutoPayAttempt.objects.filter(invoice_id=attempt.invoice_id, attempt=1)
        .values_list("at", flat=True)
        .first()
    ) or attempt.at
    return max(first + RETRY_SCHEDULE[attempt.attempt - 1], at + MIN_RETRY_GAP)


def _attempt_failed(
    attempt: AutoPayAttempt, reason: str, provider_payment_id: str, *, at: datetime, actor: str
) -> None:
    """Record a failed attempt and when the next one is due (caller holds its row lock)."""
    before = audit.snapshot(attempt)
    attempt.status = AutoPayAttempt.Status.FAILED
    attempt.failure_reason = (reason or "declined")[:1000]
    attempt.provider_payment_id = (provider_payment_id or attempt.provider_payment_id)[:100]
    attempt.next_retry_at = _retry_at(attempt, at)
    attempt.save()
    audit.record(
        actor=actor, action="autopay.failed", instance=attempt, reason=reason, before=before
    )
    # No notification kind exists for a failed charge: the attempt row and this line are
    # the record; the invoice's usual reminders go on.
    log.warning(
        "auto-pay of invoice %s, attempt %d, failed: %s; %s",
        attempt.invoice_id,
        attempt.attempt,
        attempt.failure_reason,
        f"next attempt at {attempt.next_retry_at:%Y-%m-%d %H:%M %Z}"
        if attempt.next_retry_at
        else "no more attempts",
    )


def _attempt_succeeded(
    attempt: AutoPayAttempt, payment: Payment, provider_payment_id: str, *, actor: str
) -> None:
    if attempt.status == AutoPayAttempt.Status.SUCCEEDED and attempt.payment_id is not None:
        return
    before = audit.snapshot(attempt)
    attempt.status = AutoPayAttempt.Status.SUCCEEDED
    attempt.payment = payment
    attempt.provider_payment_id = provider_payment_id[:100]
    attempt.next_retry_at = None
    attempt.failure_reason = ""
    attempt.save()
    audit.record(
        actor=actor,
        action="autopay.succeeded",
        instance=attempt,
        reason=f"payment {payment.pk}",
        before=before,
    )


def _on_payment_failed(account: GatewayAccount, event: GatewayEvent, record: WebhookEvent) -> str:
    metadata = dict(event.metadata)
    if metadata.get("purpose") != "auto_pay":
        return "noted: a checkout payment failed (the customer may try again)"
    attempt = _attempt_for(event, metadata)
    if attempt is None:
        return "ignored: no such auto-pay attempt"
    if attempt.status != AutoPayAttempt.Status.PENDING:
        return f"auto-pay attempt {attempt.attempt} already {attempt.status}"
    _attempt_failed(
        attempt,
        event.failure_reason or "payment failed",
        event.provider_payment_id,
        at=clock.now(),
        actor=_actor(account),
    )
    return f"auto-pay attempt {attempt.attempt} failed"


def _on_refund(account: GatewayAccount, event: GatewayEvent, record: WebhookEvent) -> str:
    if not event.provider_refund_id:
        return "ignored: no refund id"
    actor = _actor(account)
    succeeded = event.kind == EventKind.REFUND_SUCCEEDED
    refund = Refund.objects.filter(gateway_refund_id=event.provider_refund_id).first()
    if refund is not None:
        return _refund_status(account, refund, succeeded, event, actor)
    if not succeeded:
        return "ignored: failure of a refund Octet did not record"
    # Made outside Octet (in the provider's dashboard): record it, as money that left.
    payment = (
        Payment.objects.filter(gateway=account.name, gateway_payment_id=event.provider_payment_id)
        .select_related("customer")
        .first()
        if event.provider_payment_id
        else None
    )
    if payment is None or event.amount is None:
        log.warning(
            "gateway %s: refund %s of a payment Octet does not know; not recorded",
            account.name,
            event.provider_refund_id,
        )
        return "ignored: refund of a payment Octet does not know"
    try:
        with transaction.atomic():
            refund = payments.record_refund(
                payment.customer,
                event.amount.amount,
                method=payment.method,
                actor=actor,
                reason=f"refunded at {account.name} outside Octet",
                payment=payment,
                gateway=account.name,
                gateway_refund_id=event.provider_refund_id,
            )
    except (Conflict, InvalidInput, IntegrityError) as exc:
        # Octet's own refund_to_original may be recording this very refund right now.
        refund = Refund.objects.filter(gateway_refund_id=event.provider_refund_id).first()
        if refund is not None:
            return f"refund {refund.pk} recorded by Octet meanwhile"
        log.error(
            "gateway %s: refund %s of payment %s was made outside Octet and cannot be "
            "recorded yet (%s): issue a credit note for what it refunds; the gateway "
            "delivers the event again",
            account.name,
            event.provider_refund_id,
            payment.pk,
            exc,
        )
        # Money did leave: keep nothing of this event (the view answers 500) so the
        # provider delivers it again, and it is recorded once staff free the credit.
        raise RefundNotRecordable(str(exc)) from exc
    return f"recorded refund {refund.pk} made outside Octet"


class RefundNotRecordable(Exception):
    """A refund made at the gateway that Octet cannot record until staff act."""


def _refund_status(
    account: GatewayAccount, refund: Refund, succeeded: bool, event: GatewayEvent, actor: str
) -> str:
    if succeeded:
        if refund.status == Refund.Status.PENDING:
            payments.complete_refund(refund, actor=actor)
            return f"refund {refund.pk} paid out"
        if refund.status == Refund.Status.SUCCEEDED:
            return f"refund {refund.pk} already paid out"
        log.error(
            "gateway %s: refund %s was recorded as failed and is now reported paid out; "
            "check it with the provider",
            account.name,
            event.provider_refund_id,
        )
        return f"rejected: refund {refund.pk} was recorded as failed"
    if refund.status == Refund.Status.PENDING:
        payments.fail_refund(refund, reason=event.failure_reason or "refund failed", actor=actor)
        return f"refund {refund.pk} failed: the amount is credit again"
    if refund.status == Refund.Status.FAILED:
        return f"refund {refund.pk} already failed"
    log.error(
        "gateway %s: refund %s was recorded as paid out and is now reported failed; the "
        "customer did not get the money: check it and correct by hand",
        account.name,
        event.provider_refund_id,
    )
    return f"rejected: refund {refund.pk} was recorded as paid out"


def _on_method_saved(account: GatewayAccount, event: GatewayEvent, record: WebhookEvent) -> str:
    if not event.provider_method_id:
        return "ignored: no method id"
    metadata = dict(event.metadata)
    existing = SavedMethod.objects.filter(
        account=account, provider_method_id=event.provider_method_id
    ).first()
    link = _link_for(account, metadata)
    consent = link.save_method if link is not None else metadata.get("save_method") == "1"
    if existing is not None:
        customer: Customer | None = existing.customer
    elif link is not None:
        customer = link.customer
    else:
        customer, _ = _whose(None, None, metadata)
    if customer is None and event.provider_customer_id:
        # Known from the checkout where the provider made its customer.
        known = (
            CheckoutLink.objects.filter(
                account=account, provider_customer_id=event.provider_customer_id
            )
            .order_by("-created_at")
            .first()
        )
        if known is not None:
            customer, consent = known.customer, consent or known.save_method
        else:
            other = SavedMethod.objects.filter(
                account=account, provider_customer_id=event.provider_customer_id
            ).first()
            customer = other.customer if other is not None else None
    if customer is None:
        return "ignored: a method of a customer Octet does not know"
    saved, created = _save_method(
        account,
        customer,
        provider_customer_id=event.provider_customer_id,
        provider_method_id=event.provider_method_id,
        method=event.method,
        label=event.method_label,
        auto_pay=consent,
        actor=_actor(account),
        reason="saved at the provider",
    )
    return f"{'saved' if created else 'updated'} method {saved.pk} ({saved.label})"


_HANDLERS = {
    EventKind.PAYMENT_SUCCEEDED: _on_payment_succeeded,
    EventKind.PAYMENT_FAILED: _on_payment_failed,
    EventKind.REFUND_SUCCEEDED: _on_refund,
    EventKind.REFUND_FAILED: _on_refund,
    EventKind.METHOD_SAVED: _on_method_saved,
}


# -- auto-pay ------------------------------------------------------------------------------


@dataclass
class AutoPayRun:
    """What one pass of the auto-pay job did."""

    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    unanswered: int = 0


@dataclass(frozen=True)
class _Due:
    at: datetime
    invoice_id: int
    attempt: int  # the attempt to make (a new one) or to ask about again (unanswered)
    method_id: int | None  # the method to charge (a new attempt)
    unanswered_id: int | None = None  # an attempt claimed earlier, with no answer recorded


_OUTCOME = {
    AutoPayAttempt.Status.SUCCEEDED: "succeeded",
    AutoPayAttempt.Status.FAILED: "failed",
    AutoPayAttempt.Status.PENDING: "pending",
}


def _active_methods() -> dict[int, dict[str, Any]]:
    """Each customer's newest auto-pay method on an enabled account."""
    rows = (
        SavedMethod.objects.filter(auto_pay=True, revoked_at__isnull=True, account__enabled=True)
        .order_by("customer_id", "-created_at", "-id")
        .values("id", "customer_id", "created_at", "account__currency")
    )
    methods: dict[int, dict[str, Any]] = {}
    for row in rows:
        methods.setdefault(row["customer_id"], row)
    return methods


def _due(until: datetime | None) -> list[_Due]:
    items = [
        _Due(row["next_retry_at"], row["invoice_id"], row["attempt"], None, row["id"])
        for row in AutoPayAttempt.objects.filter(
            status=AutoPayAttempt.Status.PENDING, next_retry_at__isnull=False
        ).values("id", "invoice_id", "attempt", "next_retry_at")
    ]
    methods = _active_methods()
    if methods:
        open_by_customer = payments.open_invoices(methods)
        invoice_ids = [o.id for opens in open_by_customer.values() for o in opens]
        latest: dict[int, dict[str, Any]] = {}
        for row in (
            AutoPayAttempt.objects.filter(invoice_id__in=invoice_ids)
            .order_by("invoice_id", "attempt")
            .values("invoice_id", "attempt", "status", "next_retry_at")
        ):
            latest[row["invoice_id"]] = row
        for customer_id, opens in open_by_customer.items():
            method = methods[customer_id]
            for item in opens:
                if item.open_amount.currency != method["account__currency"]:
                    continue
                last = latest.get(item.id)
                if last is None:
                    # Not before the invoice, nor before the customer agreed to auto-pay.
                    at = max(item.issued_order[0], method["created_at"])
                    items.append(_Due(at, item.id, 1, method["id"]))
                elif last["status"] == AutoPayAttempt.Status.FAILED and last["next_retry_at"]:
                    items.append(
                        _Due(last["next_retry_at"], item.id, last["attempt"] + 1, method["id"])
                    )
    if until is not None:
        items = [item for item in items if item.at <= until]
    return sorted(items, key=lambda item: (item.at, item.invoice_id, item.attempt))


def next_auto_pay_due(after: datetime | None = None) -> datetime | None:
    """When the auto-pay job next has work: the earliest first attempt, retry, or
    unanswered attempt to ask about again (for the scheduler and the simulation)."""
    items = _due(None)
    return items[0].at if items else None


def run_auto_pay(at: datetime | None = None) -> AutoPayRun:
    """Charge every invoice due for an auto-pay attempt by ``at``; safe to run in several
    workers at once (each attempt is claimed by one)."""
    at = at or clock.now()
    run = AutoPayRun()
    for item in _due(at):
        attempt = _claim(item, at)
        if attempt is None:
            continue
        run.attempted += 1
        outcome = _charge(attempt, at)
        setattr(run, outcome, getattr(run, outcome) + 1)
    return run


def _claim(item: _Due, at: datetime) -> AutoPayAttempt | None:
    """Make the attempt this worker's, or None if another worker has it or it is moot."""
    if item.unanswered_id is not None:
        # Whoever moves the deadline first asks again; the others see it moved.
        claimed = AutoPayAttempt.objects.filter(
            pk=item.unanswered_id,
            status=AutoPayAttempt.Status.PENDING,
            next_retry_at=item.at,
        ).update(next_retry_at=at + UNANSWERED_RETRY)
        return AutoPayAttempt.objects.get(pk=item.unanswered_id) if claimed else None
    with transaction.atomic():
        last = (
            AutoPayAttempt.objects.filter(invoice_id=item.invoice_id).order_by("-attempt").first()
        )
        if (last.attempt if last else 0) != item.attempt - 1:
            return None  # another worker moved on since the list was made
        if last is not None and (
            last.status != AutoPayAttempt.Status.FAILED
            or last.next_retry_at is None
            or last.next_retry_at > at
        ):
            return None
        invoice = Invoice.objects.get(pk=item.invoice_id)
        open_amount = _open_amount(invoice)
        if open_amount is None:
            if last is not None:  # settled some other way: no more retries
                AutoPayAttempt.objects.filter(pk=last.pk).update(next_retry_at=None)
            return None
        method = SavedMethod.objects.filter(
            pk=item.method_id, auto_pay=True, revoked_at__isnull=True
        ).first()
        if method is None:
            return None
        try:
            with transaction.atomic():
                return AutoPayAttempt.objects.create(
                    invoice=invoice,
                    saved_method=method,
                    attempt=item.attempt,
                    at=at,
                    amount=open_amount.amount,
                    currency=open_amount.currency,
                    status=AutoPayAttempt.Status.PENDING,
                    # Asked about again after this if no answer gets recorded.
                    next_retry_at=at + UNANSWERED_RETRY,
                )
        except IntegrityError:
            return None  # another worker claimed it first


def _charge(attempt: AutoPayAttempt, at: datetime) -> str:
    """Ask the gateway (outside any transaction) and record the answer."""
    method = attempt.saved_method
    account = method.account
    invoice = attempt.invoice
    try:
        result = adapter_for(account).charge_saved_method(
            Money(attempt.amount, attempt.currency),
            provider_customer_id=method.provider_customer_id,
            provider_method_id=method.provider_method_id,
            description=f"{Operator.current().name}: invoice {invoice.number} (auto-pay)",
            metadata={
                "purpose": "auto_pay",
                "invoice_id": str(invoice.pk),
                "customer_id": str(invoice.customer_id),
                "attempt": str(attempt.attempt),
            },
            idempotency_key=f"autopay:{invoice.pk}:{attempt.attempt}",
        )
    except GatewayError as exc:
        return _unanswered(attempt, str(exc), at)
    except Exception:
        log.exception(
            "auto-pay of invoice %s, attempt %d: unexpected error; asked again later",
            invoice.pk,
            attempt.attempt,
        )
        return _unanswered(attempt, "unexpected error (see the log)", at)
    if result.succeeded and not result.provider_payment_id:
        return _unanswered(attempt, "the gateway reported success without a payment id", at)
    return _apply_charge(attempt, result, at)


def _unanswered(attempt: AutoPayAttempt, reason: str, at: datetime) -> str:
    """No definite answer: ask again later with the same key, or give up after a day."""
    with transaction.atomic():
        attempt = AutoPayAttempt.objects.select_for_update().get(pk=attempt.pk)
        if attempt.status != AutoPayAttempt.Status.PENDING:
            return _OUTCOME[attempt.status]  # a webhook answered meanwhile
        if at - attempt.at >= GIVE_UP_UNANSWERED:
            _attempt_failed(
                attempt,
                f"no answer from the gateway since {attempt.at:%Y-%m-%d %H:%M %Z}: {reason}",
                "",
                at=at,
                actor=AUTO_PAY_ACTOR,
            )
            return "failed"
        attempt.failure_reason = f"no answer yet, asking again: {reason}"[:1000]
        attempt.next_retry_at = at + UNANSWERED_RETRY
        attempt.save(update_fields=["failure_reason", "next_retry_at"])
    log.warning(
        "auto-pay of invoice %s, attempt %d: %s; asking again with the same key after %s",
        attempt.invoice_id,
        attempt.attempt,
        reason,
        UNANSWERED_RETRY,
    )
    return "unanswered"


def _apply_charge(attempt: AutoPayAttempt, result: ChargeResult, at: datetime) -> str:
    with transaction.atomic():
        attempt = AutoPayAttempt.objects.select_for_update().get(pk=attempt.pk)
        method = attempt.saved_method
        account = method.account
        asked = Money(attempt.amount, attempt.currency)
        if result.succeeded:
            charged = result.amount or asked
            if charged.currency != asked.currency:
                log.error(
                    "auto-pay of invoice %s: %s charged %s, asked %s; NOT recorded: check it",
                    attempt.invoice_id,
                    account.name,
                    charged,
                    asked,
                )
                attempt.failure_reason = f"charged in {charged.currency}: check by hand"
                attempt.next_retry_at = None
                attempt.save(update_fields=["failure_reason", "next_retry_at"])
                return "pending"
            payment, _ = _record_gateway_payment(
                account,
                attempt.invoice.customer,
                charged,
                method.method,
                result.provider_payment_id,
                attempt.invoice,
                expected=asked,
                purpose="auto_pay",
            )
            _attempt_succeeded(attempt, payment, result.provider_payment_id, actor=AUTO_PAY_ACTOR)
            return "succeeded"
        if attempt.status != AutoPayAttempt.Status.PENDING:
            return _OUTCOME[attempt.status]  # a webhook answered meanwhile
        if result.pending:
            before = audit.snapshot(attempt)
            attempt.provider_payment_id = result.provider_payment_id[:100]
            attempt.failure_reason = ""
            attempt.next_retry_at = None  # the provider's webhook tells the outcome
            attempt.save()
            audit.record(
                actor=AUTO_PAY_ACTOR,
                action="autopay.pending",
                instance=attempt,
                reason="accepted by the gateway; the outcome comes by webhook",
                before=before,
            )
            return "pending"
        _attempt_failed(
            attempt,
            result.failure_reason or "declined",
            result.provider_payment_id,
            at=at,
            actor=AUTO_PAY_ACTOR,
        )
        return "failed"


# -- refunds -------------------------------------------------------------------------------


def refund_to_original(payment: Payment, amount: object, *, actor: str, reason: str) -> Refund:
    """Refund (part of) a gateway payment to the card or account it came from.

    Draws on the customer's unapplied credit, like any refund: money that settled an
    invoice is refunded after a credit note frees it. The customer stays locked while the
    gateway is asked, so the credit checked is still there when the refund is recorded;
    the call's key is stable per (payment, refund number, amount), so retrying after an
    error never refunds twice.
    """
    if not reason or not reason.strip():
        raise InvalidInput("a refund needs a reason", field="reason")
    if not payment.gateway or not payment.gateway_payment_id:
        raise Conflict(
            f"payment {payment.pk} did not come through a gateway: refund it by hand",
            field="payment",
        )
    account = GatewayAccount.objects.filter(name=payment.gateway).first()
    if account is None:
        raise NotFound(f"no gateway account named {payment.gateway!r}", field="payment")
    if isinstance(amount, Money):
        amount = amount.amount
    money = money_input(amount, payment.currency, "amount")
    if not money.is_positive():
        raise InvalidInput("a refund must be positive", field="amount")
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=payment.customer_id)
        payment = Payment.objects.get(pk=payment.pk)
        payments.check_refundable(customer, money, payment)
        # Stable across retries (not a count of recorded refunds: a webhook may record the
        # first attempt's refund before the retry): the same amount of the same payment on
        # the same day is one refund at the gateway.
        day = local_date(clock.now(), Operator.current().time_zone).isoformat()
        key = f"refund:{payment.pk}:{money.to_minor_units()}:{day}"
        result = adapter_for(account).refund(
            payment.gateway_payment_id, money, reason=reason.strip(), idempotency_key=key
        )
        if Refund.objects.filter(gateway_refund_id=result.provider_refund_id).exists():
            raise Conflict(
                f"this refund ({result.provider_refund_id}) is already recorded: the same "
                "amount of this payment was refunded today; refund a different amount or "
                "retry tomorrow if a second refund is really meant",
                field="amount",
            )
        if not result.succeeded and not result.pending:
            log.warning(
                "gateway %s refused refund %s of payment %s: %s",
                account.name,
                result.provider_refund_id,
                payment.pk,
                result.failure_reason,
            )
            raise GatewayError(
                f"{account.name} could not refund: {result.failure_reason or 'refused'}"
            )
        try:
            return payments.record_refund(
                customer,
                money.amount,
                method=payment.method,
                actor=actor,
                reason=reason.strip(),
                payment=payment,
                gateway=account.name,
                gateway_refund_id=result.provider_refund_id,
                status=Refund.Status.SUCCEEDED if result.succeeded else Refund.Status.PENDING,
            )
        except Exception:
            log.error(
                "gateway %s made refund %s of payment %s but Octet could not record it; "
                "record it by hand",
                account.name,
                result.provider_refund_id,
                payment.pk,
            )
            raise
