"""The accounts app's admin screens, registered from its two parts."""

from accounts.identity import admin as identity_admin
from accounts.ledger import admin as ledger_admin
from accounts.ledger import limit_admin

__all__ = ["identity_admin", "ledger_admin", "limit_admin"]
