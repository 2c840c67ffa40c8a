"""A year's worth of back-office data in minutes: payments, refunds, holds, batches with
their rows, written straight into PostgreSQL with COPY, and the balanced ledger under them
written by the ledger's own history code (accounts.ledger.posting.history).

This is test data for benchmarks and searches, not a way to move money: it never runs
beside real postings and `verify_ledger` checks what it wrote. Rows are written in time
order, chunk by chunk, each chunk in its own transaction.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection, models, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from accounts.ledger import money, posting
from accounts.ledger.posting.history import History
from accounts.models import Account, Hold, LedgerEntry, LedgerTransaction, Merchant
from batches.models import Batch, BatchItem
from payments.models import Payment, Refund
from payments.services import ACCOUNT_STATE_FAILURES

DAYS = 120
CHUNK = 20_000  # payments per transaction
FUNDING = 10**12  # minor units given to each paying account once, before the first day
BATCH_SHARE = 0.10  # of the payments, paid as rows of batch files
BATCH_ROWS = 100
# (merchant, its currencies); every merchant pays from one account per currency.
MERCHANTS = [
    ("Northwind Supplies", ["EUR", "USD"]),
    ("Contoso Payroll", ["EUR"]),
    ("Fabrikam Retail", ["GBP", "EUR"]),
    ("Tailspin Travel", ["USD", "JPY"]),
    ("Wide World Importers", ["CHF", "EUR"]),
    ("Alpine Ski House", ["SEK"]),
]
PAYEES_PER_CURRENCY = 400
# Status of a real-time payment, by weight (per mille).
STATUSES = [
    (Payment.Status.COMPLETED, 700),
    (Payment.Status.FAILED, 80),
    (Payment.Status.REFUNDED, 50),
    (Payment.Status.PARTIALLY_REFUNDED, 50),
    (Payment.Status.VOIDED, 40),
    (Payment.Status.EXPIRED, 40),
    (Payment.Status.AUTHORIZED, 39),
    (Payment.Status.CREATED, 1),
]
WORDS = ["Supplier", "Invoice", "Order", "Payroll", "Rent", "Refund", "Subscription", "Freight"]
FAILURES = [(error.code, error.__doc__ or error.code) for error in ACCOUNT_STATE_FAILURES]
FROZEN = next(failure for failure in FAILURES if failure[0] == "account_frozen")


@dataclass
class Seeded:
    payments: int = 0
    entries: int = 0
    batches: int = 0
    transactions: int = 0


@dataclass
class _Rows:
    """One chunk's rows, per table, as dicts of column values."""

    payments: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)


def _columns(model: type[models.Model], row: dict[str, Any]) -> list[models.Field]:
    """The model's concrete columns to write: all but an auto primary key not given."""
    fields = []
    for f in model._meta.concrete_fields:
        if f.primary_key and isinstance(f, models.AutoField) and f.attname not in row:
            continue
        fields.append(f)
    return fields


def _copy(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """COPY `rows` into the model's table; a column a row leaves out gets the field's
    default (so columns added by later migrations need no change here)."""
    if not rows:
        return
    fields = _columns(model, rows[0])
    defaults = {f.attname: f.get_default() for f in fields}
    quote = connection.ops.quote_name
    sql = (
        f"COPY {quote(model._meta.db_table)} "
        f"({', '.join(quote(cast(str, f.column)) for f in fields)}) FROM STDIN"
    )
    names = [f.attname for f in fields]
    # COPY adapts each value by its Python type; a JSON column's dict or list says so.
    as_json = {f.attname for f in fields if isinstance(f, models.JSONField)}
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            values = [row[name] if name in row else defaults[name] for name in names]
            copy.write_row(
                [
                    Jsonb(value) if name in as_json and value is not None else value
                    for name, value in zip(names, values, strict=True)
                ]
            )


def _open_accounts() -> tuple[dict[str, list[Account]], dict[str, list[Account]]]:
    """The merchants' paying accounts and the payees' accounts, by currency."""
    payers: dict[str, list[Account]] = {}
    payees: dict[str, list[Account]] = {}
    prefix = uuid.uuid4().hex[:6].upper()  # a second seed into the same database adds to it
    for index, (name, currencies) in enumerate(MERCHANTS):
        merchant = Merchant.objects.create(
            name=f"{name} {prefix}", webhook_secret=f"whsec_volume{prefix}{index}"
        )
        for currency in currencies:
            payers.setdefault(currency, []).append(
                Account.objects.create(
                    number=f"VOL{prefix}M{index}{currency}",
                    name=f"{name} {currency}",
                    currency=currency,
                    merchant=merchant,
                )
            )
    for currency in payers:
        posting.funding_account(currency)
        payees[currency] = list(
            Account.objects.bulk_create(
                Account(
                    number=f"VOL{prefix}P{currency}{n:05d}",
                    name=f"Payee {n} {currency}",
                    currency=currency,
                )
                for n in range(PAYEES_PER_CURRENCY)
            )
        )
    return payers, payees


def seed(*, payments: int, seed_value: int = 13, now: datetime | None = None) -> Seeded:
    """Write `payments` payments over the DAYS days before `now`, with their ledger."""
    rng = random.Random(seed_value)
    now = now or timezone.now()
    start = now - timedelta(days=DAYS)
    with transaction.atomic():
        payers, payees = _open_accounts()
    funding = {c: posting.funding_account(c) for c in payers}
    all_accounts = [a for group in (*payers.values(), *payees.values()) for a in group]
    ledger = History([*all_accounts, *funding.values()])
    currencies = list(payers)
    # The first paying account of the first currency is the busy one: its statement has
    # about a tenth of all the entries (the benchmark's "account with 100,000 entries").
    busy = payers[currencies[0]][0]
    merchant_of = {a.pk: a.merchant_id for a in all_accounts}
    done = Seeded()

    with transaction.atomic():
        rows = _Rows()
        paying = [account for currency in currencies for account in payers[currency]]
        ledger.reserve(transactions=len(paying))
        for account in paying:
            ledger.transfer(
                kind=LedgerTransaction.Kind.FUNDING,
                debtor=funding[account.currency].pk,
                creditor=account.pk,
                amount=FUNDING,
                currency=account.currency,
                reference="volume seed funding",
                description="",
                at=start - timedelta(days=1),
            )
        _write(rows, ledger, done)

    statuses = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    ttl = timedelta(days=7)
    batch_left = 0
    batch: dict[str, Any] | None = None
    serial = 0
    for chunk_start in range(0, payments, CHUNK):
        count = min(CHUNK, payments - chunk_start)
        low = start + (now - start) * chunk_start / payments
        high = start + (now - start) * (chunk_start + count) / payments
        span = (high - low).total_seconds()
        times = sorted(low + timedelta(seconds=rng.random() * span) for _ in range(count))
        rows = _Rows()
        # At most: a transfer and a refund per payment, and the hold of an authorization.
        ledger.reserve(transactions=2 * count, holds=count)
        for at in times:
            serial += 1
            if batch_left == 0 and rng.random() < BATCH_SHARE / BATCH_ROWS:
                batch_left = BATCH_ROWS
                batch = None
            if batch_left and batch is not None:
                currency = batch["currency"]
            else:
                currency = busy.currency if rng.random() < 0.1 else rng.choice(currencies)
            debtor = (
                busy
                if currency == busy.currency and rng.random() < 0.35
                else rng.choice(payers[currency])
            )
            creditor = rng.choice(payees[currency])
            amount = rng.choice(
                [
                    rng.randint(100, 5_000),
                    rng.randint(5_000, 200_000),
                    rng.randint(200_000, 5_000_000),
                ]
            )
            if currency == "JPY":  # no minor unit
                amount = max(1, amount // 100)
            word = WORDS[serial % len(WORDS)]
            reference = f"{word} INV-{at:%Y}-{serial:07d}"
            end_to_end_id = f"E2E-{at:%m%d}-{serial:09d}"
            payment_id = uuid.uuid4()
            payment: dict[str, Any] = {
                "id": payment_id,
                "merchant_id": merchant_of[debtor.pk],
                "debtor_account_id": debtor.pk,
                "creditor_account_id": creditor.pk,
                "amount": amount,
                "currency": currency,
                "captured_amount": 0,
                "refunded_amount": 0,
                "reference": reference,
                "end_to_end_id": end_to_end_id,
                "authorization_code": "",
                "expires_at": None,
                "failure_code": "",
                "failure_message": "",
                "hold_id": None,
                "ledger_transaction_id": None,
                "api_key_id": None,
                "batch_id": None,
                "batch_row": None,
                "created_at": at,
                "updated_at": at,
            }
            if batch_left:
                if batch is None:
                    batch = _new_batch(rows, debtor, currency, at, serial)
                debtor_id = batch["debtor_account_id"]
                payment["debtor_account_id"] = debtor_id
                payment["merchant_id"] = batch["merchant_id"]
                batch_left -= 1
                row_number = BATCH_ROWS - batch_left
                failed = rng.random() < 0.03
                payment["batch_id"] = batch["id"]
                payment["batch_row"] = row_number
                payment["reference"] = f"Payroll {at:%B} row {row_number} INV-{serial:07d}"
                if failed:
                    payment["status"] = Payment.Status.FAILED
                    payment["failure_code"], payment["failure_message"] = FROZEN
                else:
                    txn = ledger.transfer(
                        kind=LedgerTransaction.Kind.TRANSFER,
                        debtor=debtor_id,
                        creditor=creditor.pk,
                        amount=amount,
                        currency=currency,
                        reference=payment["reference"],
                        description=f"batch {batch['id']} row {row_number}",
                        at=at,
                    )
                    payment.update(
                        status=Payment.Status.COMPLETED,
                        captured_amount=amount,
                        ledger_transaction_id=txn,
                    )
                rows.items.append(
                    {
                        "batch_id": batch["id"],
                        "row": row_number,
                        "creditor_account_number": creditor.number,
                        "creditor_account_id": creditor.pk,
                        "creditor_name": creditor.name,
                        "amount_text": money.to_major(amount, currency),
                        "amount": amount,
                        "currency": currency,
                        "reference": payment["reference"],
                        "end_to_end_id": end_to_end_id,
                        "status": BatchItem.Status.FAILED if failed else BatchItem.Status.PAID,
                        "error_code": "AC06" if failed else "",
                        "error_message": "frozen (blocked) account" if failed else "",
                        "payment_id": payment_id,
                    }
                )
                batch["item_count"] += 1
                batch["valid_count"] += 1
                batch["total_amount"] += amount
                batch["processed_count"] += 1
                batch["failed_count" if failed else "succeeded_count"] += 1
                if failed:
                    batch["status"] = Batch.Status.COMPLETED_WITH_ERRORS
                batch["finished_at"] = at
                batch["updated_at"] = at
                rows.payments.append(payment)
                continue

            status = rng.choices(statuses, weights)[0]
            payment["status"] = status
            if status == Payment.Status.FAILED:
                payment["failure_code"], payment["failure_message"] = rng.choice(FAILURES)
            elif status == Payment.Status.CREATED:
                pass
            elif status in (
                Payment.Status.AUTHORIZED,
                Payment.Status.VOIDED,
                Payment.Status.EXPIRED,
            ):
                if status == Payment.Status.AUTHORIZED and at < now - ttl:
                    status = payment["status"] = Payment.Status.EXPIRED
                active = status == Payment.Status.AUTHORIZED
                hold_id = ledger.hold(
                    account=debtor.pk,
                    amount=amount,
                    currency=currency,
                    reference=reference,
                    at=at,
                    closed_at=None
                    if active
                    else min(at + timedelta(hours=rng.randint(1, 160)), now),
                )
                payment.update(
                    hold_id=hold_id,
                    authorization_code=f"A{serial % 10**5:05d}",
                    expires_at=at + ttl,
                )
            else:
                txn = ledger.transfer(
                    kind=LedgerTransaction.Kind.TRANSFER,
                    debtor=debtor.pk,
                    creditor=creditor.pk,
                    amount=amount,
                    currency=currency,
                    reference=reference,
                    description=f"payment {payment_id}",
                    at=at,
                )
                payment.update(
                    captured_amount=amount,
                    ledger_transaction_id=txn,
                    authorization_code=f"A{serial % 10**5:05d}",
                )
                if status in (Payment.Status.REFUNDED, Payment.Status.PARTIALLY_REFUNDED):
                    refund = (
                        amount
                        if status == Payment.Status.REFUNDED or amount < 2
                        else rng.randint(1, amount - 1)
                    )
                    refund_at = at + timedelta(minutes=rng.randint(1, 90))
                    refund_txn = ledger.transfer(
                        kind=LedgerTransaction.Kind.REFUND,
                        debtor=creditor.pk,
                        creditor=debtor.pk,
                        amount=refund,
                        currency=currency,
                        reference=reference,
                        description=f"refund of payment {payment_id}",
                        at=refund_at,
                        reverses=None,  # as posting.reverse: only a full reversal links
                    )
                    rows.refunds.append(
                        {
                            "id": uuid.uuid4(),
                            "payment_id": payment_id,
                            "amount": refund,
                            "currency": currency,
                            "reason": rng.choice(["damaged", "returned", "duplicate", "goodwill"]),
                            "ledger_transaction_id": refund_txn,
                            "created_at": refund_at,
                        }
                    )
                    payment.update(refunded_amount=refund, updated_at=refund_at)
            rows.payments.append(payment)
        # A batch ends with its chunk: its row is written with the chunk's counts.
        batch_left, batch = 0, None
        with transaction.atomic():
            _write(rows, ledger, done)
    ledger.store_balances()
    with connection.cursor() as cursor:
        # Rows COPYed into a GIN index wait in its pending list, which the planner costs
        # as if every search had to read it all: merge it into the index proper.
        cursor.execute(
            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
            "WHERE i.indrelid = %s::regclass AND am.amname = 'gin'",
            [Payment._meta.db_table],
        )
        for model in (
            Payment,
            LedgerEntry,
            LedgerTransaction,
            Hold,
            Refund,
            Batch,
            BatchItem,
            Account,
        ):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return done


def _new_batch(
    rows: _Rows, debtor: Account, currency: str, at: datetime, serial: int
) -> dict[str, Any]:
    batch_id = uuid.uuid4()
    digest = hashlib.sha256(batch_id.bytes).hexdigest()
    batch = {
        "id": batch_id,
        "merchant_id": debtor.merchant_id,
        "debtor_account_id": debtor.pk,
        "status": Batch.Status.COMPLETED,
        "file": f"batches/volume/{batch_id}.csv",
        "file_name": f"payroll-{at:%Y-%m-%d}-{serial:07d}.csv",
        "file_size": BATCH_ROWS * 80,
        "file_sha256": digest,
        "format": Batch.Format.CSV,
        "message_id": f"VOL-{at:%Y%m%d}-{serial:07d}",
        "execution_date": at.date(),
        "currency": currency,
        "item_count": 0,
        "valid_count": 0,
        "invalid_count": 0,
        "total_amount": 0,
        "processed_count": 0,
        "succeeded_count": 0,
        "failed_count": 0,
        "validated_sha256": digest,
        "validated_at": at,
        "approved_at": at,
        "started_at": at,
        "finished_at": at,
        "created_at": at - timedelta(hours=2),
        "updated_at": at,
    }
    rows.batches.append(batch)
    return batch


def _write(rows: _Rows, ledger: History, done: Seeded) -> None:
    # Referenced rows first: the foreign keys are checked as each row arrives.
    _copy(Batch, rows.batches)
    transactions, entries = ledger.flush()
    _copy(Payment, rows.payments)
    _copy(Refund, rows.refunds)
    _copy(BatchItem, rows.items)
    done.payments += len(rows.payments)
    done.entries += entries
    done.batches += len(rows.batches)
    done.transactions += transactions
