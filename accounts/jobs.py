"""RQ jobs of the accounts app: thin wrappers that call selectors or services."""

from __future__ import annotations

from typing import Any

from accounts.selectors import ledger_verify


def verify_ledger() -> dict[str, Any]:
    """Recompute the ledger in the background; the result is kept on the job."""
    return ledger_verify()
