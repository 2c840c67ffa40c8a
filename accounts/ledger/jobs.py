"""RQ jobs of the ledger: thin wrappers that call selectors or services."""

from __future__ import annotations

from typing import Any

from accounts.ledger.selectors import ledger_verify


def verify_ledger() -> dict[str, Any]:
    """Recompute the ledger in the background; the result is kept on the job."""
    return ledger_verify()
