"""Verification of Payee of an API payment, through a hook that compliance fills in.

payments sits below compliance and clearing and never imports them: compliance registers
its verifier here in its AppConfig.ready(). A payment naming its creditor is verified before
it is sent, unless the request carries the answer of an earlier verification
(`verification`: `{"result", "matched_name"}`, from `POST /payee-verifications/`). The
result goes on the payment; it informs the payer and never refuses the payment by itself
(the payer's request is its authorisation: IPR Art. 5c). Without a name there is nothing
to verify, and no verification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.models import Merchant

# (number, name, merchant) -> {"result": MTCH|CMTC|NMTC|NOAP, "matched_name": str | None}
Verifier = Callable[..., dict[str, Any]]

_verifier: Verifier | None = None


def register(verifier: Verifier) -> None:
    global _verifier
    _verifier = verifier


def for_payment(validated: dict[str, Any], *, merchant: Merchant) -> dict[str, Any] | None:
    """The `verification` a new payment carries (see the module's docstring)."""
    given = validated.get("verification")
    if given:
        matched = given.get("matched_name") if given["result"] == "CMTC" else None
        return {"result": given["result"], "matched_name": matched or None}
    name = (validated.get("creditor_name") or "").strip()
    if not name or _verifier is None:
        return None
    return _verifier(number=validated["creditor_account"], name=name, merchant=merchant)
