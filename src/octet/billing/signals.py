"""Signals of the billing app, sent inside the transaction that issues the documents."""

from django.dispatch import Signal

# kwargs: customer_ids (list[int]), at (datetime): documents were issued to these customers
# (payments settles them with any credit the customers have).
documents_issued = Signal()
