"""Payments: the double-entry ledger, allocation of payments to invoices, refunds, gateways."""
