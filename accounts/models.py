"""The accounts app's models, gathered for Django from its two parts.

People (`identity`): User, AuditEvent. The ledger (`ledger`): Merchant,
Account, LedgerTransaction, LedgerEntry, Hold.
"""

from accounts.identity.models import AuditEvent, User
from accounts.ledger.models import Account, Hold, LedgerEntry, LedgerTransaction, Merchant

__all__ = ["Account", "AuditEvent", "Hold", "LedgerEntry", "LedgerTransaction", "Merchant", "User"]
