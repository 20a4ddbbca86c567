"""Tests for octet.payments.ledger: each builder's postings, refusals, then properties."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octet.core.money import CurrencyMismatch, Money
from octet.payments import ledger
from octet.payments.allocation import OpenInvoice, allocate
from octet.payments.ledger import (
    BAD_DEBT,
    BANK,
    CASH,
    CUSTOMER_CREDIT,
    GATEWAY_FEES,
    RECEIVABLE,
    REVENUE,
    JournalEntry,
    Posting,
    check_balanced,
    customer_balances,
    gateway_clearing,
    method_account,
    subledger,
    tax_payable,
    trial_balance,
)

ASHA = 7


def inr(amount: str) -> Money:
    return Money(Decimal(amount), "INR")


ZERO = inr("0")


def sides(entry: JournalEntry) -> list[tuple[str, str, str, int | None]]:
    """Postings as (account, "dr"/"cr", amount, customer) for compact comparisons."""
    return [
        (p.account, "dr", str(p.debit), p.customer)
        if p.credit.is_zero()
        else (p.account, "cr", str(p.credit), p.customer)
        for p in entry.postings
    ]


# -- accounts ---------------------------------------------------------------------------


def test_account_names() -> None:
    assert tax_payable("CGST") == "tax_payable:CGST"
    assert gateway_clearing("razorpay") == "gateway_clearing:razorpay"


@pytest.mark.parametrize("bad", ["", " CGST", "CGST ", "a:b"])
def test_account_qualifiers_refuse_ambiguous_names(bad: str) -> None:
    with pytest.raises(ValueError):
        tax_payable(bad)
    with pytest.raises(ValueError):
        gateway_clearing(bad)


@pytest.mark.parametrize(
    ("method", "gateway", "account"),
    [
        ("cash", "", CASH),
        ("cheque", "", BANK),
        ("bank_transfer", "", BANK),
        ("upi", "", BANK),  # a UPI reference quoted to the clerk: money is in our bank
        ("upi", "razorpay", "gateway_clearing:razorpay"),
        ("card", "stripe", "gateway_clearing:stripe"),
        ("netbanking", "razorpay", "gateway_clearing:razorpay"),
        ("wallet", "razorpay", "gateway_clearing:razorpay"),
    ],
)
def test_method_accounts(method: str, gateway: str, account: str) -> None:
    assert method_account(method, gateway) == account


@pytest.mark.parametrize(
    ("method", "gateway"),
    [
        ("card", ""),
        ("wallet", ""),
        ("netbanking", ""),
        ("cash", "razorpay"),
        ("cheque", "stripe"),
        ("bitcoin", ""),
        ("", ""),
    ],
)
def test_method_accounts_refuse_impossible_routes(method: str, gateway: str) -> None:
    with pytest.raises(ValueError):
        method_account(method, gateway)


# -- postings and entries ---------------------------------------------------------------


def test_posting_needs_exactly_one_non_negative_side() -> None:
    Posting(CASH, inr("1"), ZERO, None)
    Posting(CASH, ZERO, inr("1"), None)
    with pytest.raises(ValueError):
        Posting(CASH, inr("1"), inr("1"), None)
    with pytest.raises(ValueError):
        Posting(CASH, ZERO, ZERO, None)
    with pytest.raises(ValueError):
        Posting(CASH, inr("-1"), ZERO, None)
    with pytest.raises(ValueError):
        Posting(CASH, ZERO, inr("-1"), None)
    with pytest.raises(ValueError):
        Posting(CASH, inr("1"), Money.zero("USD"), None)
    with pytest.raises(ValueError):
        Posting("", inr("1"), ZERO, None)
    with pytest.raises(TypeError):
        Posting(CASH, Decimal("1"), ZERO, None)  # type: ignore[arg-type]


def test_customer_accounts_need_the_customer() -> None:
    with pytest.raises(ValueError, match="customer"):
        Posting.dr(RECEIVABLE, inr("1"))
    with pytest.raises(ValueError, match="customer"):
        Posting.cr(CUSTOMER_CREDIT, inr("1"))
    with pytest.raises(TypeError):
        Posting.dr(RECEIVABLE, inr("1"), True)  # type: ignore[arg-type]


def test_entry_refuses_unbalanced_mixed_or_empty() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        JournalEntry("x", (Posting.dr(CASH, inr("10")), Posting.cr(REVENUE, inr("9.99"))))
    usd = Money(Decimal("10"), "USD")
    with pytest.raises(ValueError, match="mixes currencies"):
        JournalEntry("x", (Posting.dr(CASH, inr("10")), Posting.cr(REVENUE, usd)))
    with pytest.raises(ValueError):
        JournalEntry("x", ())
    with pytest.raises(ValueError):
        JournalEntry("", (Posting.dr(CASH, inr("1")), Posting.cr(REVENUE, inr("1"))))


def test_entry_keeps_postings_as_a_tuple() -> None:
    postings = [Posting.dr(CASH, inr("1")), Posting.cr(REVENUE, inr("1"))]
    entry = JournalEntry("x", postings)  # type: ignore[arg-type]
    postings.clear()
    assert len(entry.postings) == 2
    assert entry.amount == inr("1")
    assert entry.currency == "INR"


# -- builders ---------------------------------------------------------------------------

TAXES_01 = [("CGST", inr("49.31")), ("SGST", inr("49.31"))]


def test_invoice_issued() -> None:
    entry = ledger.invoice_issued(ASHA, inr("547.84"), TAXES_01, inr("646.46"), memo="KF/1")
    assert entry.kind == "invoice_issued"
    assert entry.memo == "KF/1"
    assert sides(entry) == [
        (RECEIVABLE, "dr", "646.46", ASHA),
        (REVENUE, "cr", "547.84", None),
        ("tax_payable:CGST", "cr", "49.31", None),
        ("tax_payable:SGST", "cr", "49.31", None),
    ]


def test_invoice_taxes_of_one_name_share_a_posting_and_zero_taxes_are_dropped() -> None:
    taxes = [("CGST", inr("89.91")), ("SGST", inr("89.91")), ("CGST", inr("23.40"))]
    taxes += [("SGST", inr("23.40")), ("IGST", ZERO)]
    entry = ledger.invoice_issued(ASHA, inr("1259.00"), taxes, inr("1485.62"))
    assert sides(entry)[1:] == [
        (REVENUE, "cr", "1259.00", None),
        ("tax_payable:CGST", "cr", "113.31", None),
        ("tax_payable:SGST", "cr", "113.31", None),
    ]


def test_invoice_without_tax() -> None:
    entry = ledger.invoice_issued(ASHA, inr("500"), [], inr("500"))
    assert sides(entry) == [(RECEIVABLE, "dr", "500.00", ASHA), (REVENUE, "cr", "500.00", None)]


def test_invoice_refusals() -> None:
    with pytest.raises(ValueError, match="not the total"):
        ledger.invoice_issued(ASHA, inr("547.84"), TAXES_01, inr("646.47"))
    with pytest.raises(ValueError, match="positive"):
        ledger.invoice_issued(ASHA, ZERO, [], ZERO)
    with pytest.raises(ValueError):
        ledger.invoice_issued(ASHA, inr("-1"), [("CGST", inr("2"))], inr("1"))
    with pytest.raises(ValueError):
        ledger.invoice_issued(ASHA, inr("3"), [("CGST", inr("-1"))], inr("2"))
    with pytest.raises(CurrencyMismatch):
        ledger.invoice_issued(ASHA, inr("1"), [("VAT", Money(Decimal("1"), "USD"))], inr("2"))
    with pytest.raises(ValueError):
        ledger.invoice_issued(ASHA, inr("1"), [("", inr("1"))], inr("2"))


def test_credit_note_issued() -> None:
    taxes = [("CGST", inr("61.01")), ("SGST", inr("61.01"))]
    entry = ledger.credit_note_issued(ASHA, inr("677.89"), taxes, inr("799.91"))
    assert entry.kind == "credit_note_issued"
    assert sides(entry) == [
        (REVENUE, "dr", "677.89", None),
        ("tax_payable:CGST", "dr", "61.01", None),
        ("tax_payable:SGST", "dr", "61.01", None),
        (CUSTOMER_CREDIT, "cr", "799.91", ASHA),
    ]
    with pytest.raises(ValueError):
        ledger.credit_note_issued(ASHA, inr("677.89"), taxes, inr("799.90"))


def test_payment_received() -> None:
    entry = ledger.payment_received(ASHA, inr("646.46"), "upi")
    assert entry.kind == "payment_received"
    assert sides(entry) == [(BANK, "dr", "646.46", None), (CUSTOMER_CREDIT, "cr", "646.46", ASHA)]
    entry = ledger.payment_received(ASHA, inr("100"), "card", "razorpay")
    assert sides(entry)[0] == ("gateway_clearing:razorpay", "dr", "100.00", None)
    assert sides(ledger.payment_received(ASHA, inr("1"), "cash"))[0][0] == CASH


def test_allocation_moves_credit_to_receivable_and_back() -> None:
    entry = ledger.allocated(ASHA, inr("685.71"))
    assert sides(entry) == [
        (CUSTOMER_CREDIT, "dr", "685.71", ASHA),
        (RECEIVABLE, "cr", "685.71", ASHA),
    ]
    entry = ledger.unallocated(ASHA, inr("685.71"))
    assert sides(entry) == [
        (RECEIVABLE, "dr", "685.71", ASHA),
        (CUSTOMER_CREDIT, "cr", "685.71", ASHA),
    ]


def test_money_out() -> None:
    entry = ledger.payment_reversed(ASHA, inr("500"), "cheque", memo="bounced 000123")
    assert entry.kind == "payment_reversed"
    assert sides(entry) == [(CUSTOMER_CREDIT, "dr", "500.00", ASHA), (BANK, "cr", "500.00", None)]
    entry = ledger.refund(ASHA, inr("20"), "upi", "razorpay")
    assert entry.kind == "refund"
    assert sides(entry) == [
        (CUSTOMER_CREDIT, "dr", "20.00", ASHA),
        ("gateway_clearing:razorpay", "cr", "20.00", None),
    ]


def test_bounced_cheque_reopens_what_it_settled() -> None:
    entries = [
        ledger.invoice_issued(ASHA, inr("500"), [], inr("500")),
        ledger.payment_received(ASHA, inr("500"), "cheque"),
        ledger.allocated(ASHA, inr("500")),
    ]
    assert customer_balances(entries, ASHA) == (ZERO, ZERO)
    entries += [
        ledger.unallocated(ASHA, inr("500")),
        ledger.payment_reversed(ASHA, inr("500"), "cheque"),
    ]
    assert customer_balances(entries, ASHA) == (inr("500"), ZERO)
    assert trial_balance(entries)[BANK] == ZERO


def test_settlement() -> None:
    entry = ledger.settlement("razorpay", inr("1000"), inr("23.60"), inr("976.40"))
    assert entry.kind == "settlement"
    assert sides(entry) == [
        (BANK, "dr", "976.40", None),
        (GATEWAY_FEES, "dr", "23.60", None),
        ("gateway_clearing:razorpay", "cr", "1000.00", None),
    ]
    no_fee = ledger.settlement("stripe", inr("10"), ZERO, inr("10"))
    assert [a for a, *_ in sides(no_fee)] == [BANK, "gateway_clearing:stripe"]
    with pytest.raises(ValueError, match="not the gross"):
        ledger.settlement("razorpay", inr("1000"), inr("23.60"), inr("976.39"))
    with pytest.raises(ValueError):
        ledger.settlement("razorpay", inr("1000"), inr("-1"), inr("1001"))
    with pytest.raises(ValueError):
        ledger.settlement("", inr("1"), ZERO, inr("1"))


def test_written_off() -> None:
    entry = ledger.written_off(ASHA, inr("99.50"))
    assert sides(entry) == [(BAD_DEBT, "dr", "99.50", None), (RECEIVABLE, "cr", "99.50", ASHA)]


@pytest.mark.parametrize(
    "build",
    [
        lambda amount: ledger.payment_received(ASHA, amount, "cash"),
        lambda amount: ledger.allocated(ASHA, amount),
        lambda amount: ledger.unallocated(ASHA, amount),
        lambda amount: ledger.payment_reversed(ASHA, amount, "cash"),
        lambda amount: ledger.refund(ASHA, amount, "cash"),
        lambda amount: ledger.written_off(ASHA, amount),
        lambda amount: ledger.settlement("razorpay", amount, ZERO, amount),
    ],
)
@pytest.mark.parametrize("amount", ["0", "-0.01"])
def test_builders_refuse_non_positive_amounts(build, amount: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        build(inr(amount))


def test_builders_refuse_unknown_methods() -> None:
    with pytest.raises(ValueError):
        ledger.payment_received(ASHA, inr("1"), "card")
    with pytest.raises(ValueError):
        ledger.refund(ASHA, inr("1"), "cash", "razorpay")


# -- balances ---------------------------------------------------------------------------


def test_trial_balance_and_customer_balances() -> None:
    entries = [
        ledger.invoice_issued(ASHA, inr("547.84"), TAXES_01, inr("646.46")),
        ledger.invoice_issued(8, inr("100"), [], inr("100")),
        ledger.payment_received(ASHA, inr("700"), "card", "razorpay"),
        ledger.allocated(ASHA, inr("646.46")),
    ]
    balances = trial_balance(entries)
    assert balances == {
        RECEIVABLE: inr("100"),
        REVENUE: inr("-647.84"),
        "tax_payable:CGST": inr("-49.31"),
        "tax_payable:SGST": inr("-49.31"),
        "gateway_clearing:razorpay": inr("700"),
        CUSTOMER_CREDIT: inr("-53.54"),
    }
    check_balanced(balances)
    assert customer_balances(entries, ASHA) == (ZERO, inr("53.54"))
    assert customer_balances(entries, 8) == (inr("100"), ZERO)
    assert subledger(entries, RECEIVABLE) == {ASHA: ZERO, 8: inr("100")}
    assert subledger(entries, CUSTOMER_CREDIT) == {ASHA: inr("-53.54")}
    with pytest.raises(ValueError):
        subledger(entries, REVENUE)


def test_customer_balances_without_postings() -> None:
    with pytest.raises(ValueError, match="currency"):
        customer_balances([], ASHA)
    assert customer_balances([], ASHA, currency="INR") == (ZERO, ZERO)
    entries = [ledger.payment_received(ASHA, Money(Decimal("1"), "USD"), "cash")]
    with pytest.raises(CurrencyMismatch):
        customer_balances(entries, ASHA, currency="INR")


def test_check_balanced_refuses_a_ledger_that_does_not_sum_to_zero() -> None:
    check_balanced({})
    check_balanced({CASH: inr("5"), REVENUE: inr("-5"), BANK: Money.zero("USD")})
    with pytest.raises(ValueError, match="does not balance"):
        check_balanced({CASH: inr("5"), REVENUE: inr("-4.99")})
    with pytest.raises(ValueError, match="USD"):
        check_balanced({CASH: inr("5"), REVENUE: inr("-5"), BANK: Money(Decimal("1"), "USD")})


def test_trial_balance_refuses_an_account_in_two_currencies() -> None:
    entries = [
        ledger.payment_received(ASHA, inr("1"), "cash"),
        ledger.payment_received(ASHA, Money(Decimal("1"), "USD"), "cash"),
    ]
    with pytest.raises(CurrencyMismatch):
        trial_balance(entries)


def test_zero_decimal_currency() -> None:
    jpy = Money(Decimal("1100"), "JPY")
    entry = ledger.invoice_issued(
        ASHA, Money(Decimal("1000"), "JPY"), [("JCT", Money(Decimal("100"), "JPY"))], jpy
    )
    assert customer_balances([entry], ASHA) == (jpy, Money.zero("JPY"))


# -- property: a random history keeps the books straight -------------------------------

CUSTOMERS = [1, 2]
OPERATIONS = [
    "invoice",
    "credit_note",
    "payment",
    "allocate",
    "unallocate",
    "reverse",
    "refund",
    "write_off",
    "settle",
]
ROUTES = [("cash", ""), ("cheque", ""), ("upi", ""), ("card", "stripe"), ("upi", "razorpay")]

operations = st.lists(
    st.tuples(
        st.sampled_from(OPERATIONS),
        st.sampled_from(CUSTOMERS),
        st.integers(min_value=1, max_value=5_000_000),  # minor units
        st.integers(min_value=1, max_value=100),  # share of what is possible, in percent
        st.sampled_from(ROUTES),
    ),
    max_size=40,
)


def _share(limit: Money, percent: int) -> Money:
    # At least one paisa, at most the limit: the part of what the state allows to move.
    units = max(1, limit.to_minor_units() * percent // 100)
    return Money.from_minor_units(units, limit.currency)


@settings(max_examples=200)
@given(operations)
def test_random_histories_balance_and_explain_every_customer_balance(ops) -> None:
    entries: list[JournalEntry] = []
    buckets = ["invoices", "credit_notes", "payments", "allocations", "unallocations"]
    buckets += ["refunds", "reversals", "write_offs"]
    totals = {c: dict.fromkeys(buckets, ZERO) for c in CUSTOMERS}
    # The model's own view of each customer, independent of the ledger under test.
    open_invoices: dict[int, dict[int, Money]] = {c: {} for c in CUSTOMERS}
    credit = dict.fromkeys(CUSTOMERS, ZERO)
    settled = dict.fromkeys(CUSTOMERS, ZERO)  # allocated less unallocated
    next_invoice = 1

    def post(entry: JournalEntry, customer: int, bucket: str) -> None:
        entries.append(entry)
        totals[customer][bucket] += entry.amount

    for op, customer, units, percent, (method, gateway) in ops:
        amount = Money.from_minor_units(units, "INR")
        due = sum(open_invoices[customer].values(), ZERO)
        if op in ("invoice", "credit_note"):
            tax = amount.multiply(Decimal("0.09"))
            taxes = [("CGST", tax), ("SGST", tax)]
            total = amount + tax + tax
            if op == "invoice":
                post(ledger.invoice_issued(customer, amount, taxes, total), customer, "invoices")
                open_invoices[customer][next_invoice] = total
                next_invoice += 1
            else:
                entry = ledger.credit_note_issued(customer, amount, taxes, total)
                post(entry, customer, "credit_notes")
                credit[customer] += total
        elif op == "payment":
            post(ledger.payment_received(customer, amount, method, gateway), customer, "payments")
            credit[customer] += amount
        elif op == "allocate":
            limit = min(credit[customer], due)
            if limit.is_zero():
                continue
            part = _share(limit, percent)
            candidates = [
                OpenInvoice(i, (i,), open_amount)
                for i, open_amount in open_invoices[customer].items()
            ]
            plan, leftover = allocate(part, candidates)
            assert leftover.is_zero()
            for invoice_id, settled_part in plan:
                open_invoices[customer][invoice_id] -= settled_part
            post(ledger.allocated(customer, part), customer, "allocations")
            credit[customer] -= part
            settled[customer] += part
        elif op == "unallocate":
            if settled[customer].is_zero():
                continue
            part = _share(settled[customer], percent)
            post(ledger.unallocated(customer, part), customer, "unallocations")
            open_invoices[customer][next_invoice] = part  # reopened, modelled as its own debt
            next_invoice += 1
            credit[customer] += part
            settled[customer] -= part
        elif op == "reverse":
            # A bounced payment: first reopen what the credit cannot cover, then reverse.
            limit = credit[customer] + settled[customer]
            if limit.is_zero():
                continue
            part = _share(limit, percent)
            reopen = max(part - credit[customer], ZERO)
            if reopen.is_positive():
                post(ledger.unallocated(customer, reopen), customer, "unallocations")
                open_invoices[customer][next_invoice] = reopen
                next_invoice += 1
                credit[customer] += reopen
                settled[customer] -= reopen
            entry = ledger.payment_reversed(customer, part, method, gateway)
            post(entry, customer, "reversals")
            credit[customer] -= part
        elif op == "refund":
            if credit[customer].is_zero():
                continue
            part = _share(credit[customer], percent)
            post(ledger.refund(customer, part, method, gateway), customer, "refunds")
            credit[customer] -= part
        elif op == "write_off":
            if due.is_zero():
                continue
            part = _share(due, percent)
            plan, _ = allocate(
                part, [OpenInvoice(i, (i,), a) for i, a in open_invoices[customer].items()]
            )
            for invoice_id, written in plan:
                open_invoices[customer][invoice_id] -= written
            post(ledger.written_off(customer, part), customer, "write_offs")
        elif op == "settle":
            clearing = trial_balance(entries).get(gateway_clearing("razorpay"), ZERO)
            if not clearing.is_positive():
                continue
            fee = clearing.multiply(Decimal("0.02"))
            entries.append(ledger.settlement("razorpay", clearing, fee, clearing - fee))

    balances = trial_balance(entries)
    check_balanced(balances)
    assert sum(balances.values(), ZERO) == ZERO

    for customer in CUSTOMERS:
        t = totals[customer]
        due, held = customer_balances(entries, customer, currency="INR")
        assert due == t["invoices"] - t["allocations"] - t["write_offs"] + t["unallocations"]
        assert held == (
            t["payments"]
            + t["credit_notes"]
            - t["allocations"]
            + t["unallocations"]
            - t["refunds"]
            - t["reversals"]
        )
        # The ledger agrees with the model, and neither figure went below zero.
        assert due == sum(open_invoices[customer].values(), ZERO)
        assert held == credit[customer]
        assert not due.is_negative()
        assert not held.is_negative()

    # The sub-ledgers add up to their control accounts.
    assert sum(subledger(entries, RECEIVABLE).values(), ZERO) == balances.get(RECEIVABLE, ZERO)
    credit_total = sum(subledger(entries, CUSTOMER_CREDIT).values(), ZERO)
    assert credit_total == balances.get(CUSTOMER_CREDIT, ZERO)
