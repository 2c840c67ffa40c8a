"""An account's statement for a period, in the three shapes it is offered: camt.053, CSV, JSON.

The API, the dashboard and `manage.py statement_export` all call `write_camt`,
`statement_csv` or `statement_json`: one implementation each, streamed from the ledger.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import BinaryIO
from uuid import UUID

from django.utils import timezone

from accounts.ledger import money
from accounts.models import Account
from common.csvsafe import csv_lines
from statements import selectors
from statements.camt053 import DEFAULT_VERSION, Batches, write_camt053
from statements.selectors import Line, Period

FORMATS = ("camt.053", "csv", "json")


def write_camt(
    out: BinaryIO, *, account: Account, span: Period, version: str = DEFAULT_VERSION
) -> None:
    bookings = selectors.batch_bookings(account, span)

    def lines(grouped: frozenset[UUID]) -> Iterator[Line]:
        booked_apart = set().union(*(bookings[batch_id].entry_ids for batch_id in grouped))
        return selectors.lines(account, span, except_entries=booked_apart)

    write_camt053(
        out,
        version=version,
        message_id=f"STMT-{uuid.uuid4().hex[:30]}",
        created_at=timezone.now(),
        account=account,
        span=span,
        balances=selectors.balances(account, span),
        lines=lines,
        batches=Batches(
            bookings=bookings,
            blocks=lambda batch_id: selectors.block_totals(account, batch_id),
            lines=lambda batch_id: selectors.batch_lines(account, span, bookings[batch_id]),
        ),
    )


CSV_COLUMNS = [
    "type",  # OPBD, entry, CLBD, CLAV
    "booked_at",
    "entry",
    "credit_debit",
    "amount",
    "currency",
    "balance_after",
    "kind",
    "end_to_end_id",
    "message_id",
    "payment_information_id",
    "instruction_id",
    "payment",
    "counterparty_account",
    "counterparty_name",
    "reference",
]


def _major(minor: int, currency: str) -> str:
    return money.to_major(abs(minor), currency)


def _sign(minor: int) -> str:
    return "DBIT" if minor < 0 else "CRDT"


def statement_csv(*, account: Account, span: Period) -> Iterator[str]:
    balances = selectors.balances(account, span)
    currency = account.currency

    def balance(code: str, minor: int, day: str) -> list:
        return [code, day, "", _sign(minor), _major(minor, currency), currency]

    def rows() -> Iterator[list]:
        yield balance("OPBD", balances.opening_booked, span.first_day.isoformat())
        for line in selectors.lines(account, span):
            yield [
                "entry",
                line.booked_at.isoformat(),
                line.entry_id,
                _sign(line.amount),
                _major(line.amount, currency),
                currency,
                money.to_major(line.balance_after, currency),
                line.kind,
                line.end_to_end_id,
                line.message_id,
                line.payment_information_id,
                line.instruction_id,
                line.payment_id or "",
                line.counterparty_account,
                line.counterparty_name,
                line.reference,
            ]
        yield balance("CLBD", balances.closing_booked, span.last_day.isoformat())
        yield balance("CLAV", balances.closing_available, span.last_day.isoformat())

    return csv_lines(CSV_COLUMNS, rows())


def _entry_json(line: Line, currency: str) -> dict:
    return {
        "entry": line.entry_id,
        "booked_at": line.booked_at.isoformat(),
        "credit_debit": _sign(line.amount),
        "amount": _major(line.amount, currency),
        "balance_after": money.to_major(line.balance_after, currency),
        "kind": line.kind,
        "end_to_end_id": line.end_to_end_id or None,
        "message_id": line.message_id or None,
        "payment_information_id": line.payment_information_id or None,
        "instruction_id": line.instruction_id or None,
        "uetr": line.uetr or None,
        "payment": str(line.payment_id) if line.payment_id else None,
        "batch": str(line.batch_id) if line.batch_id else None,
        "counterparty_account": line.counterparty_account or None,
        "counterparty_name": line.counterparty_name or None,
        "reference": line.reference,
    }


def statement_json(*, account: Account, span: Period) -> Iterator[str]:
    """The statement as one JSON object, produced a line at a time."""
    balances = selectors.balances(account, span)
    currency = account.currency
    head = {
        "account": account.number,
        "currency": currency,
        "from": span.first_day.isoformat(),
        "to": span.last_day.isoformat(),
        "opening_booked": money.to_major(balances.opening_booked, currency),
        "closing_booked": money.to_major(balances.closing_booked, currency),
        "closing_available": money.to_major(balances.closing_available, currency),
    }
    yield json.dumps(head)[:-1] + ', "entries": ['
    separator = "\n"
    for line in selectors.lines(account, span):
        yield separator + json.dumps(_entry_json(line, currency))
        separator = ",\n"
    yield "\n]}\n"
