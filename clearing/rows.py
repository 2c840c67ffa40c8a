"""The rows an instant transfer reads at each hub, through prepared statements.

An interbank payment runs these on every transfer, at the sending hub and at the receiving
one; through the ORM each cost as much Python as the rest of its work (the query compiled
anew every time). Here each is one prepared statement (common/db/pgsql.py) that returns
the model instances the ORM would. What runs once in a while stays on the ORM.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TypeVar

from accounts.models import Account, Merchant
from clearing.models import ClearingAccount, Message, Peer, SeenSignature
from common.db import pgsql
from payments.models import Payment

M = TypeVar("M", Account, Payment)
_ACCOUNT = Account._meta.db_table
_MERCHANT = Merchant._meta.db_table
_MESSAGE = Message._meta.db_table
_PAYMENT = Payment._meta.db_table


def _with_merchant(model: type[M], row: tuple) -> M:
    """An instance of `model` (an Account or a Payment) from the row's first columns, its
    merchant from the rest (all NULL: none), as select_related("merchant") makes them."""
    width = len(model._meta.concrete_fields)
    instance = pgsql.from_row(model, row[:width])
    merchant = pgsql.from_row(Merchant, row[width:]) if row[width] is not None else None
    setattr(instance, "merchant", merchant)  # noqa: B010 - both models have the relation
    return instance


def active_peers() -> list[Peer]:
    """Every active peer, by BIC."""
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Peer)} FROM {Peer._meta.db_table} "  # noqa: S608 - identifiers from model metadata; values are parameters
        "WHERE active ORDER BY bic"
    )
    return [pgsql.from_row(Peer, row) for row in rows]


def clearing_account(peer_id: int, currency: str) -> Account | None:
    """The ledger account of the position with the peer in the currency, if opened."""
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Account, 'a')} FROM {_ACCOUNT} a "  # noqa: S608 - identifiers from model metadata; values are parameters
        f"JOIN {ClearingAccount._meta.db_table} c ON c.account_id = a.id "
        "WHERE c.peer_id = %s AND c.currency = %s",
        [peer_id, currency],
    )
    return pgsql.from_row(Account, rows[0]) if rows else None


def customer_account(numbers: Iterable[str]) -> Account | None:
    """The customer account (its merchant loaded) with one of these numbers; the first by
    number when several match, as the ORM's `.first()` orders accounts."""
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Account, 'a')}, {pgsql.columns(Merchant, 'm')} "  # noqa: S608 - identifiers from model metadata; values are parameters
        f"FROM {_ACCOUNT} a LEFT JOIN {_MERCHANT} m ON m.id = a.merchant_id "
        "WHERE a.number = ANY(%s) AND a.kind = %s ORDER BY a.number LIMIT 1",
        [sorted(set(numbers)), Account.Kind.CUSTOMER.value],
    )
    return _with_merchant(Account, rows[0]) if rows else None


def transfers_received(
    *, peer_id: int, kind: str, uetr: uuid.UUID, msg_id: str
) -> list[tuple[int, uuid.UUID | None, str, bytes | None]]:
    """The peer's transfers already received with this UETR or this MsgId, oldest first:
    (id, UETR, MsgId, the body of the first answer sent to it, or None)."""
    rows = pgsql.execute(
        "SELECT m.id, m.uetr, m.msg_id, "  # noqa: S608 - identifiers from model metadata; values are parameters
        f"(SELECT a.body FROM {_MESSAGE} a WHERE a.answers_id = m.id ORDER BY a.id LIMIT 1) "
        f"FROM {_MESSAGE} m WHERE (m.uetr = %s OR m.msg_id = %s) "
        "AND m.direction = %s AND m.peer_id = %s AND m.kind = %s ORDER BY m.id",
        [uetr, msg_id, Message.Direction.INBOUND.value, peer_id, kind],
    )
    return [
        (pk, row_uetr, row_msg_id, bytes(body) if body is not None else None)
        for pk, row_uetr, row_msg_id, body in rows
    ]


def sent_transfer_locked(*, peer_id: int, kind: str, uetr: uuid.UUID) -> Message | None:
    """The newest transfer sent to the peer with this UETR, locked (FOR UPDATE)."""
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Message)} FROM {_MESSAGE} "  # noqa: S608 - identifiers from model metadata; values are parameters
        "WHERE direction = %s AND peer_id = %s AND kind = %s AND uetr = %s "
        "ORDER BY id DESC LIMIT 1 FOR UPDATE",
        [Message.Direction.OUTBOUND.value, peer_id, kind, uetr],
    )
    return pgsql.from_row(Message, rows[0]) if rows else None


def payment_locked(payment_id: uuid.UUID) -> Payment:
    """The payment, its merchant loaded, locked (FOR UPDATE OF the payment alone)."""
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Payment, 'p')}, {pgsql.columns(Merchant, 'm')} "  # noqa: S608 - identifiers from model metadata; values are parameters
        f"FROM {_PAYMENT} p LEFT JOIN {_MERCHANT} m ON m.id = p.merchant_id "
        "WHERE p.id = %s FOR UPDATE OF p",
        [payment_id],
    )
    if not rows:
        raise Payment.DoesNotExist(f"no payment {payment_id}")
    return _with_merchant(Payment, rows[0])


def signature_first_seen(*, digest: str, peer_id: int) -> bool:
    """Record a signature as seen; False when it was seen before (a replay)."""
    return pgsql.insert_unless_conflict(SeenSignature(digest=digest, peer_id=peer_id))
