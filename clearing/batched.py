"""Many transfers to other banks at once: a batch's rows whose creditors other banks serve.

`transfers_queue` runs in the batch's chunk transaction, after the rows' payments were
debited into the peers' clearing accounts (from the batch's hold): each payment becomes a
pending transfer (`outbound.outgoing_fields`) with its pacs.008 Message, and one outbox row
per peer sends the chunk's transfers. Nothing goes on the network inside that transaction.

`transfers_deliver` (that outbox job) posts them through `outbound.deliver`, the API's own
path: at most CLEARING_MAX_IN_FLIGHT posts in flight to one peer, counted across every
process (a PostgreSQL advisory lock per slot, held by a sending connection). A peer that
answers nothing trips the round after as many failures in a row as it has senders: the
rest stay pending, their money in the peer's clearing account, and the job raises so that
the outbox tries again later (10 s, 20 s... 10 min). A transfer's pacs.008 is written when
it is first posted, its acceptance time then (the receiver's SCT Inst time-out runs from
it), and every later post sends the same bytes. See docs/clearing.md.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from clearing import outbound, transport
from clearing.iso import builders, validation
from clearing.models import Message, Peer
from common.db import bulk
from outbox import services as outbox
from payments.models import Payment

logger = logging.getLogger(__name__)

DELIVER_JOB = "clearing.jobs.deliver_transfers"
SLOT_WAIT_SECONDS = 60.0

_FIELDS = [
    "status",
    "direction",
    "debtor_name",
    "debtor_iban",
    "debtor_agent",
    "creditor_name",
    "creditor_iban",
    "creditor_agent",
    "creditor_address",
    "uetr",
    "clearing",
]
_JSON = {"creditor_address", "clearing"}


@dataclass(frozen=True)
class BatchTransfer:
    """A batch row's payment, already debited into `peer`'s clearing account."""

    payment_id: UUID
    row: int
    peer: Peer
    end_to_end_id: str
    debtor_name: str
    debtor_iban: str
    creditor_name: str
    creditor_iban: str
    creditor_address: dict[str, Any] | None


def transfers_queue(*, batch_id: UUID, transfers: list[BatchTransfer]) -> dict[UUID, dict]:
    """In the caller's transaction: the payments become pending transfers, each with its
    Message to send, and the sending is asked of the outbox, one job per peer. Returns each
    payment's `clearing` (peer_bic, message_id, uetr, status PDNG)."""
    if not transfers:
        return {}
    updates, messages, infos = [], [], {}
    for transfer in transfers:
        msg_id, uetr = builders.new_msg_id(), uuid.uuid4()
        fields = outbound.outgoing_fields(
            peer=transfer.peer,
            msg_id=msg_id,
            uetr=uetr,
            debtor_name=transfer.debtor_name,
            debtor_iban=transfer.debtor_iban,
            creditor_name=transfer.creditor_name,
            creditor_iban=transfer.creditor_iban,
            creditor_address=transfer.creditor_address,
        )
        infos[transfer.payment_id] = fields["clearing"]
        updates.append(
            (
                transfer.payment_id,
                *(Jsonb(fields[name]) if name in _JSON else fields[name] for name in _FIELDS),
                (transfer.end_to_end_id or "NOTPROVIDED")[:35],
            )
        )
        messages.append(
            Message(
                direction=Message.Direction.OUTBOUND,
                peer=transfer.peer,
                kind=builders.PACS008,
                msg_id=msg_id,
                uetr=uetr,
                status=Message.Status.PENDING,
                body=b"",  # written when first posted (`issue`)
                payment_id=transfer.payment_id,
            )
        )
    bulk.update(Payment, [*_FIELDS, "end_to_end_id"], updates)
    created = Message.objects.bulk_create(messages)
    by_peer: dict[Peer, list[int]] = {}
    for transfer, message in zip(transfers, created, strict=True):
        by_peer.setdefault(transfer.peer, []).append(message.pk)
    first_row = min(transfer.row for transfer in transfers)
    for peer, ids in sorted(by_peer.items(), key=lambda pair: pair[0].bic):
        outbox.schedule(
            key=f"clearing.batch:{batch_id}:{peer.bic}:{first_row}",
            job=DELIVER_JOB,
            args=[peer.pk, ids],
            queue="default",
        )
    return infos


def issue(message: Message) -> None:
    """Write the transfer's pacs.008 once, accepted now; a sender that lost the race to
    write it takes the one written."""
    assert message.payment_id is not None  # a transfer's Message names its payment
    payment = Payment.objects.get(pk=message.payment_id)
    body = builders.pacs008(
        outbound.transfer_of(
            payment, msg_id=message.msg_id, peer=message.peer, accepted_at=timezone.now()
        )
    )
    validation.validate(body, expect=builders.PACS008)
    if Message.objects.filter(pk=message.pk, body=b"").update(body=body):
        message.body = body
    else:
        message.refresh_from_db(fields=["body"])


UNSENDABLE = "FF01"


@transaction.atomic
def refuse_unsendable(message_id: int, detail: str) -> None:
    """A transfer whose pacs.008 cannot be written valid never leaves: it fails here with
    FF01 and its debit is reversed, as a rejection would be. Only while no document was
    ever stored for it (so nothing can have reached the peer)."""
    sent = Message.objects.select_for_update(of=("self",)).select_related("peer").get(pk=message_id)
    if sent.status != Message.Status.PENDING or len(sent.body):
        return
    logger.error("clearing: transfer %s cannot be written: %s", sent.uetr, detail)
    outbound.settle(sent=sent, peer=sent.peer, status="RJCT", reason_code=UNSENDABLE)
    Message.objects.filter(pk=sent.pk).update(last_error=f"not sent: {detail}"[:500])


@contextmanager
def in_flight_slot(peer: Peer, *, wait_seconds: float = SLOT_WAIT_SECONDS) -> Iterator[bool]:
    """One of the peer's CLEARING_MAX_IN_FLIGHT sending slots, held by this connection's
    session until the block ends; False if none was free within `wait_seconds`."""
    width = max(1, settings.CLEARING_MAX_IN_FLIGHT)
    name = f"clearing.in_flight:{peer.bic}"
    deadline = time.monotonic() + wait_seconds
    pause = 0.01
    with connection.cursor() as cursor:
        while True:
            # The first free slot, taken: the scan stops at the first lock it gets.
            cursor.execute(
                "SELECT slot FROM generate_series(0, %s) AS slot"
                " WHERE pg_try_advisory_lock(hashtext(%s), slot) LIMIT 1",
                [width - 1, name],
            )
            taken = cursor.fetchone()
            if taken is not None:
                try:
                    yield True
                finally:
                    cursor.execute("SELECT pg_advisory_unlock(hashtext(%s), %s)", [name, taken[0]])
                return
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(pause)
            pause = min(0.2, pause * 2)


class _Round:
    """One pass over a job's pending transfers by up to CLEARING_MAX_IN_FLIGHT senders."""

    def __init__(self, peer: Peer, message_ids: list[int]):
        self.peer = peer
        self.todo = deque(message_ids)
        self.senders = max(1, min(settings.CLEARING_MAX_IN_FLIGHT, len(message_ids)))
        self.lock = threading.Lock()
        self.failures_in_a_row = 0
        self.tripped = False
        self.last_error = ""

    def run(self) -> None:
        if self.senders == 1:
            self._send()  # on this thread and its connection
            return
        threads = [
            threading.Thread(target=self._send_on_own_connection, name=f"clearing-send-{n}")
            for n in range(self.senders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _next(self) -> int | None:
        with self.lock:
            if self.tripped or not self.todo:
                return None
            return self.todo.popleft()

    def _outcome(self, error: Exception | None) -> None:
        with self.lock:
            if error is None:
                self.failures_in_a_row = 0
                return
            self.last_error = str(error)[:300]
            self.failures_in_a_row += 1
            if self.failures_in_a_row >= self.senders:
                self.tripped = True  # the peer answers no one: stop until the next round

    def _send_on_own_connection(self) -> None:
        try:
            self._send()
        finally:
            connection.close()

    def _send(self) -> None:
        with in_flight_slot(self.peer) as slot:
            if not slot:
                return  # the peer's slots are all busy: what is left waits for the next round
            while (message_id := self._next()) is not None:
                try:
                    message = Message.objects.select_related("peer").get(pk=message_id)
                    if message.status == Message.Status.PENDING and not len(message.body):
                        try:
                            issue(message)
                        except validation.InvalidDocument as error:
                            refuse_unsendable(message.pk, str(error))
                            continue  # our document, not the peer: no failure of the peer's
                    outbound.deliver(message)
                except (transport.TransportError, validation.InvalidDocument) as error:
                    self._outcome(error)
                except Exception as error:  # noqa: BLE001 - counted; the round's end raises
                    logger.exception("clearing: sending message %s failed", message_id)
                    self._outcome(error)
                else:
                    self._outcome(None)


def transfers_deliver(peer_id: int, message_ids: list[int]) -> str:
    """The outbox job: post the pending transfers among `message_ids` to the peer, at most
    CLEARING_MAX_IN_FLIGHT at a time; raises while some have no answer (tried again)."""
    peer = Peer.objects.get(pk=peer_id)
    pending = Message.objects.filter(pk__in=message_ids, status=Message.Status.PENDING)
    todo = list(pending.order_by("pk").values_list("pk", flat=True))
    if not todo:
        return "settled already"
    round_ = _Round(peer, todo)
    round_.run()
    left = pending.count()
    if left:
        raise transport.TransportError(
            f"{left} of {len(todo)} transfers to {peer.bic} have no answer yet"
            f" ({round_.last_error or 'no sending slot free'})"
        )
    return f"{len(todo)} answered"
