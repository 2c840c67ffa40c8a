"""The payee's bank's side of a verification: this hub's account behind an IBAN, and its
holder's name compared with the name given (compliance/names.py's `verify_payee`). Used by
the responder for peers and by the requester for this hub's own accounts."""

from __future__ import annotations

from accounts.models import Account
from clearing import rows
from clearing.services import normalise_iban
from compliance import names
from compliance.vop.protocol import Verification


def holder_name(account: Account) -> str:
    """The account holder's name: the account's, else its merchant's."""
    if account.name.strip():
        return account.name.strip()
    return account.merchant.name.strip() if account.merchant is not None else ""


def held_account(number: str) -> Account | None:
    """A customer account of this hub with this number (an IBAN written with or without
    spaces, or a local number); system accounts are never answered for."""
    candidates = {number.strip(), normalise_iban(number)} - {""}
    return rows.customer_account(candidates) if candidates else None


def verify_account(account: Account | None, name: str | None) -> Verification:
    """NOAP when the account is not held or closed, the party is given without a name, or
    the holder has no name on record; else the matcher's MTCH, CMTC (with the holder's
    name) or NMTC."""
    if account is None or account.status == Account.Status.CLOSED:
        return Verification("NOAP")
    holder = holder_name(account)
    if name is None or not name.strip() or not holder:
        return Verification("NOAP")
    result, matched = names.verify_payee(name, holder)
    return Verification(result, matched if result == "CMTC" else None)
