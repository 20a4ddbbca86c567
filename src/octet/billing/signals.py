"""Signals of the billing app, sent inside the transaction that issues the documents."""

from django.dispatch import Signal

# kwargs: customer_ids (list[int]), at (datetime), documents (list of (Invoice, its lines)):
# documents were issued to these customers (payments posts them to the ledger and settles
# them with any credit the customers have).
documents_issued = Signal()
