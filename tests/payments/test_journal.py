"""The double-entry ledger as stored: every money movement posts a balanced entry, and the
ledger's balances equal what the documents, payments and allocations say (invariant 4)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octet.billing import services as billing
from octet.billing.models import Invoice
from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.money import Money
from octet.payments import journal, ledger, settlements
from octet.payments import services as payments
from octet.payments.models import JournalEntry, JournalPosting, Payment, Refund, WriteOff
from octet.subscriptions import services as subscriptions

IST = ZoneInfo("Asia/Kolkata")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def inr(value: str) -> Money:
    return Money(Decimal(value), "INR")


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.set_time(None)


@pytest.fixture
def billed(fiber100, asha):
    """Asha billed on 15 Jan (646.46) and 1 Feb (1178.82)."""
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    billing.run_billing(at(2026, 2, 1))
    return list(Invoice.objects.order_by("sequence_number"))


def entries(kind: str) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(kind=kind).order_by("id"))


def postings(entry: JournalEntry) -> list[tuple[str, Decimal, Decimal]]:
    return [(p.account, p.debit, p.credit) for p in entry.postings.order_by("id")]


def assert_ledger_agrees(*customers) -> None:
    payments.check_ledger(customers)
    totals = JournalPosting.objects.aggregate(dr=Sum("debit"), cr=Sum("credit"))
    assert totals["dr"] == totals["cr"]


def test_an_issued_invoice_posts_receivable_revenue_and_each_tax(billed, asha):
    first, second = billed
    entry = JournalEntry.objects.get(document=first)
    assert entry.kind == "invoice_issued" and entry.memo == first.number
    assert postings(entry) == [
        ("receivable", Decimal("646.460"), Decimal("0")),
        ("revenue", Decimal("0"), Decimal("547.840")),
        ("tax_payable:CGST", Decimal("0"), Decimal("49.310")),
        ("tax_payable:SGST", Decimal("0"), Decimal("49.310")),
    ]
    assert len(entries("invoice_issued")) == 2
    assert journal.balances(asha.pk, "INR") == (inr("1825.28"), inr("0"))
    assert_ledger_agrees(asha)


def test_payments_allocations_and_credit_in_the_ledger(billed, asha):
    first, second = billed
    clock.set_time(at(2026, 2, 5, 10))
    payment = payments.record_payment(asha, "2000.00", "cash", actor="clerk")
    assert postings(JournalEntry.objects.get(kind="payment_received")) == [
        ("cash", Decimal("2000.000"), Decimal("0")),
        ("customer_credit", Decimal("0"), Decimal("2000.000")),
    ]
    assert postings(JournalEntry.objects.get(kind="allocated")) == [
        ("customer_credit", Decimal("1825.280"), Decimal("0")),
        ("receivable", Decimal("0"), Decimal("1825.280")),
    ]
    assert journal.balances(asha.pk, "INR") == (inr("0"), inr("174.72"))
    assert payment.receipt_number == "RCPT/25-26/000001"
    # The next invoice takes the credit when it is issued: one more allocated entry.
    billing.run_billing(at(2026, 3, 1))
    assert len(entries("allocated")) == 2
    assert_ledger_agrees(asha)


def test_receipt_numbers_are_gapless_and_a_refused_payment_takes_none(billed, asha):
    first, _ = billed
    payments.record_payment(asha, "646.46", "upi", actor="clerk", to_invoice=first)
    with pytest.raises(Conflict):
        payments.record_payment(asha, "10", "cash", actor="clerk", to_invoice=first)
    with pytest.raises(InvalidInput, match="needs a gateway"):
        payments.record_payment(asha, "10", "card", actor="clerk")
    last = payments.record_payment(asha, "10", "cash", actor="clerk")
    assert [p.receipt_number for p in Payment.objects.order_by("id")] == [
        "RCPT/25-26/000001",
        "RCPT/25-26/000002",
    ]
    assert last.receipt_number == "RCPT/25-26/000002"
    assert_ledger_agrees(asha)


def test_a_credit_note_posts_revenue_and_tax_back_as_credit(billed, asha):
    first, _ = billed
    note = billing.issue_credit_note(first, "118.00", reason="outage", actor="staff")
    entry = JournalEntry.objects.get(document=note)
    assert entry.kind == "credit_note_issued"
    accounts = {a: (d, c) for a, d, c in postings(entry)}
    assert accounts["customer_credit"] == (Decimal("0"), Decimal("118.000"))
    assert accounts["revenue"][0] + accounts["tax_payable:CGST"][0] + accounts["tax_payable:SGST"][
        0
    ] == Decimal("118.000")
    assert_ledger_agrees(asha)


def test_a_bounced_cheque_unallocates_then_reverses(billed, asha):
    cheque = payments.record_payment(asha, "1000.00", "cheque", reference="CHQ 9", actor="c")
    payments.reverse_payment(cheque, reason="bounced", actor="c")
    assert postings(JournalEntry.objects.get(kind="unallocated")) == [
        ("receivable", Decimal("1000.000"), Decimal("0")),
        ("customer_credit", Decimal("0"), Decimal("1000.000")),
    ]
    assert postings(JournalEntry.objects.get(kind="payment_reversed")) == [
        ("customer_credit", Decimal("1000.000"), Decimal("0")),
        ("bank", Decimal("0"), Decimal("1000.000")),
    ]
    assert journal.balances(asha.pk, "INR") == (inr("1825.28"), inr("0"))
    assert_ledger_agrees(asha)


def test_refunds_draw_on_credit_only(billed, asha):
    first, second = billed
    payments.record_payment(asha, "2000.00", "bank_transfer", actor="clerk")  # 174.72 credit
    with pytest.raises(Conflict, match="holds 174.72"):
        payments.record_refund(asha, "200", method="cash", actor="c", reason="asked")
    with pytest.raises(InvalidInput, match="reason"):
        payments.record_refund(asha, "100", method="cash", actor="c", reason=" ")
    with pytest.raises(InvalidInput):
        payments.record_refund(asha, "100", method="card", actor="c", reason="x")  # no gateway
    assert not Refund.objects.exists()
    refund = payments.record_refund(asha, "174.72", method="cash", actor="c", reason="closing")
    assert postings(JournalEntry.objects.get(refund=refund)) == [
        ("customer_credit", Decimal("174.720"), Decimal("0")),
        ("cash", Decimal("0"), Decimal("174.720")),
    ]
    assert payments.balances(asha) == (inr("0"), inr("0"))
    assert_ledger_agrees(asha)


def test_a_gateway_refund_that_fails_gives_the_credit_back(billed, asha):
    payment = payments.record_payment(
        asha, "2000.00", "upi", actor="gw", gateway="razorpay", gateway_payment_id="pay_R1"
    )
    refund = payments.record_refund(
        asha,
        "100",
        method="upi",
        gateway="razorpay",
        payment=payment,
        gateway_refund_id="rfnd_1",
        status="pending",
        actor="staff",
        reason="duplicate",
    )
    again = payments.record_refund(
        asha, "100", method="upi", gateway="razorpay", payment=payment,
        gateway_refund_id="rfnd_1", actor="gw", reason="replay",
    )  # fmt: skip
    assert again.pk == refund.pk and Refund.objects.count() == 1
    assert payments.balances(asha)[1] == inr("74.72")
    payments.fail_refund(refund, reason="bank rejected", actor="gw")
    assert payments.balances(asha)[1] == inr("174.72")
    assert journal.trial_balance()["gateway_clearing:razorpay"] == inr("2000")
    assert_ledger_agrees(asha)


def test_a_write_off_closes_the_invoice_as_bad_debt(billed, asha):
    first, second = billed
    with pytest.raises(Conflict, match="only"):
        payments.write_off(first, amount="700", actor="acct", reason="gone")
    payments.write_off(first, actor="acct", reason="customer left the country")
    assert WriteOff.objects.get().amount == Decimal("646.460")
    with pytest.raises(Conflict, match="nothing left"):
        payments.write_off(first, actor="acct", reason="again")
    assert journal.trial_balance()["bad_debt"] == inr("646.46")
    # A later payment settles what is still open, not what was written off.
    payments.record_payment(asha, "2000", "cash", actor="clerk")
    assert payments.balances(asha) == (inr("0"), inr("821.18"))
    assert_ledger_agrees(asha)


def test_settlement_moves_clearing_to_bank_and_fees(billed, asha):
    clock.set_time(at(2026, 2, 6, 10))
    one = payments.record_payment(
        asha, "646.46", "card", actor="gw", gateway="stripe", gateway_payment_id="pi_1"
    )
    payments.record_payment(
        asha, "1500.00", "card", actor="gw", gateway="stripe", gateway_payment_id="pi_2"
    )
    payments.record_refund(
        asha, "100", method="card", gateway="stripe", payment=one, gateway_refund_id="re_1",
        actor="staff", reason="goodwill",
    )  # fmt: skip
    report = (
        "automatic_payout_id,effective_at,reporting_category,source_id,gross,fee\n"
        "po_1,2026-02-08,charge,pi_1,646.46,15.26\n"
        "po_1,2026-02-08,charge,pi_2,1500.00,35.40\n"
        "po_1,2026-02-08,refund,re_1,-100.00,0\n"
    )
    rows = settlements.parse_report(report, "INR")
    result = settlements.import_settlements("stripe", rows, actor="acct")
    assert result.imported == ["po_1"] and not result.problems
    entry = JournalEntry.objects.get(kind="settlement")
    assert postings(entry) == [
        ("bank", Decimal("1995.800"), Decimal("0")),
        ("gateway_fees", Decimal("50.660"), Decimal("0")),
        ("gateway_clearing:stripe", Decimal("0"), Decimal("2046.460")),
    ]
    assert settlements.clearing_balance("stripe") == inr("0")
    assert settlements.unsettled_payments("stripe") == []
    again = settlements.import_settlements("stripe", rows, actor="acct")
    assert again.already == ["po_1"] and JournalEntry.objects.filter(kind="settlement").count() == 1
    assert_ledger_agrees(asha)


def test_a_settlement_that_does_not_match_imports_nothing(billed, asha):
    payments.record_payment(
        asha, "646.46", "card", actor="gw", gateway="stripe", gateway_payment_id="pi_1"
    )
    report = (
        "settlement_id,settled_on,type,id,amount,fee\n"
        "s1,2026-02-08,payment,pi_1,600.00,1\n"
        "s1,2026-02-08,payment,pi_unknown,10.00,0\n"
    )
    result = settlements.import_settlements(
        "stripe", settlements.parse_report(report, "INR"), actor="acct"
    )
    assert result.imported == []
    assert any("settled 600.00, Octet recorded 646.460" in p for p in result.problems)
    assert any("pi_unknown: not recorded" in p for p in result.problems)
    assert not JournalEntry.objects.filter(kind="settlement").exists()
    head = "settlement_id,settled_on,type,id,amount\n"
    for bad in [
        "",
        head + "s1,yesterday,payment,p,1\n",
        head + "s1,2026-02-08,payout,p,1\n",
        head + "s1,2026-02-08,payment,p,abc\n",
    ]:
        with pytest.raises(InvalidInput):
            settlements.parse_report(bad, "INR")


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["pay", "pay_first", "credit_note", "reverse", "refund", "write_off"]),
        st.integers(min_value=1, max_value=250_000),  # paise
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPERATIONS)
def test_any_sequence_of_money_movements_keeps_the_ledger_balanced_and_agreeing(billed, asha, ops):
    first, second = billed
    with transaction.atomic():
        for op, paise in ops:
            amount = Money.from_minor_units(paise, "INR")
            try:
                with transaction.atomic():
                    if op == "pay":
                        payments.record_payment(asha, amount.amount, "cash", actor="p")
                    elif op == "pay_first":
                        payments.record_payment(
                            asha, amount.amount, "upi", actor="p", to_invoice=first
                        )
                    elif op == "credit_note":
                        billing.issue_credit_note(second, amount.amount, reason="r", actor="p")
                    elif op == "reverse":
                        last = Payment.objects.filter(status="received").last()
                        if last is not None:
                            payments.reverse_payment(last, reason="bounced", actor="p")
                    elif op == "refund":
                        payments.record_refund(
                            asha, amount.amount, method="bank_transfer", actor="p", reason="r"
                        )
                    elif op == "write_off":
                        payments.write_off(first, actor="p", reason="r")
            except (Conflict, InvalidInput):
                pass  # refused: must have changed nothing (the ledger check below)
            due, credit = payments.balances(asha)
            assert not due.is_negative() and not credit.is_negative()
            assert_ledger_agrees(asha)
            ledger.check_balanced(journal.trial_balance())
        transaction.set_rollback(True)
