"""Tests for octet.payments.allocation: scenario 01 by hand, then each rule, then properties."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octet.core.money import Money
from octet.payments import ledger
from octet.payments.allocation import OpenInvoice, allocate

ASHA = 1


def inr(amount: str) -> Money:
    return Money(Decimal(amount), "INR")


ZERO = inr("0")


def invoice(id: int, open_amount: str, order: int | None = None) -> OpenInvoice:
    return OpenInvoice(id, (order if order is not None else id,), inr(open_amount))


def shown(allocations: list[tuple[int, Money]]) -> list[tuple[int, str]]:
    return [(invoice_id, str(amount)) for invoice_id, amount in allocations]


# -- scenario 01 (fibre upgrade, dunning), worked by hand --------------------------------


def test_scenario_01_allocations_and_balances() -> None:
    """Asha's payments and credit note settle the oldest open invoice first.

    Figures from 01-fibre-upgrade-dunning.expected.json: invoices KF/25-26/000001..4, the
    credit note KFC/25-26/000001 (against invoice 2) and two UPI payments.
    """
    entries: list[ledger.JournalEntry] = []
    open_amounts: dict[int, Money] = {}
    issued_at: dict[int, str] = {}

    def issue(number: int, at: str, subtotal: str, half_tax: str, total: str) -> None:
        taxes = [("CGST", inr(half_tax)), ("SGST", inr(half_tax))]
        entries.append(ledger.invoice_issued(ASHA, inr(subtotal), taxes, inr(total)))
        open_amounts[number] = inr(total)
        issued_at[number] = at

    def settle(amount: Money) -> tuple[list[tuple[int, str]], Money]:
        candidates = [
            OpenInvoice(number, (issued_at[number], number), open_amount)
            for number, open_amount in open_amounts.items()
        ]
        allocations, leftover = allocate(amount, candidates)
        for number, part in allocations:
            open_amounts[number] -= part
        total = sum((part for _, part in allocations), ZERO)
        if total.is_positive():
            entries.append(ledger.allocated(ASHA, total))
        return shown(allocations), leftover

    # 15 Jan: first (prorated) invoice; 20 Jan: paid in full by UPI.
    issue(1, "2026-01-15T03:30Z", "547.84", "49.31", "646.46")
    entries.append(ledger.payment_received(ASHA, inr("646.46"), "upi"))
    assert settle(inr("646.46")) == ([(1, "646.46")], ZERO)
    assert ledger.customer_balances(entries, ASHA) == (ZERO, ZERO)

    # 1 Feb: second invoice; 10 Feb: credit note for the downgrade, to the oldest open one.
    issue(2, "2026-01-31T18:30Z", "1259.00", "113.31", "1485.62")
    note = ledger.credit_note_issued(
        ASHA, inr("677.89"), [("CGST", inr("61.01")), ("SGST", inr("61.01"))], inr("799.91")
    )
    entries.append(note)
    assert settle(inr("799.91")) == ([(2, "799.91")], ZERO)
    assert open_amounts[2] == inr("685.71")

    # 10 Feb: third invoice (the new plan); nothing left over to settle it.
    issue(3, "2026-02-10T06:30Z", "1017.18", "91.55", "1200.28")
    assert ledger.customer_balances(entries, ASHA) == (inr("1885.99"), ZERO)

    # 23 Feb: one UPI payment covers both open invoices, oldest first.
    entries.append(ledger.payment_received(ASHA, inr("1885.99"), "upi"))
    assert settle(inr("1885.99")) == ([(2, "685.71"), (3, "1200.28")], ZERO)

    # 1 Mar: fourth invoice, unpaid at the end of the scenario.
    issue(4, "2026-02-28T18:30Z", "1499.00", "134.91", "1768.82")

    assert sum(open_amounts.values(), ZERO) == inr("1768.82")
    assert ledger.customer_balances(entries, ASHA) == (inr("1768.82"), ZERO)
    balances = ledger.trial_balance(entries)
    ledger.check_balanced(balances)
    assert balances[ledger.BANK] == inr("2532.45")  # both UPI payments
    assert balances[ledger.REVENUE] == inr("-3645.13")  # invoices less the credit note


# -- rules --------------------------------------------------------------------------------


def test_oldest_first() -> None:
    invoices = [invoice(3, "300", order=3), invoice(1, "100", order=1), invoice(2, "200", 2)]
    assert shown(allocate(inr("600"), invoices)[0]) == [(1, "100.00"), (2, "200.00"), (3, "300.00")]


def test_issued_order_decides_not_the_id_or_the_list_order() -> None:
    invoices = [invoice(1, "100", order=9), invoice(2, "100", order=5)]
    assert shown(allocate(inr("150"), invoices)[0]) == [(2, "100.00"), (1, "50.00")]


def test_ties_in_issued_order_go_to_the_lower_id() -> None:
    invoices = [invoice(8, "100", order=1), invoice(4, "100", order=1)]
    assert shown(allocate(inr("150"), invoices)[0]) == [(4, "100.00"), (8, "50.00")]


def test_chosen_invoice_first_then_oldest() -> None:
    invoices = [invoice(1, "100"), invoice(2, "200"), invoice(3, "300")]
    allocations, leftover = allocate(inr("450"), invoices, to=3)
    assert shown(allocations) == [(3, "300.00"), (1, "100.00"), (2, "50.00")]
    assert leftover == ZERO


def test_partial_payment() -> None:
    allocations, leftover = allocate(inr("60.50"), [invoice(1, "100"), invoice(2, "200")])
    assert shown(allocations) == [(1, "60.50")]
    assert leftover == ZERO


def test_overpayment_leaves_credit() -> None:
    allocations, leftover = allocate(inr("350"), [invoice(1, "100"), invoice(2, "200")])
    assert shown(allocations) == [(1, "100.00"), (2, "200.00")]
    assert leftover == inr("50")


def test_nothing_open_leaves_everything_as_credit() -> None:
    assert allocate(inr("10"), []) == ([], inr("10"))
    assert allocate(inr("10"), [invoice(1, "0")]) == ([], inr("10"))


def test_zero_open_invoices_are_skipped() -> None:
    invoices = [invoice(1, "0"), invoice(2, "20")]
    assert shown(allocate(inr("10"), invoices)[0]) == [(2, "10.00")]


def test_refusals() -> None:
    invoices = [invoice(1, "100"), invoice(2, "0")]
    with pytest.raises(ValueError, match="not among"):
        allocate(inr("10"), invoices, to=9)
    with pytest.raises(ValueError, match="not among"):
        allocate(inr("10"), invoices, to=2)  # already settled
    with pytest.raises(ValueError, match="positive"):
        allocate(ZERO, invoices)
    with pytest.raises(ValueError, match="positive"):
        allocate(inr("-1"), invoices)
    with pytest.raises(ValueError, match="USD"):
        allocate(Money(Decimal("1"), "USD"), invoices)
    with pytest.raises(ValueError, match="twice"):
        allocate(inr("1"), [invoice(1, "5"), invoice(1, "6")])
    with pytest.raises(TypeError):
        allocate(Decimal("1"), invoices)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        invoice(1, "-1")


# -- properties -------------------------------------------------------------------------

open_invoice_lists = st.lists(
    st.tuples(st.integers(0, 10), st.integers(0, 1_000_000)),  # (issued order, open paise)
    max_size=12,
).map(
    lambda rows: [
        OpenInvoice(i, (order,), Money.from_minor_units(units, "INR"))
        for i, (order, units) in enumerate(rows)
    ]
)


@given(open_invoice_lists, st.integers(1, 15_000_000), st.data())
def test_allocation_properties(invoices, units, data) -> None:
    amount = Money.from_minor_units(units, "INR")
    open_ids = [i.id for i in invoices if i.open_amount.is_positive()]
    to = data.draw(st.sampled_from([None, *open_ids]))
    allocations, leftover = allocate(amount, invoices, to=to)
    by_id = {i.id: i for i in invoices}

    # Nothing created or lost, nothing negative.
    assert sum((part for _, part in allocations), ZERO) + leftover == amount
    assert not leftover.is_negative()
    assert all(part.is_positive() for _, part in allocations)

    # No invoice settled twice or beyond its open amount.
    ids = [invoice_id for invoice_id, _ in allocations]
    assert len(ids) == len(set(ids))
    assert all(part <= by_id[invoice_id].open_amount for invoice_id, part in allocations)

    # Credit is left over only when every open invoice is fully settled.
    total_open = sum((i.open_amount for i in invoices), ZERO)
    assert leftover == max(amount - total_open, ZERO)

    # Order: the chosen invoice first, then oldest first; only the last one may be partial.
    rest = [invoice_id for invoice_id in ids if invoice_id != to]
    if to is not None:
        assert ids[0] == to
    orders = [(by_id[invoice_id].issued_order, invoice_id) for invoice_id in rest]
    assert orders == sorted(orders)
    for invoice_id, part in allocations[:-1]:
        assert part == by_id[invoice_id].open_amount
    # Every invoice skipped ranks after the last one settled (or money ran out first).
    if leftover.is_zero() and allocations:
        skipped = [(i.issued_order, i.id) for i in invoices if i.id in open_ids and i.id not in ids]
        last = allocations[-1][0]
        if last != to:
            assert all(key > (by_id[last].issued_order, last) for key in skipped)
