"""People: the hub's users, their roles and second factor, sign-in, and the audit trail.

Knows nothing of money: the ledger records its audit events through `audit`, never the reverse.
"""
