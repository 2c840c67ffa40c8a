"""What is paid is what was approved: the digest that an approval signs, over the file's
SHA-256 and every valid row (row, debtor, creditor, amount, currency), written once here
for validation (which computes it while the rows stream by) and for execution (which
computes it again from the stored rows before it pays any, and stops loudly if they differ).

The database also refuses any change of a stored row's money columns
(`batchitem_money_frozen`, batches migration 0013); the digest catches what a writer with
the power to drop that trigger could still do.
"""

from __future__ import annotations

import hashlib
from typing import cast
from uuid import UUID

from batches.models import Batch, BatchItem


def row_line(row: int, debtor: UUID, creditor: UUID | str, amount: int, currency: str) -> bytes:
    """`creditor`: the account's id, or a row to another bank's customer's IBAN as written."""
    return f"{row}|{debtor}|{creditor}|{amount}|{currency}\n".encode()


def start(file_sha256: str) -> hashlib._Hash:
    return hashlib.sha256(file_sha256.encode())


def stored_rows_digest(batch: Batch) -> str:
    """The digest of the rows as stored now: the rows that were valid at validation (now
    valid, paid or failed; an invalid row never changes status), in row order."""
    digest = start(batch.file_sha256)
    default_debtor = batch.debtor_account_id
    rows = (
        batch.items.filter(
            status__in=[
                BatchItem.Status.VALID,
                BatchItem.Status.PENDING,
                BatchItem.Status.PAID,
                BatchItem.Status.FAILED,
            ]
        )
        .order_by("row")
        .values_list(
            "row",
            "debtor_account_id",
            "creditor_account_id",
            "creditor_account_number",
            "amount",
            "currency",
        )
    )
    for row, debtor, creditor, number, amount, currency in rows.iterator(chunk_size=10_000):
        digest.update(
            row_line(
                row,
                cast(UUID, debtor or default_debtor),
                creditor or number,
                cast(int, amount),
                currency,
            )
        )
    return digest.hexdigest()
