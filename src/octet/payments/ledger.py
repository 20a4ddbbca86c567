"""Double-entry postings for every movement of a customer's money (invariant 4).

Pure: no Django, no database, no clock. The service layer stores the entries these builders
return, one entry per use case and in the same transaction as the change it records; every
balance is then a sum over stored postings (:func:`trial_balance`, :func:`customer_balances`),
never a number kept on the side that could drift.

Sign convention: a posting's balance is ``debit - credit``. Assets (receivable, cash, bank,
gateway clearing) and expenses (bad debt, gateway fees) end up positive; liabilities (tax
payable, customer credit) and revenue end up negative. Every entry balances, so the balances
of all accounts add up to zero in every currency (:func:`check_balanced`).

The design choice that shapes every builder: **all money a customer gives us first lands in
``customer_credit``, and only an allocation settles ``receivable``.** A payment (cash,
cheque, bank transfer, UPI reference, gateway) and a credit note both credit the customer's
``customer_credit``; :func:`allocated` then moves an amount from ``customer_credit`` to settle
``receivable``. Why a separate step rather than crediting ``receivable`` directly:

* there is one path for money in, whether it settles one invoice, several, or none yet
  (an overpayment, or a credit note on a paid invoice, simply stays as credit and settles
  the next invoice when it is issued, as the scenarios' allocation policy requires);
* ``due`` (the receivable balance) and ``credit`` (minus the customer-credit balance) are
  both plain sums, so the scenarios' ``balances`` come straight from the ledger;
* undoing is exact: a bounced cheque is :func:`unallocated` (the invoices it had settled
  reopen) followed by :func:`payment_reversed` (the money never arrived), each the mirror
  image of the entry it undoes.

Receivable and customer credit are sub-ledgers: their postings carry the customer id, and a
customer's figures are the sums over that customer's postings. Other accounts are global.

The builders check what they can see (positive amounts, documents that add up, a method that
matches its account); what needs the stored state (a refund no larger than the credit, an
allocation no larger than the credit or the open amount) is for the service layer, which has
it under a lock, and for :mod:`octet.payments.allocation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from octet.core.money import CurrencyMismatch, Money, sum_money

__all__ = [
    "BAD_DEBT",
    "BANK",
    "CASH",
    "CUSTOMER_ACCOUNTS",
    "CUSTOMER_CREDIT",
    "ENTRY_KINDS",
    "GATEWAY_FEES",
    "GATEWAY_METHODS",
    "MANUAL_METHODS",
    "RECEIVABLE",
    "REVENUE",
    "VOUCHERS_OUTSTANDING",
    "JournalEntry",
    "Posting",
    "allocated",
    "check_balanced",
    "credit_note_issued",
    "customer_balances",
    "document_rows",
    "gateway_clearing",
    "invoice_issued",
    "method_account",
    "payment_received",
    "payment_reversed",
    "refund",
    "settlement",
    "subledger",
    "tax_payable",
    "trial_balance",
    "unallocated",
    "vouchers_sold",
    "written_off",
]

# -- accounts ---------------------------------------------------------------------------

RECEIVABLE = "receivable"  # what customers owe on issued invoices (per customer)
CUSTOMER_CREDIT = "customer_credit"  # money received, not yet applied (per customer)
REVENUE = "revenue"
CASH = "cash"
BANK = "bank"
BAD_DEBT = "bad_debt"  # expense: receivables written off
GATEWAY_FEES = "gateway_fees"  # expense: what a gateway keeps from a settlement
# liability: prepaid vouchers sold (to a reseller, over the counter) and not yet redeemed
VOUCHERS_OUTSTANDING = "vouchers_outstanding"
_TAX_PAYABLE = "tax_payable"
_GATEWAY_CLEARING = "gateway_clearing"

# Accounts kept per customer: a posting to them must name the customer.
CUSTOMER_ACCOUNTS = frozenset({RECEIVABLE, CUSTOMER_CREDIT})

# Methods recorded by a clerk, and the account their money lands in. UPI here is a payment
# the customer made to our bank account and quoted the reference of; UPI through a gateway
# goes to that gateway's clearing account like any gateway method.
MANUAL_METHODS: Mapping[str, str] = {
    "cash": CASH,
    "cheque": BANK,
    "bank_transfer": BANK,
    "upi": BANK,
    "voucher": VOUCHERS_OUTSTANDING,  # redeeming a voucher turns its value into credit
}
GATEWAY_METHODS = frozenset({"card", "netbanking", "upi", "wallet"})

ENTRY_KINDS = frozenset(
    {
        "invoice_issued",
        "credit_note_issued",
        "payment_received",
        "allocated",
        "unallocated",
        "payment_reversed",
        "refund",
        "settlement",
        "written_off",
        "vouchers_sold",
    }
)


def _qualifier(value: str, what: str) -> str:
    # The part after the colon names a sub-account; a stray space or colon would silently
    # open a second account for the same tax or gateway.
    if not isinstance(value, str) or not value or value != value.strip() or ":" in value:
        raise ValueError(f"{what} must be a non-empty name without spaces around or ':'")
    return value


def tax_payable(name: str) -> str:
    """The liability account of one tax, e.g. ``tax_payable("CGST") == "tax_payable:CGST"``."""
    return f"{_TAX_PAYABLE}:{_qualifier(name, 'tax name')}"


def gateway_clearing(gateway: str) -> str:
    """Money a gateway collected for us and has not yet paid out to the bank."""
    return f"{_GATEWAY_CLEARING}:{_qualifier(gateway, 'gateway name')}"


def method_account(method: str, gateway: str = "") -> str:
    """The account a payment by ``method`` (through ``gateway``, if any) moves money in.

    Cash goes to the till, cheques, bank transfers and quoted UPI references to the bank,
    anything collected by a gateway to that gateway's clearing account until it settles.
    A method that cannot go the way asked (a card without a gateway, cash through one) is
    refused rather than guessed.
    """
    if gateway:
        if method not in GATEWAY_METHODS:
            raise ValueError(f"payment method {method!r} cannot go through a gateway")
        return gateway_clearing(gateway)
    if method in MANUAL_METHODS:
        return MANUAL_METHODS[method]
    if method in GATEWAY_METHODS:
        raise ValueError(f"payment method {method!r} needs a gateway")
    raise ValueError(f"unknown payment method {method!r}")


# -- postings and entries ---------------------------------------------------------------


def _money(value: object, what: str) -> Money:
    if not isinstance(value, Money):
        raise TypeError(f"{what} must be Money, got {type(value).__name__}")
    return value


def _positive(value: object, what: str) -> Money:
    amount = _money(value, what)
    if not amount.is_positive():
        raise ValueError(f"{what} must be positive, got {amount}")
    return amount


def _not_negative(value: object, what: str) -> Money:
    amount = _money(value, what)
    if amount.is_negative():
        raise ValueError(f"{what} must not be negative, got {amount}")
    return amount


@dataclass(frozen=True)
class Posting:
    """One line of a journal entry: an amount on one side of one account.

    Exactly one side is non-zero and neither is negative, so a posting's direction is never
    hidden in a sign; a reversal is a new posting on the other side.
    """

    account: str
    debit: Money
    credit: Money
    customer: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.account, str) or not self.account:
            raise ValueError("a posting needs an account name")
        _not_negative(self.debit, "debit")
        _not_negative(self.credit, "credit")
        if self.debit.currency != self.credit.currency:
            raise ValueError("debit and credit of a posting must share a currency")
        if self.debit.is_zero() == self.credit.is_zero():
            raise ValueError(
                f"a posting to {self.account} needs exactly one non-zero side, "
                f"got debit {self.debit} and credit {self.credit}"
            )
        if self.customer is not None and (
            isinstance(self.customer, bool) or not isinstance(self.customer, int)
        ):
            raise TypeError(f"customer must be an int id, got {self.customer!r}")
        if self.account in CUSTOMER_ACCOUNTS and self.customer is None:
            raise ValueError(f"a posting to {self.account} must name the customer")

    @classmethod
    def dr(cls, account: str, amount: Money, customer: int | None = None) -> Posting:
        return cls(account, amount, Money.zero(amount.currency), customer)

    @classmethod
    def cr(cls, account: str, amount: Money, customer: int | None = None) -> Posting:
        return cls(account, Money.zero(amount.currency), amount, customer)

    @property
    def currency(self) -> str:
        return self.debit.currency

    @property
    def balance(self) -> Money:
        """``debit - credit``: positive for a debit, negative for a credit."""
        return self.debit - self.credit


@dataclass(frozen=True)
class JournalEntry:
    """A set of postings that moves money without creating or losing any.

    Refused unless debits equal credits, in a single currency: an entry that mixed rupees
    and dollars could only balance through an exchange rate, and that has to be explicit.
    """

    kind: str  # one of ENTRY_KINDS for the builders here; the service may add its own
    postings: tuple[Posting, ...]
    memo: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError("a journal entry needs a kind")
        postings = tuple(self.postings)  # a list would make the frozen entry mutable
        object.__setattr__(self, "postings", postings)
        if not postings:
            raise ValueError(f"a {self.kind} entry needs postings")
        for posting in postings:
            if not isinstance(posting, Posting):
                raise TypeError(f"postings must be Posting, got {type(posting).__name__}")
        currencies = {p.currency for p in postings}
        if len(currencies) > 1:
            raise ValueError(f"a {self.kind} entry mixes currencies: {sorted(currencies)}")
        currency = currencies.pop()
        debits = sum_money((p.debit for p in postings), currency)
        credits = sum_money((p.credit for p in postings), currency)
        if debits != credits:
            raise ValueError(
                f"unbalanced {self.kind} entry: debits {debits} != credits {credits} {currency}"
            )

    @property
    def currency(self) -> str:
        return self.postings[0].currency

    @property
    def amount(self) -> Money:
        """Total of the debits (equal to the credits)."""
        return sum_money((p.debit for p in self.postings), self.currency)


# -- builders ---------------------------------------------------------------------------


# A posting as plain values: (account, debit, credit, customer id or None).
Row = tuple[str, Decimal, Decimal, "int | None"]


def document_rows(
    kind: str,
    customer: int,
    subtotal: Decimal,
    taxes: Iterable[tuple[str, Decimal]],
    total: Decimal,
) -> list[Row]:
    """The postings of an issued invoice (``kind`` "invoice_issued") or credit note
    ("credit_note_issued") as plain Decimal rows: the rule :func:`invoice_issued` and
    :func:`credit_note_issued` wrap, and what a billing run stores for thousands of
    documents without building Money objects for each.

    Taxes of the same name (several lines at different rates) go to one posting, netted
    (a discount line carries negative tax); zero amounts are dropped because a posting must
    move something. Refused unless subtotal plus taxes make the total exactly.
    """
    if kind not in ("invoice_issued", "credit_note_issued"):
        raise ValueError(f"{kind!r} is not a document entry")
    if not total > 0:
        raise ValueError(f"total must be positive, got {total}")
    if subtotal < 0:
        raise ValueError(f"subtotal must not be negative, got {subtotal}")
    by_account: dict[str, Decimal] = {}
    for name, amount in taxes:
        account = tax_payable(name)
        by_account[account] = by_account.get(account, Decimal(0)) + amount
    for account, amount in by_account.items():
        if amount < 0:
            raise ValueError(f"tax {account} must not be negative, got {amount}")
    computed = sum(by_account.values(), subtotal)
    if computed != total:
        raise ValueError(f"subtotal {subtotal} plus taxes make {computed}, not the total {total}")
    lines = [(account, amount) for account, amount in [(REVENUE, subtotal), *by_account.items()]]
    lines = [(account, amount) for account, amount in lines if amount]
    zero = Decimal(0)
    if kind == "invoice_issued":
        return [(RECEIVABLE, total, zero, customer)] + [(a, zero, m, None) for a, m in lines]
    return [(a, m, zero, None) for a, m in lines] + [(CUSTOMER_CREDIT, zero, total, customer)]


def _document_entry(
    kind: str,
    customer: int,
    subtotal: Money,
    taxes: Sequence[tuple[str, Money]],
    total: Money,
    memo: str,
) -> JournalEntry:
    currency = _positive(total, "total").currency
    _not_negative(subtotal, "subtotal")
    for name, amount in taxes:
        if _money(amount, f"tax {name}").currency != currency:
            raise CurrencyMismatch(amount.currency, currency)
    rows = document_rows(
        kind, customer, subtotal.amount, [(n, a.amount) for n, a in taxes], total.amount
    )
    postings = tuple(
        Posting(account, Money(debit, currency), Money(credit, currency), who)
        for account, debit, credit, who in rows
    )
    return JournalEntry(kind, postings, memo)


def invoice_issued(
    customer: int,
    subtotal: Money,
    taxes: Sequence[tuple[str, Money]],
    total: Money,
    *,
    memo: str = "",
) -> JournalEntry:
    """The customer owes ``total``: revenue earned and tax collected on the state's behalf.

    An invoice that totals zero moves no money and has no entry; the caller posts nothing.
    """
    return _document_entry("invoice_issued", customer, subtotal, taxes, total, memo)


def credit_note_issued(
    customer: int,
    subtotal: Money,
    taxes: Sequence[tuple[str, Money]],
    total: Money,
    *,
    memo: str = "",
) -> JournalEntry:
    """Revenue and tax given back; the customer holds the total as credit until allocated.

    The credit note does not touch ``receivable`` itself, even when issued against an open
    invoice: :func:`allocated` settles that invoice, as it would with a payment.
    """
    return _document_entry("credit_note_issued", customer, subtotal, taxes, total, memo)


def payment_received(
    customer: int, amount: Money, method: str, gateway: str = "", *, memo: str = ""
) -> JournalEntry:
    """Money arrived (in the till, the bank, or a gateway); the customer holds it as credit."""
    _positive(amount, "payment amount")
    account = method_account(method, gateway)
    postings = (Posting.dr(account, amount), Posting.cr(CUSTOMER_CREDIT, amount, customer))
    return JournalEntry("payment_received", postings, memo)


def allocated(customer: int, amount: Money, *, memo: str = "") -> JournalEntry:
    """Apply ``amount`` of the customer's credit to their open invoices."""
    _positive(amount, "allocated amount")
    postings = (
        Posting.dr(CUSTOMER_CREDIT, amount, customer),
        Posting.cr(RECEIVABLE, amount, customer),
    )
    return JournalEntry("allocated", postings, memo)


def unallocated(customer: int, amount: Money, *, memo: str = "") -> JournalEntry:
    """Undo an allocation: the invoices reopen and the amount is credit again."""
    _positive(amount, "unallocated amount")
    postings = (
        Posting.dr(RECEIVABLE, amount, customer),
        Posting.cr(CUSTOMER_CREDIT, amount, customer),
    )
    return JournalEntry("unallocated", postings, memo)


def _money_out(
    kind: str, customer: int, amount: Money, method: str, gateway: str, memo: str
) -> JournalEntry:
    _positive(amount, f"{kind} amount")
    account = method_account(method, gateway)
    postings = (Posting.dr(CUSTOMER_CREDIT, amount, customer), Posting.cr(account, amount))
    return JournalEntry(kind, postings, memo)


def payment_reversed(
    customer: int, amount: Money, method: str, gateway: str = "", *, memo: str = ""
) -> JournalEntry:
    """A payment that never really arrived (bounced cheque, charge-back) leaves the ledger.

    Only credit can be reversed: for a payment that had settled invoices, post
    :func:`unallocated` for what it settled first, so those invoices are due again.
    """
    return _money_out("payment_reversed", customer, amount, method, gateway, memo)


def refund(
    customer: int, amount: Money, method: str, gateway: str = "", *, memo: str = ""
) -> JournalEntry:
    """Unapplied credit paid back to the customer through ``method``."""
    return _money_out("refund", customer, amount, method, gateway, memo)


def settlement(
    gateway: str, gross: Money, fee: Money, bank_amount: Money, *, memo: str = ""
) -> JournalEntry:
    """A gateway pays out what it collected, less its fee: clearing empties into the bank."""
    _positive(gross, "settlement gross")
    _not_negative(fee, "gateway fee")
    _not_negative(bank_amount, "settlement bank amount")
    if fee + bank_amount != gross:
        raise ValueError(f"fee {fee} plus bank amount {bank_amount} is not the gross {gross}")
    debits = ((BANK, bank_amount), (GATEWAY_FEES, fee))
    postings = [Posting.dr(account, amount) for account, amount in debits if not amount.is_zero()]
    postings.append(Posting.cr(gateway_clearing(gateway), gross))
    return JournalEntry("settlement", tuple(postings), memo)


def written_off(customer: int, amount: Money, *, memo: str = "") -> JournalEntry:
    """A receivable given up as uncollectable becomes an expense; the invoice is closed."""
    _positive(amount, "written-off amount")
    postings = (Posting.dr(BAD_DEBT, amount), Posting.cr(RECEIVABLE, amount, customer))
    return JournalEntry("written_off", postings, memo)


def vouchers_sold(amount: Money, method: str, *, memo: str = "") -> JournalEntry:
    """Vouchers paid for (by a reseller or over the counter) are owed as service until
    redeemed; redemption is then a ``payment_received`` by method ``voucher``."""
    _positive(amount, "voucher amount")
    if method == "voucher":
        raise ValueError("vouchers cannot be paid for with vouchers")
    postings = (
        Posting.dr(method_account(method), amount),
        Posting.cr(VOUCHERS_OUTSTANDING, amount),
    )
    return JournalEntry("vouchers_sold", postings, memo)


# -- balances ---------------------------------------------------------------------------


def trial_balance(entries: Iterable[JournalEntry]) -> dict[str, Money]:
    """``debit - credit`` per account over ``entries``, summed exactly.

    Accounts appear in the order first posted to. An account that received postings in two
    currencies raises :class:`~octet.core.money.CurrencyMismatch` instead of adding them.
    """
    balances: dict[str, Money] = {}
    for entry in entries:
        for posting in entry.postings:
            previous = balances.get(posting.account)
            balances[posting.account] = (
                posting.balance if previous is None else previous + posting.balance
            )
    return balances


def check_balanced(balances: Mapping[str, Money]) -> None:
    """Raise ``ValueError`` unless the balances add up to zero in every currency.

    True by construction for a :func:`trial_balance` of valid entries; this is the check a
    report or an audit runs over what was actually stored.
    """
    totals: dict[str, Money] = {}
    for balance in balances.values():
        currency = balance.currency
        totals[currency] = totals.get(currency, Money.zero(currency)) + balance
    off = {currency: total for currency, total in totals.items() if not total.is_zero()}
    if off:
        shown = ", ".join(f"{total} {currency}" for currency, total in sorted(off.items()))
        raise ValueError(f"the ledger does not balance: balances sum to {shown}")


def subledger(entries: Iterable[JournalEntry], account: str) -> dict[int, Money]:
    """``debit - credit`` per customer on one customer account (receivable, customer credit)."""
    if account not in CUSTOMER_ACCOUNTS:
        raise ValueError(f"{account!r} is not kept per customer")
    balances: dict[int, Money] = {}
    for entry in entries:
        for posting in entry.postings:
            # Posting requires the customer on customer accounts; the check keeps types honest.
            if posting.account == account and posting.customer is not None:
                previous = balances.get(posting.customer)
                balances[posting.customer] = (
                    posting.balance if previous is None else previous + posting.balance
                )
    return balances


def customer_balances(
    entries: Iterable[JournalEntry], customer: int, *, currency: str | None = None
) -> tuple[Money, Money]:
    """``(due, credit)`` of one customer, as the scenarios' ``balances`` report them.

    ``due`` is the customer's receivable balance (owed on open invoices, due yet or not);
    ``credit`` is minus their customer-credit balance (received and not yet applied), so
    both are positive in normal operation. ``currency`` gives the zeros for a customer with
    no postings yet; without it such a customer is refused, as the currency is unknown.
    """
    due: Money | None = Money.zero(currency) if currency else None
    held: Money | None = due
    for entry in entries:
        for posting in entry.postings:
            if posting.customer != customer or posting.account not in CUSTOMER_ACCOUNTS:
                continue
            if due is None or held is None:
                due = held = Money.zero(posting.currency)
            if posting.account == RECEIVABLE:
                due += posting.balance
            else:
                held += posting.balance
    if due is None or held is None:
        raise ValueError(f"customer {customer} has no postings; pass currency= for zeros")
    return due, -held
