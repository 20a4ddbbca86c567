"""Vouchers against a real database: generation, export, sale, redemption, refusals."""

from __future__ import annotations

import csv
import io
import logging
import stat
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from octet.billing.models import Invoice
from octet.catalog import services as catalog
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.core.models import AuditEntry
from octet.core.money import Money
from octet.payments import journal
from octet.payments import services as payments
from octet.payments.models import JournalEntry, JournalPosting, Payment
from octet.subscriptions import services as subscriptions
from octet.subscriptions.lifecycle import State
from octet.vouchers import codes, services
from octet.vouchers.models import FailedRedemption, Voucher, VoucherBatch

from .conftest import at


def inr(value: str) -> Money:
    return Money(Decimal(value), "INR")


def state() -> tuple:
    """What a refused redemption must leave unchanged."""
    return (
        Payment.objects.count(),
        JournalEntry.objects.count(),
        Invoice.objects.count(),
        sorted(Voucher.objects.values_list("serial", "status")),
        AuditEntry.objects.filter(action__startswith="voucher.").count(),
    )


def subscribe_air(customer, plan, *, activate=True, username="ravi"):
    return subscriptions.subscribe(
        customer, plan, username=username, password="s3cret-Pass", actor="t", activate=activate
    )


# -- generation and export ----------------------------------------------------------------


def test_generation_stores_serials_and_hashes_only(operator):
    generated = services.generate_batch(
        value="500", count=25, valid_until="2026-06-30", actor="stock"
    )
    batch = generated.batch
    assert (batch.code, batch.count, batch.value, batch.currency) == ("B0001", 25, 500, "INR")
    assert batch.name == "Top-up voucher 500.00 INR" and batch.plan is None
    assert batch.sold_at is None and batch.status == VoucherBatch.Status.ACTIVE
    printed = generated.vouchers
    assert [v.serial for v in printed] == [f"B0001-{n:06d}" for n in range(1, 26)]
    assert len({v.code for v in printed}) == 25
    for v in printed:
        assert codes.is_valid(codes.normalise(v.code)) and len(v.code) == 19
        assert v.code not in repr(v) and v.code not in repr(generated)
    stored = list(Voucher.objects.order_by("position").values_list("serial", "code_hash"))
    assert stored == [(v.serial, codes.hash_code(codes.normalise(v.code))) for v in printed]
    # No column of any voucher, batch or audit row holds a code.
    everything = repr(list(Voucher.objects.values())) + repr(list(VoucherBatch.objects.values()))
    everything += repr(list(AuditEntry.objects.values()))
    for v in printed:
        assert v.code not in everything and codes.normalise(v.code) not in everything
    [entry] = AuditEntry.objects.filter(action="voucher_batch.generated")
    assert entry.actor == "stock" and "25 vouchers of 500.00 INR (top-up)" in entry.reason

    second = services.generate_batch(value="100", count=1, valid_until="2026-06-30", actor="s")
    assert second.vouchers[0].serial == "B0002-000001"


def test_a_plan_batch_must_be_prepaid_and_worth_the_price(air30, fiber100):
    generated = services.generate_batch(
        value="588.82", count=2, valid_until=date(2026, 3, 31), plan="air30", actor="s"
    )
    assert generated.batch.plan == air30
    assert generated.batch.name == "AirFiber Prepaid 30 days voucher 588.82 INR"
    for kwargs, error, message in [
        ({"plan": "FIBER100"}, InvalidInput, "not prepaid"),
        ({"plan": "NOPE"}, NotFound, "no plan"),
        ({"plan": "AIR30", "value": "450.00"}, InvalidInput, "at least its price"),
        ({"value": "0"}, InvalidInput, "positive"),
        ({"value": "12.345"}, InvalidInput, "not an amount"),
        ({"count": 0}, InvalidInput, "1 to 100000"),
        ({"count": 100_001}, InvalidInput, "1 to 100000"),
        ({"valid_until": "2026-01-09"}, InvalidInput, "already past"),
        ({"valid_until": "next year"}, InvalidInput, "not a date"),
    ]:
        args = {"value": "600.00", "count": 3, "valid_until": "2026-06-30", "actor": "s"}
        with pytest.raises(error, match=message):
            services.generate_batch(**{**args, **kwargs})
    assert VoucherBatch.objects.count() == 1 and Voucher.objects.count() == 2


def test_csv_export_for_the_printer(recharges, tmp_path):
    rows = list(csv.reader(io.StringIO(services.codes_csv(recharges))))
    assert rows[0] == ["serial", "code", "value", "currency", "plan", "valid_until"]
    assert rows[1:] == [
        [v.serial, v.code, "588.82", "INR", "AIR30", "2026-06-30"] for v in recharges.vouchers
    ]
    path = services.write_export(tmp_path / "b2.csv", services.codes_csv(recharges))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        services.write_export(path, "something else")
    assert path.read_text().startswith("serial,code")


def test_pdf_sheet_shows_every_card(recharges, operator):
    from pypdf import PdfReader

    operator.phone = "+91 80 4000 1234"
    operator.save()
    pdf = services.codes_pdf(recharges)
    assert pdf.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.split())
    for voucher in recharges.vouchers:
        assert voucher.serial in text and voucher.code in text
    for expected in ["Kaveri Fibernet", "588.82", "AirFiber Prepaid 30 days · validity 30 days",
                     "Valid until 30 Jun 2026", "+91 80 4000 1234"]:  # fmt: skip
        assert expected in text
    html = services.sheet_html(recharges)
    assert html.count('class="card"') == 5


# -- selling ------------------------------------------------------------------------------


def test_selling_a_batch_posts_one_balanced_entry_once(operator):
    generated = services.generate_batch(value="250", count=8, valid_until="2026-06-30", actor="s")
    batch = generated.batch
    services.void_voucher(
        Voucher.objects.get(serial="B0001-000008"), reason="card torn", actor="desk"
    )
    sold = services.sell_batch(
        batch, method="upi", sold_to="Lakshmi Stores", reference="UTR 4455", actor="desk"
    )
    assert (sold.sold_to, sold.sale_method, sold.sale_reference) == (
        "Lakshmi Stores",
        "upi",
        "UTR 4455",
    )
    [entry] = JournalEntry.objects.all()
    assert entry.kind == "vouchers_sold" and "B0001 x7 to Lakshmi Stores" in entry.memo
    sums = entry.postings.aggregate(dr=Sum("debit"), cr=Sum("credit"))
    assert sums["dr"] == sums["cr"] == Decimal("1750.00")  # 7 unused vouchers x 250
    assert sorted(entry.postings.values_list("account", "debit", "credit")) == [
        ("bank", Decimal("1750.000"), Decimal("0.000")),
        ("vouchers_outstanding", Decimal("0.000"), Decimal("1750.000")),
    ]
    assert AuditEntry.objects.filter(action="voucher_batch.sold", actor="desk").count() == 1

    with pytest.raises(Conflict, match="already sold on 10 Jan 2026 to Lakshmi Stores"):
        services.sell_batch(batch, method="cash", actor="desk")
    assert JournalEntry.objects.count() == 1


def test_bad_sales_are_refused(operator):
    batch = services.generate_batch(value="99", count=2, valid_until="2026-01-31", actor="s").batch
    for method in ["voucher", "card", "barter"]:
        with pytest.raises(InvalidInput, match="paid for by bank_transfer, cash, cheque, upi"):
            services.sell_batch(batch, method=method, actor="desk")
    clock.set_time(at(2026, 2, 1, 9))
    with pytest.raises(Conflict, match="expired on 31 Jan 2026"):
        services.sell_batch(batch, method="cash", actor="desk")
    clock.set_time(at(2026, 1, 20, 9))
    services.void_batch(batch, reason="misprinted", actor="desk")
    with pytest.raises(Conflict, match="void"):
        services.sell_batch(batch, method="cash", actor="desk")
    assert JournalEntry.objects.count() == 0
    assert set(Voucher.objects.values_list("status", flat=True)) == {"void"}


# -- redeeming ----------------------------------------------------------------------------


def test_a_top_up_voucher_becomes_credit(topups, asha):
    voucher = topups.vouchers[3]
    typed = voucher.code.lower().replace("-", " ")
    result = services.redeem(asha, typed, actor="shop:ganesh")
    payment = result.payment
    assert (payment.method, payment.amount, payment.reference) == (
        "voucher",
        Decimal("500.00"),
        "B0001-000004",
    )
    assert payment.customer == asha and payment.actor == "shop:ganesh"
    assert result.subscription is None and result.invoices == ()
    stored = Voucher.objects.get(serial="B0001-000004")
    assert stored.status == "redeemed" and stored.payment == payment
    assert stored.redeemed_by == asha and stored.redeemed_at == at(2026, 1, 10, 10)
    assert payments.balances(asha) == (inr("0"), inr("500.00"))
    [entry] = AuditEntry.objects.filter(action="voucher.redeemed")
    assert entry.entity_id == str(stored.pk) and f"payment {payment.pk}" in entry.reason
    assert entry.after["status"] == "redeemed" and "code_hash" not in entry.after
    # The liability is drawn down by what was redeemed.
    balance = journal.trial_balance()
    assert balance["vouchers_outstanding"] == inr("-4500.00")
    assert balance["cash"] == inr("5000.00")


def test_a_top_up_settles_an_open_invoice_first(topups, asha, fiber100):
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    [invoice] = Invoice.objects.all()  # 10-31 Jan, not paid
    result = services.redeem(asha, topups.vouchers[0].code, actor="shop")
    assert [(a.invoice_id, a.amount) for a in result.payment.allocations.all()] == [
        (invoice.pk, Decimal("500.000"))
    ]
    due, credit = payments.balances(asha)
    assert due == Money(invoice.total, "INR") - inr("500") and credit.is_zero()


def test_a_plan_voucher_renews_the_prepaid_subscription(recharges, ravi, air30):
    sub = subscribe_air(ravi, air30)  # activation bills the first 30 days (588.82)
    payments.record_payment(ravi, "588.82", "cash", actor="desk")
    assert sub.prepaid_expires_at == at(2026, 2, 9, 10)
    clock.set_time(at(2026, 2, 8, 18))
    result = services.redeem(ravi, recharges.vouchers[0].code, actor="ravi")
    assert result.subscription == sub
    [invoice] = result.invoices
    assert invoice.total == Decimal("588.82") and invoice.subscription == sub
    assert [(a.payment_id, a.amount) for a in invoice.allocations.all()] == [
        (result.payment.pk, Decimal("588.820"))
    ]
    sub.refresh_from_db()
    assert sub.prepaid_expires_at == at(2026, 3, 11, 10)  # from the old expiry: no day lost
    assert payments.balances(ravi) == (inr("0"), inr("0"))
    assert "recharged subscription" in AuditEntry.objects.get(action="voucher.redeemed").reason


def test_a_plan_voucher_activates_a_pending_subscription(recharges, ravi, air30):
    sub = subscribe_air(ravi, air30, activate=False)
    result = services.redeem(ravi, recharges.vouchers[0].code, actor="ravi")
    sub.refresh_from_db()
    assert sub.state == State.ACTIVE and sub.prepaid_expires_at == at(2026, 2, 9, 10)
    [invoice] = result.invoices
    assert invoice.total == Decimal("588.82")
    assert payments.balances(ravi) == (inr("0"), inr("0"))


def test_the_recharge_is_paid_before_an_older_debt(recharges, ravi, air30):
    subscribe_air(ravi, air30)  # first validity billed, not paid: 588.82 due
    [older] = Invoice.objects.all()
    result = services.redeem(ravi, recharges.vouchers[0].code, actor="ravi")
    [recharge] = result.invoices
    assert [a.invoice_id for a in result.payment.allocations.all()] == [recharge.pk]
    due, _ = payments.balances(ravi)
    assert due == Money(older.total, "INR")


def test_a_plan_voucher_needs_a_subscription_on_its_plan(recharges, ravi, asha, air30, fiber100):
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    before = state()
    with pytest.raises(Conflict, match="recharges plan AIR30 .* has no subscription on that plan"):
        services.redeem(asha, recharges.vouchers[0].code, actor="asha")
    subscribe_air(ravi, air30, username="ravi1")
    subscribe_air(ravi, air30, username="ravi2")
    with pytest.raises(Conflict, match=r"2 subscriptions on plan AIR30 \(ravi1, ravi2\)"):
        services.redeem(ravi, recharges.vouchers[0].code, actor="ravi")
    other = subscriptions.subscribe(
        asha, air30, username="asha2", password="s3cret-Pass", actor="t"
    )
    with pytest.raises(Conflict, match="asha2 is not a live subscription of account"):
        services.redeem(ravi, recharges.vouchers[0].code, actor="ravi", subscription=other)
    assert FailedRedemption.objects.count() == 0  # account problems, not guesses
    chosen = ravi.subscriptions.get(username="ravi2")
    result = services.redeem(ravi, recharges.vouchers[0].code, actor="r", subscription=chosen)
    assert result.subscription == chosen
    assert before[0] < Payment.objects.count()


def test_a_voucher_that_no_longer_covers_the_recharge_is_refused(recharges, ravi, air30):
    # The cards were printed at 588.82; the price then rose to 549.00 + GST = 647.82.
    catalog.revise_plan(air30, {"price": "549.00"}, actor="t", reason="price rise")
    subscribe_air(ravi, air30)
    payments.record_payment(ravi, "647.82", "cash", actor="desk")
    before = state()
    with pytest.raises(Conflict, match=r"does not cover the recharge of plan AIR30 \(647.82"):
        services.redeem(ravi, recharges.vouchers[0].code, actor="ravi")
    assert state() == before
    assert FailedRedemption.objects.count() == 0
    # With enough credit of their own on top, the same voucher goes through.
    payments.record_payment(ravi, "59.00", "cash", actor="desk")
    result = services.redeem(ravi, recharges.vouchers[0].code, actor="ravi")
    assert payments.balances(ravi) == (inr("0"), inr("0.00"))
    assert result.invoices[0].total == Decimal("647.82")


# -- refusals -----------------------------------------------------------------------------


def refused(customer, code, error, message):
    before = state()
    with pytest.raises(error, match=message):
        services.redeem(customer, code, actor="shop")
    assert state() == before


def test_refusals_change_nothing(topups, asha, ravi, operator):
    code = topups.vouchers[0].code
    wrong = code[:-1] + next(c for c in codes.ALPHABET if c != code[-1])
    refused(asha, wrong, InvalidInput, "that code has a typo")
    refused(asha, codes.format_code(codes.generate()), NotFound, "no voucher has that code")

    services.redeem(ravi, code, actor="shop")
    refused(asha, code, Conflict, "already used on 10 Jan 2026")

    services.void_voucher(
        Voucher.objects.get(serial="B0001-000002"), reason="reported stolen", actor="desk"
    )
    refused(asha, topups.vouchers[1].code, Conflict, "cancelled")
    with pytest.raises(Conflict, match="is void"):
        services.void_voucher(Voucher.objects.get(serial="B0001-000002"), reason="x", actor="d")

    unsold = services.generate_batch(value="50", count=1, valid_until="2026-06-30", actor="s")
    refused(ravi, unsold.vouchers[0].code, Conflict, "not activated yet")

    clock.set_time(at(2026, 7, 1, 0, 5))
    refused(ravi, topups.vouchers[2].code, Conflict, "expired on 30 Jun 2026")
    clock.set_time(at(2026, 6, 30, 23, 55))  # the last day still counts, in local time
    services.redeem(ravi, topups.vouchers[2].code, actor="shop")

    services.void_batch(topups.batch, reason="shop closed", actor="desk")
    refused(ravi, topups.vouchers[3].code, Conflict, "cancelled")
    assert Voucher.objects.get(serial="B0001-000003").status == "redeemed"  # stays redeemed
    assert list(FailedRedemption.objects.order_by("id").values_list("reason", flat=True)) == [
        "unknown",
        "used",
        "void",
        "unsold",
        "expired",
        "void",
    ]


def test_wrong_codes_are_throttled_per_customer(topups, asha, ravi, caplog):
    caplog.set_level(logging.INFO, logger="octet.vouchers")
    good = topups.vouchers[0].code
    guesses = [codes.format_code(codes.generate()) for _ in range(5)]
    for n, guess in enumerate(guesses):
        clock.set_time(at(2026, 1, 10, 10, n))
        refused(asha, guess, NotFound, "no voucher has that code")
    clock.set_time(at(2026, 1, 10, 10, 6))
    refused(asha, good, Conflict, r"too many wrong voucher codes .* after 10:15 \(10 Jan 2026\)")
    refused(asha, "typo", Conflict, "too many wrong voucher codes")
    assert FailedRedemption.objects.filter(customer=asha).count() == 5  # refusals not counted
    services.redeem(ravi, topups.vouchers[1].code, actor="shop")  # others are not affected
    assert services.throttled_until(asha) == at(2026, 1, 10, 10, 15)

    clock.set_time(at(2026, 1, 10, 10, 15, 1))  # the first guess is older than 15 minutes
    services.redeem(asha, good, actor="shop")
    assert Voucher.objects.get(serial="B0001-000001").redeemed_by == asha

    # Failures are logged, without the codes tried.
    assert "throttled" in caplog.text and "unknown" in caplog.text
    for code in [good, *guesses]:
        assert code not in caplog.text and codes.normalise(code) not in caplog.text


def test_typos_are_not_counted_as_guesses(topups, asha):
    code = topups.vouchers[0].code
    for _ in range(8):
        with pytest.raises(InvalidInput, match="typo"):
            services.redeem(asha, code[:-2], actor="shop")
    assert FailedRedemption.objects.count() == 0
    services.redeem(asha, code, actor="shop")


@pytest.mark.django_db(transaction=True)
def test_one_code_redeemed_twice_at_once_pays_once(operator, asha, ravi):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises whole transactions)")
    generated = services.generate_batch(value="300", count=1, valid_until="2026-06-30", actor="s")
    services.sell_batch(generated.batch, method="cash", actor="desk")
    code = generated.vouchers[0].code
    outcomes: list[object] = []
    start = threading.Barrier(6)

    def attempt(customer) -> None:
        try:
            start.wait()
            outcomes.append(services.redeem(customer, code, actor="race"))
        except Exception as exc:  # noqa: BLE001 - checked below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(c,)) for c in [asha, ravi] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [o for o in outcomes if isinstance(o, services.Redemption)]
    lost = [o for o in outcomes if not isinstance(o, services.Redemption)]
    assert len(won) == 1, outcomes
    assert all(isinstance(o, Conflict) and "already used" in str(o) for o in lost), lost
    assert Payment.objects.filter(method="voucher").count() == 1
    assert JournalPosting.objects.filter(account="customer_credit").count() == 1
    winner = won[0].payment.customer
    assert payments.balances(winner)[1] == inr("300.00")


# -- admin --------------------------------------------------------------------------------


def test_admin_shows_batches_and_vouchers_read_only_without_codes(admin_client, topups, asha):
    from django.urls import reverse

    services.redeem(asha, topups.vouchers[0].code, actor="shop")
    voucher = Voucher.objects.get(serial="B0001-000001")
    pages = [
        admin_client.get(reverse("admin:vouchers_voucherbatch_changelist")),
        admin_client.get(reverse("admin:vouchers_voucher_changelist")),
        admin_client.get(reverse("admin:vouchers_voucher_change", args=[voucher.pk])),
        admin_client.get(reverse("admin:vouchers_voucherbatch_change", args=[topups.batch.pk])),
    ]
    for page in pages:
        assert page.status_code == 200
    text = "".join(page.content.decode() for page in pages)
    assert "B0001-000001" in text and "Sri Ganesh Mobiles" in text
    for v in topups.vouchers:
        assert v.code not in text and codes.normalise(v.code) not in text
    assert voucher.code_hash not in text
    assert admin_client.get(reverse("admin:vouchers_voucher_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:vouchers_voucher_delete", args=[voucher.pk]), {"post": "yes"}
    )
    assert response.status_code == 403


def test_find_batch_and_voucher(topups):
    assert services.find_batch("B0001") == topups.batch
    assert services.find_batch("b1") == topups.batch
    assert services.find_batch(" 1 ") == topups.batch
    assert services.find_voucher("b0001-000002").position == 2
    with pytest.raises(NotFound):
        services.find_batch("B9")
    with pytest.raises(NotFound):
        services.find_batch("pizza")
    with pytest.raises(NotFound):
        services.find_voucher("B0001-999999")


def test_a_batch_valid_until_tomorrow_is_accepted_and_expires_after(operator, asha):
    generated = services.generate_batch(
        value="10", count=1, valid_until=date(2026, 1, 10) + timedelta(days=1), actor="s"
    )
    services.sell_batch(generated.batch, method="cash", actor="desk")
    clock.set_time(at(2026, 1, 12, 0, 0))
    refused(asha, generated.vouchers[0].code, Conflict, "expired on 11 Jan 2026")
