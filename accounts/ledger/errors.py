"""Errors of the ledger and the account services.

Each carries a stable `code` (the API's error code) and a `reason_code`, the
ISO 20022 reason code that batch rows and pain.002 reports use (docs/file-formats.md).
"""

from __future__ import annotations

from common.errors import DomainError

# The ledger's errors are the hub's domain errors (the identity gate's too).
LedgerError = DomainError


class UnknownCurrency(LedgerError):
    """The currency is not an ISO 4217 code this ledger accepts."""

    code = "unknown_currency"
    reason_code = "AM03"


class InvalidAmount(LedgerError):
    """The amount is not a valid amount for the currency."""

    code = "invalid_amount"
    reason_code = "AM02"


class ZeroAmount(InvalidAmount):
    """The amount must be greater than zero."""

    code = "zero_amount"
    reason_code = "AM01"


class CurrencyMismatch(LedgerError):
    """The currency is not the account's currency."""

    code = "currency_mismatch"
    reason_code = "AM03"


class SameAccount(LedgerError):
    """The debtor and the creditor account are the same account."""

    code = "same_account"
    reason_code = "AM02"


class AccountNotFound(LedgerError):
    """No account has this number."""

    code = "account_not_found"
    reason_code = "AC01"
    status = 404


class AccountFrozen(LedgerError):
    """The account is frozen."""

    code = "account_frozen"
    reason_code = "AC06"
    status = 409


class AccountClosed(LedgerError):
    """The account is closed."""

    code = "account_closed"
    reason_code = "AC04"
    status = 409


class InsufficientFunds(LedgerError):
    """The account's available balance is lower than the amount."""

    code = "insufficient_funds"
    reason_code = "AM04"
    status = 409


class InvalidState(LedgerError):
    """The object is not in a state that allows this."""

    code = "invalid_state"
    status = 409
