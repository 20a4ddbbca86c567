"""Signals of the payments app, sent inside the transaction of the change."""

from django.dispatch import Signal

# kwargs: customer_ids (list[int]), at (datetime): what these customers owe changed (a
# payment, a credit note, a write-off settled something). Dunning reconnects a customer
# suspended for non-payment once nothing overdue is left.
balance_changed = Signal()

# kwargs: invoice_ids (list[int]), at (datetime): invoices that were settled are open again
# (a bounced cheque, a charge-back). Dunning plans their reminders and suspension again.
invoices_reopened = Signal()
