"""The accounts app's models, gathered for Django from its two parts.

People (`identity`): Person, User, RoleGrant, Decision, AuditEvent. The ledger (`ledger`): Merchant,
Account, LedgerTransaction, LedgerEntry, Hold.
"""

from accounts.identity.models import AuditEvent, Decision, Person, RoleGrant, User
from accounts.ledger.models import Account, Hold, LedgerEntry, LedgerTransaction, Merchant

__all__ = [
    "Account",
    "AuditEvent",
    "Decision",
    "Hold",
    "LedgerEntry",
    "LedgerTransaction",
    "Merchant",
    "Person",
    "RoleGrant",
    "User",
]
