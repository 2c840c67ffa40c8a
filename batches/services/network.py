"""A batch's rows to other banks' customers (issue 19, "batches through the network").

Validation: a creditor account no hub account has, but an IBAN a peer serves, is a valid
external row (no `creditor_account`; `clearing = {"peer_bic"}`). Execution: its payment is
debited from the batch's hold into the peer's clearing account in the row's chunk, like an
on-us row's, and becomes a pending transfer (clearing/batched.py sends it, outside the
chunk); the row is `pending` until the peer answers. `row_settled` (a clearing listener)
turns it `paid` or `failed` with the peer's reason, moves the batch's counters, and ends
the batch with its last row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from psycopg.types.json import Jsonb

from accounts.ledger.errors import LedgerError
from batches.models import Batch, BatchItem
from batches.services.base import lock
from clearing import batched, services, settlement
from clearing.models import ClearingAccount, Peer
from common.db import bulk
from payments import metrics
from payments.lookups import PAID_STATUSES
from payments.models import Payment


def serving_peers(numbers: Iterable[str]) -> dict[str, str]:
    """The creditor account numbers (as given) that are IBANs a peer serves: their BICs."""
    return {number: peer.bic for number, peer in services.peers_for_ibans(numbers).items()}


def unknown_creditor(number: str) -> str:
    """Why a creditor account no one has is refused (AC01)."""
    iban = services.normalise_iban(number)
    if services.is_iban(iban):
        return f"no bank on the network serves {iban}"
    return f"no account has number {number!r}"


def external_problem(debtor_number: str) -> tuple[str, str]:
    """What refuses a valid row to another bank's customer at validation, if anything: the
    interbank message names the debtor by IBAN."""
    if not services.is_iban(debtor_number):
        return "AC01", (
            f"the debtor account {debtor_number} has no IBAN: it cannot pay another bank"
        )
    return "", ""


class ExternalPayees:
    """Which rows to other banks' customers pay an IBAN their debtor account has paid
    before (else the approver sees "new payee"), learnt a validation chunk at a time: one
    query per debtor account and peer, on the (debtor, creditor) index with the peer's
    clearing accounts as the creditor."""

    def __init__(self) -> None:
        self.known: dict[tuple[UUID, str], bool] = {}
        self.accounts: dict[str, list[UUID]] = {}  # peer BIC -> its clearing accounts

    def learn(self, rows: Iterable[tuple[UUID, str, str]]) -> None:
        """(debtor account id, creditor account as written, peer BIC) of a chunk's rows."""
        asked: dict[tuple[UUID, str], set[str]] = {}
        for debtor, number, bic in rows:
            iban = services.normalise_iban(number)
            if (debtor, iban) not in self.known:
                asked.setdefault((debtor, bic), set()).add(iban)
        for (debtor, bic), ibans in asked.items():
            if bic not in self.accounts:
                self.accounts[bic] = list(
                    ClearingAccount.objects.filter(peer__bic=bic).values_list(
                        "account_id", flat=True
                    )
                )
            paid = set(
                Payment.objects.filter(
                    debtor_account_id=debtor,
                    creditor_account_id__in=self.accounts[bic],
                    creditor_iban__in=ibans,
                    status__in=PAID_STATUSES,
                )
                .values_list("creditor_iban", flat=True)
                .distinct()
            )
            for iban in ibans:
                self.known[(debtor, iban)] = iban in paid

    def paid_before(self, debtor: UUID, number: str) -> bool:
        return self.known.get((debtor, services.normalise_iban(number)), False)


class ChunkRows:
    """The external rows of one execution chunk: where their money goes (the peer's clearing
    account), and, once debited, their transfers."""

    def __init__(self, batch: Batch, items: Sequence[tuple]):
        # items: execution's tuples (id, row, debtor, creditor, amount, currency, ...)
        self.batch = batch
        ids = [item[0] for item in items if item[3] is None]
        self.rows: dict[int, BatchItem] = {}
        self.peers: dict[str, Peer] = {}
        self.accounts: dict[int, UUID] = {}
        if not ids:
            return
        self.rows = {
            row.pk: row
            for row in BatchItem.objects.filter(pk__in=ids).select_related("debtor_account")
        }
        bics = {(row.clearing or {}).get("peer_bic", "") for row in self.rows.values()}
        self.peers = {peer.bic: peer for peer in Peer.objects.filter(bic__in=bics)}
        for row in self.rows.values():
            peer = self.peers[(row.clearing or {})["peer_bic"]]
            self.accounts[row.pk] = services.clearing_account(peer=peer, currency=row.currency).pk

    def creditor(self, item_id: int) -> UUID:
        return self.accounts[item_id]

    def send(self, results: Sequence[tuple[int, UUID, LedgerError | None]]) -> int:
        """The debited rows' payments become pending transfers, their rows `pending`; how
        many. `results`: (item id, payment id, refusal) of the chunk's rows."""
        debited = [
            (self.rows[item_id], payment_id)
            for item_id, payment_id, refusal in results
            if refusal is None and item_id in self.rows
        ]
        if not debited:
            return 0
        batch = self.batch
        infos = batched.transfers_queue(
            batch_id=batch.pk,
            transfers=[
                batched.BatchTransfer(
                    payment_id=payment_id,
                    row=row.row,
                    peer=self.peers[(row.clearing or {})["peer_bic"]],
                    end_to_end_id=row.end_to_end_id,
                    debtor_name=_debtor(batch, row).name or batch.merchant.name,
                    debtor_iban=_debtor(batch, row).number,
                    creditor_name=row.creditor_name or "NOTPROVIDED",
                    creditor_iban=services.normalise_iban(row.creditor_account_number),
                    creditor_address=row.creditor_address,
                )
                for row, payment_id in debited
            ],
        )
        bulk.update(
            BatchItem,
            ["status", "clearing"],
            [
                (row.pk, BatchItem.Status.PENDING, Jsonb(_row_clearing(infos[payment_id])))
                for row, payment_id in debited
            ],
        )
        return len(debited)


def _debtor(batch: Batch, row: BatchItem) -> Any:
    return row.debtor_account or batch.debtor_account


def _row_clearing(info: dict) -> dict:
    return {
        "peer_bic": info["peer_bic"],
        "uetr": info["uetr"],
        "status": info["status"],
        "reason_code": info.get("reason_code"),
    }


def row_settled(event: settlement.Settled) -> None:
    """The peer's verdict on a row's transfer (a clearing listener, inside the transaction
    that applies it, once per transfer): the row is final, the counters move, and the last
    row ends the batch."""
    payment: Payment = event.payment
    assert payment.batch_id is not None and payment.batch_row is not None
    batch = lock(payment.batch_id)
    item = (
        BatchItem.objects.select_for_update(of=("self",))
        .filter(batch_id=batch.pk, row=payment.batch_row, payment_id=payment.pk)
        .first()
    )
    if item is None or item.status != BatchItem.Status.PENDING:
        return
    paid = event.status == "ACSC"
    item.status = BatchItem.Status.PAID if paid else BatchItem.Status.FAILED
    item.error_code = "" if paid else event.reason_code[:4]
    item.error_message = "" if paid else f"rejected by {event.peer_bic} ({event.reason_code})"
    item.clearing = {
        **(item.clearing or {}),
        "status": event.status,
        "reason_code": None if paid else event.reason_code,
    }
    item.save(update_fields=["status", "error_code", "error_message", "clearing"])
    Batch.objects.filter(pk=batch.pk).update(
        succeeded_count=F("succeeded_count") + int(paid),
        failed_count=F("failed_count") + int(not paid),
        processed_count=F("processed_count") + 1,
        updated_at=timezone.now(),
    )
    transaction.on_commit(lambda: metrics.BATCH_ROWS.labels("paid" if paid else "failed").inc())
    batch.refresh_from_db(fields=["processed_count"])
    if batch.status == Batch.Status.EXECUTING and batch.processed_count >= batch.valid_count:
        from batches.services.execution import finish_locked

        finish_locked(batch)
