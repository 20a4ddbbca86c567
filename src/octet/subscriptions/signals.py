"""Signals other apps react to (network: CoA/Disconnect; metering: allowances).

Sent inside the transaction that makes the change, so what receivers write (an outbox row)
commits or rolls back with it.
"""

from django.dispatch import Signal

# kwargs: subscription, previous, target, reason
state_changed = Signal()
# kwargs: subscription, change
plan_changed = Signal()
