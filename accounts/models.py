"""The accounts app's models, gathered for Django from its two parts.

People (`identity`): Person, User, RoleGrant, Decision, AuditEvent. The ledger (`ledger`): Merchant,
Account, LedgerTransaction, LedgerEntry, Hold, InstantLimitChange.
"""

from accounts.identity.models import AuditEvent, Decision, Person, RoleGrant, User
from accounts.ledger.models import (
    Account,
    Hold,
    InstantLimitChange,
    LedgerEntry,
    LedgerTransaction,
    Merchant,
)

__all__ = [
    "Account",
    "AuditEvent",
    "Decision",
    "Hold",
    "InstantLimitChange",
    "LedgerEntry",
    "LedgerTransaction",
    "Merchant",
    "Person",
    "RoleGrant",
    "User",
]
