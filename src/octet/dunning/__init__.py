"""Dunning: reminders, suspension, late fees and termination for unpaid invoices."""
