"""Prepaid vouchers: generating a print run, selling it, redeeming a code, cancelling.

The life of a batch:

1. :func:`generate_batch` creates the batch and its vouchers and returns the plain codes
   **once**, for the printer (:func:`codes_csv`, :func:`codes_pdf`, :func:`write_export`);
   only keyed hashes are stored.
2. :func:`sell_batch` records that the batch was paid for (by a reseller, a shop, over the
   counter): the ledger's ``vouchers_sold`` entry (cash/bank to ``vouchers_outstanding``).
   Vouchers of a batch not sold yet cannot be redeemed: cards stolen from the print shop
   or the warehouse are worthless until the batch is activated by its sale.
3. :func:`redeem` turns one voucher into a payment by method ``voucher`` (which moves its
   value from ``vouchers_outstanding`` to the customer's credit) and, for a plan voucher,
   recharges the customer's prepaid subscription on that plan with it.

Redemption policy, decided here:

* A plan voucher recharges a live (not terminated) subscription of the customer **on the
  voucher's plan**, never another plan: a card sold as "AirFiber 30 days" must buy that,
  not a part of something else. A pending subscription is activated (its first validity
  is billed at activation), any other is renewed (:func:`octet.billing.services.renew_prepaid`);
  one suspended because its prepaid validity ran out is reconnected. With several live
  subscriptions on the plan the caller names one; with none the voucher is refused.
* The recharge invoice is issued first and the voucher's payment settles **that invoice**
  first (then the oldest others): an older unpaid invoice never swallows a recharge the
  customer just bought. If the voucher (with any credit the customer already had) does not
  cover the recharge -- the plan's price went up after the cards were printed -- nothing
  happens and the voucher stays unused.
* A top-up voucher (no plan) is a plain payment: its value settles open invoices oldest
  first and the rest stays as credit.

Guessing is throttled per customer: after :data:`MAX_FAILED_ATTEMPTS` codes that did not
redeem within :data:`FAILURE_WINDOW`, every attempt is refused until the oldest of them is
older than the window. Failures are rows (:class:`FailedRedemption`), so the limit holds
across processes. A code with a typo (wrong length, character or check character) is
refused before any look-up, tells an attacker nothing, and is not counted. Call
:func:`redeem` outside a transaction of your own: a failure is recorded after the
redemption's own transaction has rolled back, and an outer rollback would undo it too.

Codes never appear in logs, audit entries, errors or exceptions' reprs.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_symbol
from django.db import transaction
from django.db.models import Max
from django.template.loader import render_to_string

from octet.billing import documents
from octet.billing import services as billing
from octet.billing.models import DocumentKind, DocumentStatus, Invoice
from octet.catalog.models import Plan, PlanKind
from octet.core import audit, clock, sequences
from octet.core.errors import Conflict, InvalidInput, NotFound, OctetError
from octet.core.models import Operator
from octet.core.money import Money
from octet.core.periods import local_date
from octet.core.validation import money_input
from octet.customers.models import Customer
from octet.payments import journal, ledger
from octet.payments import services as payments
from octet.payments.models import Method, Payment
from octet.subscriptions import services as subscriptions
from octet.subscriptions.lifecycle import State, SuspendReason
from octet.subscriptions.models import Subscription
from octet.vouchers import codes
from octet.vouchers.models import FailedRedemption, Voucher, VoucherBatch, batch_code

__all__ = [
    "FAILURE_WINDOW",
    "MAX_BATCH_SIZE",
    "MAX_FAILED_ATTEMPTS",
    "SALE_METHODS",
    "GeneratedBatch",
    "PrintedVoucher",
    "Redemption",
    "codes_csv",
    "codes_pdf",
    "find_batch",
    "find_voucher",
    "generate_batch",
    "redeem",
    "sell_batch",
    "sheet_html",
    "throttled_until",
    "void_batch",
    "void_voucher",
    "write_export",
]

logger = logging.getLogger("octet.vouchers")

MAX_BATCH_SIZE = 100_000
MAX_FAILED_ATTEMPTS = 5
FAILURE_WINDOW = timedelta(minutes=15)
# What a batch can be paid for with: money that lands in the till or the bank.
SALE_METHODS = tuple(sorted(m for m in ledger.MANUAL_METHODS if m != Method.VOUCHER))


@dataclass(frozen=True)
class PrintedVoucher:
    """A voucher as printed: its serial and its code (``XXXX-XXXX-XXXX-XXXX``)."""

    serial: str
    code: str = field(repr=False)  # never in a traceback or a log line


@dataclass(frozen=True)
class GeneratedBatch:
    """A new batch and its plain codes: the only time the codes exist outside the cards."""

    batch: VoucherBatch
    vouchers: tuple[PrintedVoucher, ...] = field(repr=False)


@dataclass(frozen=True)
class Redemption:
    """What redeeming a voucher did: the payment, and for a plan voucher the recharge."""

    voucher: Voucher
    payment: Payment
    subscription: Subscription | None = None
    invoices: tuple[Invoice, ...] = ()


class _Refused(Exception):
    """A code that did not redeem: counted towards the throttle, then re-raised as ``error``."""

    def __init__(self, reason: str, error: OctetError) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


# -- helpers ----------------------------------------------------------------------------


def _operator_today(operator: Operator) -> date:
    return local_date(clock.now(), operator.time_zone)


def _voucher_snapshot(voucher: Voucher) -> dict:
    data = audit.snapshot(voucher)
    data.pop("code_hash", None)  # not a code, but nothing to do in a log many staff read
    return data


def _date_input(value: object, what: str) -> date:
    if isinstance(value, datetime):
        raise InvalidInput(f"{what} is a day, not a time", field=what)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD)", field=what)


def find_batch(reference: str) -> VoucherBatch:
    """A batch by its code (``B0007``, ``b7``) or number (``7``)."""
    text = str(reference).strip().upper().removeprefix("B")
    if not text.isdigit():
        raise NotFound(f"no voucher batch {reference!r} (e.g. B0007)", field="batch")
    batch = VoucherBatch.objects.filter(number=int(text)).first()
    if batch is None:
        raise NotFound(f"no voucher batch {reference!r}", field="batch")
    return batch


def find_voucher(serial: str) -> Voucher:
    """A voucher by the serial printed on it (``B0007-000123``)."""
    voucher = Voucher.objects.filter(serial=str(serial).strip().upper()).first()
    if voucher is None:
        raise NotFound(f"no voucher with serial {serial!r}", field="serial")
    return voucher


# -- generating and exporting -------------------------------------------------------------


def _plan_for(plan: Plan | str, value: Money) -> Plan:
    if isinstance(plan, str):
        found = Plan.objects.filter(code=plan.strip().upper()).first()
        if found is None:
            raise NotFound(f"no plan with code {plan!r}", field="plan")
        plan = found
    if plan.kind != PlanKind.PREPAID:
        raise InvalidInput(
            f"plan {plan.code} is not prepaid: a voucher can only recharge a prepaid plan "
            "(leave the plan out for a top-up voucher)",
            field="plan",
        )
    version = plan.current_version
    if version is None:
        raise Conflict(f"plan {plan.code} has no version", field="plan")
    if version.currency != value.currency:
        raise Conflict(
            f"plan {plan.code} is priced in {version.currency}, the vouchers in {value.currency}",
            field="plan",
        )
    if value.amount < version.price:
        raise InvalidInput(
            f"a voucher for {plan.code} must be worth at least its price {version.price} "
            f"{version.currency} (plus tax unless the price includes it)",
            field="value",
        )
    return plan


@transaction.atomic
def generate_batch(
    *,
    value: object,
    count: int,
    valid_until: date | str,
    actor: str,
    plan: Plan | str | None = None,
    name: str = "",
) -> GeneratedBatch:
    """Create a batch of ``count`` vouchers worth ``value`` each; return their codes once.

    The codes are not stored: print or export them from the result before it is dropped
    (in the same transaction, if a failed export must leave no batch behind).
    """
    operator = Operator.current()
    money = money_input(value, operator.currency, "value")
    if not money.is_positive():
        raise InvalidInput("a voucher's value must be positive", field="value")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH_SIZE:
        raise InvalidInput(f"a batch has 1 to {MAX_BATCH_SIZE} vouchers", field="count")
    last_day = _date_input(valid_until, "valid_until")
    if last_day < _operator_today(operator):
        raise InvalidInput(f"valid until {last_day:%d %b %Y} is already past", field="valid_until")
    plan_obj = _plan_for(plan, money) if plan is not None else None
    default = f"{plan_obj.name} voucher" if plan_obj else "Top-up voucher"
    name = (name or "").strip() or f"{default} {money.amount} {money.currency}"

    now = clock.now()
    batch = VoucherBatch.objects.create(
        number=sequences.next_value("voucher_batch"),
        name=name[:200],
        value=money.amount,
        currency=money.currency,
        plan=plan_obj,
        count=count,
        valid_until=last_day,
        created_at=now,
        created_by=actor,
    )
    rows: list[Voucher] = []
    printed: list[PrintedVoucher] = []
    seen: set[str] = set()
    for position in range(1, count + 1):
        code = codes.generate()
        digest = codes.hash_code(code)
        while digest in seen:  # 75 random bits: never in practice, but cheap to rule out
            code = codes.generate()
            digest = codes.hash_code(code)
        seen.add(digest)
        serial = f"{batch.code}-{position:06d}"
        rows.append(Voucher(batch=batch, position=position, serial=serial, code_hash=digest))
        printed.append(PrintedVoucher(serial, codes.format_code(code)))
    Voucher.objects.bulk_create(rows, batch_size=2000)
    audit.record(
        actor=actor,
        action="voucher_batch.generated",
        instance=batch,
        reason=f"{count} vouchers of {money.amount} {money.currency}"
        + (f" for plan {plan_obj.code}" if plan_obj else " (top-up)"),
    )
    logger.info("voucher batch %s generated: %s vouchers", batch.code, count)
    return GeneratedBatch(batch, tuple(printed))


def codes_csv(generated: GeneratedBatch) -> str:
    """The batch for a printer's mail merge: serial, code, value, currency, plan, valid until."""
    batch = generated.batch
    value = str(Money(batch.value, batch.currency).amount)
    plan = batch.plan.code if batch.plan_id else ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["serial", "code", "value", "currency", "plan", "valid_until"])
    for voucher in generated.vouchers:
        writer.writerow(
            [voucher.serial, voucher.code, value, batch.currency, plan, batch.valid_until]
        )
    return out.getvalue()


def sheet_html(generated: GeneratedBatch) -> str:
    """The printable sheet of cards (A4, cut along the lines) as HTML."""
    batch = generated.batch
    operator = Operator.current()
    fmt = documents._formatter(batch.currency)
    symbol = get_currency_symbol(
        batch.currency, locale="en_IN" if batch.currency == "INR" else "en"
    )
    plan = batch.plan
    context = {
        "batch": batch,
        "operator": operator,
        "brand": documents._branding(operator, {}),
        "value": f"{symbol} {fmt(batch.value)}",
        "product": plan.name if plan else "Account top-up",
        "validity_days": plan.current_version.prepaid_validity_days if plan else None,
        "valid_until": batch.valid_until,
        "vouchers": generated.vouchers,
    }
    return render_to_string("vouchers/sheet.html", context)


def codes_pdf(generated: GeneratedBatch) -> bytes:
    """The printable sheet as a PDF. Nothing is fetched: only data: URIs are followed."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"})
    return HTML(string=sheet_html(generated), url_fetcher=fetcher).write_pdf()


def write_export(path: str | os.PathLike[str], body: bytes | str) -> Path:
    """Write codes to a new file readable by its owner only; never overwrite a file.

    Raises ``FileExistsError`` (an ``OSError``) when the file exists: an old sheet of live
    codes is not silently replaced, and two runs never write into one file.
    """
    target = Path(path)
    data = body.encode("utf-8") if isinstance(body, str) else body
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return target


# -- selling and cancelling ---------------------------------------------------------------


@transaction.atomic
def sell_batch(
    batch: VoucherBatch,
    *,
    method: str,
    actor: str,
    sold_to: str = "",
    reference: str = "",
    at: datetime | None = None,
) -> VoucherBatch:
    """Record the sale of a batch (its unused vouchers at face value); once per batch.

    Posts ``vouchers_sold``: the money (till or bank, by ``method``) against the
    ``vouchers_outstanding`` liability, which redemptions then draw down. From now on the
    batch's vouchers can be redeemed.
    """
    if method not in SALE_METHODS:
        raise InvalidInput(
            f"vouchers are paid for by {', '.join(SALE_METHODS)}, not {method!r}", field="method"
        )
    batch = VoucherBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status == VoucherBatch.Status.VOID:
        raise Conflict(f"batch {batch.code} is void and cannot be sold", field="batch")
    if batch.sold_at is not None:
        buyer = f" to {batch.sold_to}" if batch.sold_to else ""
        raise Conflict(
            f"batch {batch.code} was already sold on {batch.sold_at:%d %b %Y}{buyer}",
            field="batch",
        )
    operator = Operator.current()
    if batch.valid_until < _operator_today(operator):
        raise Conflict(f"batch {batch.code} expired on {batch.valid_until:%d %b %Y}", field="batch")
    unused = batch.vouchers.filter(status=Voucher.Status.UNUSED).count()
    if not unused:
        raise Conflict(f"batch {batch.code} has no unused vouchers to sell", field="batch")
    total = Money(batch.value, batch.currency).multiply(unused)
    now = clock.now()
    at = at or now
    before = audit.snapshot(batch)
    batch.sold_to = sold_to.strip()[:200]
    batch.sold_at = at
    batch.sold_by = actor
    batch.sale_method = method
    batch.sale_reference = reference.strip()[:100]
    batch.save(update_fields=["sold_to", "sold_at", "sold_by", "sale_method", "sale_reference"])
    buyer = f" to {batch.sold_to}" if batch.sold_to else ""
    journal.post(
        ledger.vouchers_sold(total, method, memo=f"vouchers {batch.code} x{unused}{buyer}"),
        at=at,
    )
    audit.record(
        actor=actor,
        action="voucher_batch.sold",
        instance=batch,
        reason=f"{unused} vouchers, {total.amount} {total.currency} by {method}{buyer}",
        before=before,
    )
    return batch


@transaction.atomic
def void_batch(batch: VoucherBatch, *, reason: str, actor: str) -> VoucherBatch:
    """Cancel a batch (lost, stolen, misprinted): its unused vouchers can never be redeemed.

    Vouchers already redeemed stay redeemed. Nothing is posted: the value of a sold batch
    stays in ``vouchers_outstanding`` until the operator settles it with the reseller.
    """
    if not reason.strip():
        raise InvalidInput("cancelling a batch needs a reason", field="reason")
    batch = VoucherBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status == VoucherBatch.Status.VOID:
        raise Conflict(f"batch {batch.code} is already void", field="batch")
    before = audit.snapshot(batch)
    # An UPDATE waits for a redemption holding a voucher's lock, then skips it if redeemed.
    voided = Voucher.objects.filter(batch=batch, status=Voucher.Status.UNUSED).update(
        status=Voucher.Status.VOID
    )
    batch.status = VoucherBatch.Status.VOID
    batch.save(update_fields=["status"])
    audit.record(
        actor=actor,
        action="voucher_batch.voided",
        instance=batch,
        reason=f"{reason.strip()} ({voided} unused vouchers cancelled)",
        before=before,
    )
    return batch


@transaction.atomic
def void_voucher(voucher: Voucher, *, reason: str, actor: str) -> Voucher:
    """Cancel one unused voucher (a damaged or reported-stolen card)."""
    if not reason.strip():
        raise InvalidInput("cancelling a voucher needs a reason", field="reason")
    voucher = Voucher.objects.select_for_update().get(pk=voucher.pk)
    if voucher.status != Voucher.Status.UNUSED:
        raise Conflict(f"voucher {voucher.serial} is {voucher.status}", field="voucher")
    before = _voucher_snapshot(voucher)
    voucher.status = Voucher.Status.VOID
    voucher.save(update_fields=["status"])
    audit.record(
        actor=actor,
        action="voucher.voided",
        instance=voucher,
        reason=reason.strip(),
        before=before,
        after=_voucher_snapshot(voucher),
    )
    return voucher


# -- redeeming ----------------------------------------------------------------------------


def throttled_until(customer: Customer, at: datetime | None = None) -> datetime | None:
    """When the customer may try a code again, or None when they may now."""
    now = at or clock.now()
    recent = list(
        FailedRedemption.objects.filter(customer_id=customer.pk, at__gt=now - FAILURE_WINDOW)
        .order_by("-at", "-id")
        .values_list("at", flat=True)[:MAX_FAILED_ATTEMPTS]
    )
    if len(recent) < MAX_FAILED_ATTEMPTS:
        return None
    return recent[-1] + FAILURE_WINDOW


def _refuse_if_throttled(customer: Customer) -> None:
    until = throttled_until(customer)
    if until is not None:
        local = until.astimezone(ZoneInfo(Operator.current().time_zone))
        logger.warning("voucher redemption refused for customer %s: throttled", customer.pk)
        raise Conflict(
            "too many wrong voucher codes for this account: "
            f"try again after {local:%H:%M} ({local:%d %b %Y})",
            field="code",
        )


def _record_failure(customer: Customer, reason: str, actor: str) -> None:
    FailedRedemption.objects.create(
        customer_id=customer.pk, at=clock.now(), reason=reason, actor=actor
    )
    logger.warning("voucher redemption refused for customer %s: %s", customer.pk, reason)


def redeem(
    customer: Customer,
    code: str,
    *,
    actor: str,
    subscription: Subscription | None = None,
) -> Redemption:
    """Redeem the voucher with ``code`` (as typed: spaces, dashes, any case) for ``customer``.

    In one transaction: the voucher's value is recorded as a payment by method ``voucher``
    (reference: the serial) and the voucher is marked redeemed with it; a plan voucher also
    recharges the customer's prepaid subscription on its plan (``subscription`` picks one
    when there are several). Refused, changing nothing, for a typo, an unknown code, a
    voucher used, cancelled, expired or of a batch not sold yet, or a throttled customer.
    """
    _refuse_if_throttled(customer)
    try:
        normalised = codes.normalise(code)
    except InvalidInput:
        logger.info("voucher code with a typo refused for customer %s", customer.pk)
        raise
    try:
        with transaction.atomic():
            return _redeem(customer, normalised, actor=actor, chosen=subscription)
    except _Refused as refused:
        _record_failure(customer, refused.reason, actor)
        raise refused.error from None


def _usable_voucher(customer: Customer, code: str) -> Voucher:
    """The voucher with this code, locked, or _Refused saying why it cannot be redeemed."""
    voucher = (
        Voucher.objects.select_for_update(of=("self",))
        .select_related("batch__plan")
        .filter(code_hash__in=codes.code_hashes(code))
        .first()
    )
    if voucher is None:
        raise _Refused(
            "unknown",
            NotFound("no voucher has that code: please check it against the card", field="code"),
        )
    batch = voucher.batch
    operator = Operator.current()
    if voucher.status == Voucher.Status.REDEEMED:
        used = voucher.redeemed_at.astimezone(ZoneInfo(operator.time_zone))
        raise _Refused(
            "used", Conflict(f"this voucher was already used on {used:%d %b %Y}", field="code")
        )
    if voucher.status == Voucher.Status.VOID or batch.status == VoucherBatch.Status.VOID:
        raise _Refused("void", Conflict("this voucher has been cancelled", field="code"))
    if batch.sold_at is None:
        raise _Refused(
            "unsold",
            Conflict(
                "this voucher is not activated yet: it can be used once the shop's batch "
                "has been sold",
                field="code",
            ),
        )
    if batch.valid_until < _operator_today(operator):
        raise _Refused(
            "expired",
            Conflict(f"this voucher expired on {batch.valid_until:%d %b %Y}", field="code"),
        )
    return voucher


def _subscription_for(customer: Customer, plan: Plan, chosen: Subscription | None) -> Subscription:
    live = (
        Subscription.objects.filter(customer=customer, plan_version__plan=plan)
        .exclude(state=State.TERMINATED)
        .order_by("pk")
    )
    if chosen is not None:
        match = live.filter(pk=chosen.pk).first()
        if match is None:
            raise Conflict(
                f"{chosen.username} is not a live subscription of account "
                f"{customer.account_number} on plan {plan.code}",
                field="subscription",
            )
        return match
    found = list(live)
    if not found:
        raise Conflict(
            f"this voucher recharges plan {plan.code} ({plan.name}); account "
            f"{customer.account_number} has no subscription on that plan",
            field="code",
        )
    if len(found) > 1:
        names = ", ".join(sub.username for sub in found)
        raise Conflict(
            f"account {customer.account_number} has {len(found)} subscriptions on plan "
            f"{plan.code} ({names}): say which one to recharge",
            field="subscription",
        )
    return found[0]


def _recharge(sub: Subscription, *, actor: str) -> list[Invoice]:
    """Activate a pending prepaid subscription or renew a live one; the invoices issued."""
    if sub.state == State.PENDING:
        before = Invoice.objects.filter(subscription=sub).aggregate(last=Max("pk"))["last"] or 0
        subscriptions.activate(sub, actor=actor, reason="voucher")
        return list(
            Invoice.objects.filter(
                subscription=sub,
                kind=DocumentKind.INVOICE,
                status=DocumentStatus.ISSUED,
                pk__gt=before,
            ).order_by("pk")
        )
    invoice = billing.renew_prepaid(sub, actor=actor)
    if sub.state == State.SUSPENDED and sub.suspend_reason == SuspendReason.PREPAID_EXPIRED:
        subscriptions.reconnect(sub, actor=actor, reason="voucher recharge")
    return [invoice]


def _redeem(
    customer: Customer, code: str, *, actor: str, chosen: Subscription | None
) -> Redemption:
    # The customer first, then the voucher: the order record_payment locks in, too.
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    _refuse_if_throttled(customer)  # again, under the lock
    voucher = _usable_voucher(customer, code)
    batch = voucher.batch
    operator = Operator.current()
    if batch.currency != operator.currency:
        raise Conflict(
            f"this voucher is in {batch.currency}, accounts are kept in {operator.currency}",
            field="code",
        )
    value = Money(batch.value, batch.currency)
    now = clock.now()

    sub = _subscription_for(customer, batch.plan, chosen) if batch.plan_id else None
    invoices = _recharge(sub, actor=actor) if sub is not None else []
    open_ids = {o.id for o in payments.open_invoices([customer.pk]).get(customer.pk, [])}
    first_open = next((inv for inv in invoices if inv.pk in open_ids), None)
    payment = payments.record_payment(
        customer,
        value.amount,
        Method.VOUCHER,
        actor=actor,
        reference=voucher.serial,
        at=now,
        to_invoice=first_open,
        note=f"prepaid voucher {voucher.serial} (batch {batch_code(batch.number)})",
    )
    if invoices:
        still_open = {o.id for o in payments.open_invoices([customer.pk]).get(customer.pk, [])}
        unpaid = [inv for inv in invoices if inv.pk in still_open]
        if unpaid:
            total = sum(
                (Money(inv.total, inv.currency) for inv in invoices), Money.zero(value.currency)
            )
            raise Conflict(
                f"this voucher ({value.amount} {value.currency}) does not cover the recharge "
                f"of plan {batch.plan.code} ({total.amount} {total.currency}); nothing was "
                "redeemed: ask the operator",
                field="code",
            )

    before = _voucher_snapshot(voucher)
    voucher.status = Voucher.Status.REDEEMED
    voucher.redeemed_by = customer
    voucher.redeemed_at = now
    voucher.payment = payment
    voucher.save(update_fields=["status", "redeemed_by", "redeemed_at", "payment"])
    recharge = ""
    if sub is not None:
        numbers = ", ".join(inv.number or str(inv.pk) for inv in invoices) or "nothing billed"
        recharge = f"; recharged subscription {sub.pk} on {batch.plan.code} ({numbers})"
    audit.record(
        actor=actor,
        action="voucher.redeemed",
        instance=voucher,
        reason=f"customer {customer.account_number}, payment {payment.pk}{recharge}",
        before=before,
        after=_voucher_snapshot(voucher),
    )
    logger.info("voucher %s redeemed by customer %s", voucher.serial, customer.pk)
    if sub is not None:
        sub.refresh_from_db()
    return Redemption(voucher, payment, sub, tuple(invoices))
