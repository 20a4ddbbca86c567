"""Billing against a real database: runs, re-runs, crashes, late usage, numbering, refusals."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from octet.billing import services as billing
from octet.billing.models import (
    BillingRun,
    DocumentKind,
    ImmutableDocument,
    Invoice,
    InvoiceLine,
)
from octet.catalog.models import GB
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import AuditEntry, Operator
from octet.customers.services import create_customer
from octet.metering.models import UsagePeriod
from octet.notifications.models import Notification
from octet.subscriptions import services as subscriptions

IST = ZoneInfo("Asia/Kolkata")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.set_time(None)


def customer(n: int, state: str = "29"):
    return create_customer(
        {"name": f"Customer {n}", "email": f"c{n}@example.in", "state_code": state},
        actor="test",
    )


def subscribe(plan, n: int, when: datetime, state: str = "29"):
    clock.set_time(when)
    return subscriptions.subscribe(
        customer(n, state), plan, username=f"user{n}", password="s3cret-Pass", actor="test"
    )


def numbers(kind: str = DocumentKind.INVOICE) -> list[str]:
    return list(
        Invoice.objects.filter(kind=kind, number__isnull=False)
        .order_by("sequence_number")
        .values_list("number", flat=True)
    )


def test_activation_issues_the_first_invoice_with_number_taxes_and_snapshot(fiber100, asha):
    clock.set_time(at(2026, 1, 15, 9))
    sub = subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="clerk"
    )
    (inv,) = Invoice.objects.all()
    assert (inv.number, inv.status, inv.due_date.isoformat()) == (
        "KF/25-26/000001",
        "issued",
        "2026-01-29",
    )
    assert (inv.subtotal, inv.tax_total, inv.total) == (
        Decimal("547.84"),
        Decimal("98.62"),
        Decimal("646.46"),
    )
    (line,) = inv.lines.all()
    assert line.taxes == [
        {"name": "CGST", "rate": "9", "amount": "49.31"},
        {"name": "SGST", "rate": "9", "amount": "49.31"},
    ]
    assert inv.seller["gstin"] == "29AAACK1234A1Z6"
    assert inv.buyer["name"] == "Asha Rao" and inv.place_of_supply == "29"
    assert Notification.objects.filter(kind="invoice_issued", customer=asha).count() == 1
    assert AuditEntry.objects.filter(action="invoice.issued", entity_id=str(inv.pk)).exists()
    sub.refresh_from_db()
    assert sub.next_bill_at == at(2026, 2, 1)


def test_interstate_customer_pays_igst(fiber100):
    subscribe(fiber100, 1, at(2026, 1, 1, 10), state="27")
    (line,) = InvoiceLine.objects.all()
    assert line.taxes == [{"name": "IGST", "rate": "18", "amount": "179.82"}]
    assert Invoice.objects.get().place_of_supply == "27"


def test_run_bills_each_due_subscription_once_and_is_idempotent(fiber100):
    for n in range(5):
        subscribe(fiber100, n, at(2026, 1, 10 + n, 12))
    run = billing.run_billing(at(2026, 2, 1), chunk=2)
    assert (run.status, run.subscriptions_seen, run.invoices_issued, run.errors) == (
        "finished",
        5,
        5,
        0,
    )
    # The audit names every document a run issued (one entry per chunk; the last chunk of
    # one subscription gets an entry of its own).
    logged = [
        doc[0]
        for entry in AuditEntry.objects.filter(action="billing_run.documents_issued")
        for doc in entry.after["documents"]
    ]
    logged += [
        entry.after["number"]
        for entry in AuditEntry.objects.filter(action="invoice.issued")
        if entry.after["number"] > "KF/25-26/000005"
    ]
    assert sorted(logged) == [f"KF/25-26/{n:06d}" for n in range(6, 11)]
    again = billing.run_billing(at(2026, 2, 1))
    assert (again.subscriptions_seen, again.invoices_issued) == (0, 0)
    full = billing.run_billing(at(2026, 2, 1, 6), only_due=False, trigger="manual")
    assert (full.subscriptions_seen, full.invoices_issued, full.credit_notes_issued) == (5, 0, 0)
    assert numbers() == [f"KF/25-26/{n:06d}" for n in range(1, 11)]


def test_a_run_that_crashed_midway_finishes_on_the_next_run(fiber100, monkeypatch):
    for n in range(6):
        subscribe(fiber100, n, at(2026, 1, 10, 12))
    real_issue = billing._issue
    calls = {"n": 0}

    def crash_on_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real_issue(*args, **kwargs)

    monkeypatch.setattr(billing, "_issue", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        billing.run_billing(at(2026, 2, 1), chunk=2)
    assert BillingRun.objects.get().status == "failed"
    assert Invoice.objects.filter(issued_at=at(2026, 2, 1)).count() == 2
    monkeypatch.setattr(billing, "_issue", real_issue)
    run = billing.run_billing(at(2026, 2, 1, 0, 5), chunk=2)
    assert run.invoices_issued == 4
    feb = InvoiceLine.objects.filter(period_start="2026-02-01")
    assert feb.count() == 6
    assert len({line.subscription_id for line in feb}) == 6
    assert numbers() == [f"KF/25-26/{n:06d}" for n in range(1, 13)]


def test_the_database_refuses_a_charge_billed_twice(fiber100, asha):
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    line = InvoiceLine.objects.get()
    copy = Invoice.objects.create(
        customer=asha, currency="INR", created_at=clock.now(), tax_regime="in_gst", actor="t"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=copy,
            position=1,
            subscription_id=line.subscription_id,
            charge_key=line.charge_key,
            base_key=line.base_key,
            kind="recurring",
            description="again",
            quantity="1",
            unit_price=1,
            amount=1,
            total=1,
        )


def test_late_usage_is_billed_as_the_difference_on_the_next_run(fiber100, asha):
    clock.set_time(at(2026, 1, 1, 9))
    sub = subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="t"
    )
    UsagePeriod.objects.create(
        subscription=sub,
        period_start="2026-01-01",
        period_end="2026-02-01",
        download_bytes=510 * GB,
        allowance_bytes=500 * GB,
        updated_at=clock.now(),
    )
    billing.run_billing(at(2026, 2, 1))
    # A NAS that was offline uploads 4.5 GB more of January on 3 Feb.
    UsagePeriod.objects.filter(subscription=sub).update(download_bytes=514_500_000_000)
    billing.run_billing(at(2026, 3, 1))
    lines = InvoiceLine.objects.filter(kind="overage").order_by("id")
    assert [(ln.charge_key, ln.quantity, ln.amount) for ln in lines] == [
        ("overage:2026-01-01/2026-02-01", "10", Decimal("100.000")),
        ("overage:2026-01-01/2026-02-01#2", "5", Decimal("50.000")),
    ]


def test_plan_change_now_issues_credit_note_then_invoice(fiber100, fiber300, asha):
    clock.set_time(at(2026, 1, 15, 9))
    sub = subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="t"
    )
    billing.run_billing(at(2026, 2, 1))
    clock.set_time(at(2026, 2, 10, 12))
    subscriptions.change_plan(sub, fiber300, when="now", actor="t")
    credit = Invoice.objects.get(kind=DocumentKind.CREDIT_NOTE)
    assert (credit.number, credit.against.number, credit.total) == (
        "KFC/25-26/000001",
        "KF/25-26/000002",
        Decimal("799.91"),
    )
    latest = Invoice.objects.filter(kind=DocumentKind.INVOICE).latest("sequence_number")
    assert (latest.number, latest.total) == ("KF/25-26/000003", Decimal("1200.28"))
    kinds = list(Notification.objects.filter(at=at(2026, 2, 10, 12)).values_list("kind", flat=True))
    assert kinds == ["plan_changed", "credit_note_issued", "invoice_issued"]


def test_cancellation_now_credits_unused_days_and_stops_billing(fiber100, asha):
    clock.set_time(at(2026, 2, 1, 9))
    sub = subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="t"
    )
    clock.set_time(at(2026, 2, 15, 9))
    subscriptions.cancel(sub, when="now", actor="t")
    credit = Invoice.objects.get(kind=DocumentKind.CREDIT_NOTE)
    assert credit.subtotal == Decimal("499.50")  # 14 of 28 days
    sub.refresh_from_db()
    assert sub.next_bill_at is None
    assert billing.run_billing(at(2026, 3, 1), only_due=False).invoices_issued == 0


def test_an_issued_invoice_never_changes(fiber100, asha):
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    inv = Invoice.objects.get()
    inv.total = Decimal("1.00")
    with pytest.raises(ImmutableDocument):
        inv.save()
    line = inv.lines.get()
    line.amount = Decimal("1.00")
    with pytest.raises(ImmutableDocument):
        line.save()
    with pytest.raises(ImmutableDocument):
        inv.delete()


def test_too_long_gst_number_is_refused_and_nothing_is_written(fiber100, asha):
    op = Operator.current()
    op.invoice_series = "KAVERI-FIBER/{fy}/"
    op.save()
    clock.set_time(at(2026, 1, 15, 9))
    with pytest.raises(Conflict, match="16 characters"):
        subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    assert not Invoice.objects.exists()
    assert not InvoiceLine.objects.exists()


def test_staff_credit_note_mirrors_the_invoice_and_cannot_exceed_it(fiber100, asha):
    clock.set_time(at(2026, 1, 1, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    inv = Invoice.objects.get()  # 999.00 + 179.82 = 1178.82
    note = billing.issue_credit_note(inv, "117.88", reason="outage 3 days", actor="clerk")
    assert (note.number, note.subtotal, note.tax_total, note.total) == (
        "KFC/25-26/000001",
        Decimal("99.90"),
        Decimal("17.98"),
        Decimal("117.88"),
    )
    with pytest.raises(Conflict, match="left to credit"):
        billing.issue_credit_note(inv, "1100.00", reason="too much", actor="clerk")
    with pytest.raises(InvalidInput):
        billing.issue_credit_note(inv, "-5", reason="negative", actor="clerk")
    with pytest.raises(InvalidInput):
        billing.issue_credit_note(inv, "abc", reason="nonsense", actor="clerk")
    with pytest.raises(InvalidInput):
        billing.issue_credit_note(inv, "5", reason=" ", actor="clerk")
    assert Invoice.objects.filter(kind=DocumentKind.CREDIT_NOTE).count() == 1


def test_one_off_charge_goes_on_the_next_invoice(fiber100, asha):
    clock.set_time(at(2026, 1, 1, 9))
    sub = subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="t"
    )
    with pytest.raises(InvalidInput):
        billing.add_one_off_charge(sub, description="Router", unit_price="-1", actor="clerk")
    billing.add_one_off_charge(sub, description="Router", unit_price="2500.00", actor="clerk")
    billing.run_billing(at(2026, 2, 1))
    inv = Invoice.objects.latest("sequence_number")
    assert [(ln.kind, ln.amount) for ln in inv.lines.all()] == [
        ("recurring", Decimal("999.000")),
        ("one_off", Decimal("2500.000")),
    ]
    billing.run_billing(at(2026, 3, 1))
    assert InvoiceLine.objects.filter(kind="one_off").count() == 1


def test_one_bad_account_does_not_stop_the_run(fiber100, monkeypatch):
    subs = [subscribe(fiber100, n, at(2026, 1, 10, 12)) for n in range(3)]
    real = billing.generator.propose

    def fail_for_second(account, today):
        if account.subscription_id == subs[1].pk:
            raise ValueError("corrupt plan data")
        return real(account, today)

    monkeypatch.setattr(billing.generator, "propose", fail_for_second)
    run = billing.run_billing(at(2026, 2, 1))
    assert (run.status, run.invoices_issued, run.errors) == ("finished", 2, 1)
    (error,) = run.error_list.all()
    assert error.subscription_id == subs[1].pk and "corrupt plan data" in error.message


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_bill_each_charge_once_with_gapless_numbers(operator, gst18, fiber100):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises whole transactions)")
    for n in range(40):
        subscribe(fiber100, n, at(2026, 1, 10, 12))
    errors = []

    def run():
        try:
            billing.run_billing(at(2026, 2, 1), chunk=7)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    feb = InvoiceLine.objects.filter(period_start="2026-02-01")
    assert feb.count() == 40
    assert numbers() == [f"KF/25-26/{n:06d}" for n in range(1, 81)]


def test_draft_is_numbered_only_when_issued_and_void_only_before(operator, asha):
    clock.set_time(at(2026, 1, 5, 11))
    draft = billing.draft_invoice(
        asha,
        [
            {
                "description": "Router TP-Link",
                "unit_price": "2500.00",
                "tax_rate": "18",
                "sac": "8517",
            }
        ],
        actor="clerk",
    )
    assert (draft.status, draft.number, draft.total) == ("draft", None, Decimal("2950.00"))
    assert not Notification.objects.filter(kind="invoice_issued").exists()
    issued = billing.issue_draft(draft, actor="clerk")
    assert (issued.status, issued.number) == ("issued", "KF/25-26/000001")
    with pytest.raises(Conflict, match="credit note"):
        billing.void_draft(issued, reason="mistake", actor="clerk")
    other = billing.draft_invoice(
        asha, [{"description": "Site visit", "unit_price": "300.00"}], actor="clerk"
    )
    billing.void_draft(other, reason="entered twice", actor="clerk")
    other.refresh_from_db()
    assert (other.status, other.number) == ("void", None)
    with pytest.raises(Conflict):
        billing.issue_draft(other, actor="clerk")
    with pytest.raises(InvalidInput):
        billing.draft_invoice(asha, [{"description": "", "unit_price": "1"}], actor="clerk")
    with pytest.raises(InvalidInput):
        billing.draft_invoice(asha, [{"description": "x", "unit_price": "1.234"}], actor="clerk")
    for rate in ("abc", "150"):
        with pytest.raises(InvalidInput, match="percentage"):
            billing.draft_invoice(
                asha, [{"description": "x", "unit_price": "1", "tax_rate": rate}], actor="clerk"
            )
    assert numbers() == ["KF/25-26/000001"]


def test_eu_vat_consumer_pays_their_country_rate_and_a_business_reverse_charges(gst18):
    from octet.catalog import services as catalog

    op = Operator.current()
    op.name, op.country, op.currency, op.time_zone = "Rhein Net", "DE", "EUR", "Europe/Berlin"
    op.tax_regime, op.vat_id = "eu_vat", "DE123456789"
    op.invoice_series, op.credit_note_series = "RN-{year}-", "RNC-{year}-"
    op.save()
    vat19 = catalog.tax_category_for("", "19")
    plan = catalog.create_plan(
        code="GIGA",
        name="Giga",
        terms={
            "price": "40.00",
            "currency": "EUR",
            "interval": "month",
            "alignment": "calendar",
            "down_kbps": 1_000_000,
            "up_kbps": 100_000,
            "tax_category": vat19,
        },
        actor="test",
    )
    clock.set_time(datetime(2026, 3, 1, 10, tzinfo=ZoneInfo("Europe/Berlin")))
    people = [
        ("Jana", {"country": "DE"}),
        ("Luc", {"country": "FR"}),
        ("Acme SARL", {"country": "FR", "vat_id": "FR40303265045", "kind": "business"}),
    ]
    for n, (name, extra) in enumerate(people):
        who = create_customer({"name": name, "email": f"p{n}@example.eu", **extra}, actor="test")
        subscriptions.subscribe(who, plan, username=f"eu{n}", password="s3cret-Pass", actor="test")
    docs = {inv.buyer["name"]: inv for inv in Invoice.objects.all()}
    assert docs["Jana"].lines.get().taxes == [{"name": "VAT", "rate": "19", "amount": "7.60"}]
    assert docs["Luc"].lines.get().taxes == [{"name": "VAT", "rate": "20", "amount": "8.00"}]
    acme = docs["Acme SARL"]
    assert acme.lines.get().taxes == [] and acme.total == Decimal("40.00")
    assert "Reverse charge" in acme.tax_note
    assert sorted(d.number for d in docs.values()) == [
        "RN-2026-000001",
        "RN-2026-000002",
        "RN-2026-000003",
    ]


def test_tax_inclusive_price_and_an_exempt_customer(operator, gst18):
    from octet.catalog import services as catalog

    plan = catalog.create_plan(
        code="HOME",
        name="Home 1180 incl. GST",
        terms={
            "price": "1180.00",
            "tax_inclusive": True,
            "interval": "month",
            "alignment": "calendar",
            "down_kbps": 50_000,
            "up_kbps": 50_000,
            "tax_category": gst18,
        },
        actor="test",
    )
    clock.set_time(at(2026, 4, 1, 10))
    subscriptions.subscribe(customer(1), plan, username="incl", password="s3cret-Pass", actor="t")
    school = create_customer(
        {"name": "Govt School", "email": "s@example.in", "state_code": "29", "tax_exempt": True},
        actor="test",
    )
    subscriptions.subscribe(school, plan, username="school", password="s3cret-Pass", actor="t")
    paying, exempt = Invoice.objects.order_by("sequence_number")
    # The customer pays the price shown: 1000.00 + 90.00 + 90.00.
    assert (paying.subtotal, paying.tax_total, paying.total) == (
        Decimal("1000.00"),
        Decimal("180.00"),
        Decimal("1180.00"),
    )
    assert paying.number == "KF/26-27/000001"  # April: a new financial year, a new series
    assert (exempt.subtotal, exempt.tax_total, exempt.total) == (
        Decimal("1180.00"),
        Decimal("0"),
        Decimal("1180.00"),
    )
    assert exempt.lines.get().tax_exempt


@pytest.mark.django_db(transaction=True)
def test_a_run_in_worker_processes_bills_everyone_once(operator, gst18, fiber100):
    # On SQLite the run stays in one process (one writer); the outcome must be the same.
    for n in range(9):
        subscribe(fiber100, n, at(2026, 1, 10, 12))
    run = billing.run_billing(at(2026, 2, 1), chunk=2, workers=2)
    assert (run.status, run.subscriptions_seen, run.invoices_issued, run.errors) == (
        "finished",
        9,
        9,
        0,
    )
    assert InvoiceLine.objects.filter(period_start="2026-02-01").count() == 9
    assert numbers() == [f"KF/25-26/{n:06d}" for n in range(1, 19)]
    assert billing.run_billing(at(2026, 2, 1), chunk=2, workers=2).invoices_issued == 0


def test_coupon_reduces_the_next_invoices_for_its_cycles(fiber100, asha):
    from octet.billing.models import Coupon
    from octet.core.errors import NotFound

    Coupon.objects.create(code="WELCOME10", percent=Decimal("10"), cycles=1)
    Coupon.objects.create(code="OLD", amount=Decimal("50"), valid_until="2025-12-31")
    Coupon.objects.create(code="ONCE", amount=Decimal("50"), max_redemptions=0)
    clock.set_time(at(2026, 1, 1, 9))
    sub = subscriptions.subscribe(
        asha, fiber100, username="asha", password="s3cret-Pass", actor="t"
    )
    billing.apply_coupon(sub, " welcome10 ", actor="clerk")
    with pytest.raises(Conflict, match="already applied"):
        billing.apply_coupon(sub, "WELCOME10", actor="clerk")
    with pytest.raises(Conflict, match="expired"):
        billing.apply_coupon(sub, "OLD", actor="clerk")
    with pytest.raises(Conflict, match="used up"):
        billing.apply_coupon(sub, "ONCE", actor="clerk")
    with pytest.raises(NotFound):
        billing.apply_coupon(sub, "NOPE", actor="clerk")
    billing.run_billing(at(2026, 2, 1))
    billing.run_billing(at(2026, 3, 1))
    feb, mar = Invoice.objects.order_by("sequence_number")[1:]
    assert [(ln.kind, ln.amount) for ln in feb.lines.all()] == [
        ("recurring", Decimal("999.000")),
        ("discount", Decimal("-99.900")),
    ]
    assert [ln.kind for ln in mar.lines.all()] == ["recurring"]  # one cycle only
