"""Validation: parse the file, check every row against the accounts, store the rows by
COPY with their flags, count the totals the approver signs off."""

from __future__ import annotations

import hashlib
import heapq
import json
import statistics
from array import array
from datetime import UTC, date, datetime
from typing import BinaryIO, cast
from uuid import UUID

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from accounts.ledger import currency as iso4217
from accounts.ledger import money
from accounts.ledger.errors import (
    InvalidAmount,
    UnknownCurrency,
    ZeroAmount,
)
from accounts.models import Account
from batches import addressing, notifications, parsers, payee_screening
from batches.fields import ISO_ROW_FIELDS, iso_values
from batches.models import Batch, BatchItem
from batches.services import integrity, network, payee_verification
from batches.services.base import lock
from batches.services.duplicates import flag_rows
from common.db import bulk
from payments import instant_limits, lookups

ROW_CHUNK = 5000
ANALYZE_FROM_ROWS = 10_000


ITEM_COLUMNS = [
    "batch_id",
    "row",
    "creditor_account_number",
    "creditor_account_id",
    "debtor_account_id",
    "creditor_name",
    "amount_text",
    "amount",
    "currency",
    "reference",
    "end_to_end_id",
    "execution_date",
    "payment_information_id",
    "status",
    "error_code",
    "error_message",
    "execution_datetime",
    "block",
    *ISO_ROW_FIELDS,
    *addressing.ROW_FIELDS,
    "flags",
    "clearing",
]


class _Target:
    """What validation needs of an account: a row of values, not a model instance."""

    __slots__ = ("id", "number", "status", "currency")

    def __init__(self, id, number, status, currency):  # noqa: A002 - the column's name
        self.id, self.number, self.status, self.currency = id, number, status, currency


class _Checked:
    __slots__ = ("row", "debtor", "creditor", "peer_bic", "amount", "code", "message")

    def __init__(self, row: parsers.ParsedRow):
        self.row = row
        self.debtor: _Target | None = None
        self.creditor: _Target | None = None
        self.peer_bic = ""  # the bank that serves a creditor account the hub does not hold
        self.amount: int | None = None
        self.code = ""
        self.message = ""

    def values(self, batch_id: UUID, flags: int) -> tuple:
        row = self.row
        return (
            batch_id,
            row.row,
            row.creditor_account,
            self.creditor.id if self.creditor else None,
            self.debtor.id if self.debtor and row.debtor_account else None,
            row.creditor_name,
            row.amount,
            self.amount,
            row.currency,
            row.reference,
            row.end_to_end_id,
            row.execution_date,
            row.payment_information_id,
            BatchItem.Status.INVALID if self.code else BatchItem.Status.VALID,
            self.code,
            self.message[:500],
            _aware(row.execution_datetime),
            row.block,
            *iso_values(row),
            *addressing.copy_values(row),
            flags,
            json.dumps({"peer_bic": self.peer_bic}) if self.peer_bic else None,
        )


def _aware(moment: datetime | None) -> datetime | None:
    # An ISODateTime without an offset is the sender's local time, which the file does not
    # say; it is kept as UTC, the same convention as the API's time filters.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _targets(**filters) -> dict[str, _Target]:
    """Customer accounts only: a row naming a system account finds no account (AC01)."""
    return {
        number: _Target(id_, number, status, currency)
        for id_, number, status, currency in Account.objects.filter(
            kind=Account.Kind.CUSTOMER, **filters
        ).values_list("id", "number", "status", "currency")
    }


class _RowChecker:
    """Checks rows against the accounts, a chunk at a time (one query per chunk)."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.seen_end_to_end: set[str] = set()
        self.debtors: dict[str, _Target | None] = {}
        self.instant_limits = instant_limits.PerPaymentLimits()
        self.addresses = addressing.AddressRule()
        if batch.debtor_account_id:
            account = batch.debtor_account
            assert account is not None  # its id is set
            self.default_debtor: _Target | None = _Target(
                account.id, account.number, account.status, account.currency
            )
        else:
            self.default_debtor = None

    def debtor(self, number: str) -> _Target | None:
        if number not in self.debtors:
            self.debtors[number] = _targets(number=number, merchant=self.batch.merchant).get(number)
        return self.debtors[number]

    def check(self, rows: list[parsers.ParsedRow]) -> list[_Checked]:
        creditors = _targets(number__in={row.creditor_account for row in rows})
        peers = network.serving_peers({row.creditor_account for row in rows} - creditors.keys())
        checked = []
        for row in rows:
            item = _Checked(row)
            item.debtor = (
                self.debtor(row.debtor_account) if row.debtor_account else self.default_debtor
            )
            item.creditor = creditors.get(row.creditor_account)
            item.peer_bic = peers.get(row.creditor_account, "")
            item.code, item.message = self._problem(item)
            checked.append(item)
        return checked

    def _problem(self, item: _Checked) -> tuple[str, str]:
        row, debtor, creditor = item.row, item.debtor, item.creditor
        if row.problem:
            return "FF01", row.problem
        if debtor is None:
            return "AC01", f"the debtor account {row.debtor_account!r} is not one of yours"
        if not iso4217.is_known(row.currency):
            return "AM03", f"{row.currency!r} is not an ISO 4217 currency"
        if row.transfer_currency and row.transfer_currency != row.currency:
            # EqvtAmt: debit Amt in the debtor's currency, credit it converted to CcyOfTrf.
            # The hub books one currency per payment and converts nothing.
            return "AM03", (
                f"EqvtAmt asks for {row.amount} {row.currency} to be transferred in"
                f" {row.transfer_currency}; this hub does not convert currencies"
            )
        try:
            item.amount = money.to_minor(row.amount, row.currency)
        except ZeroAmount:
            return "AM01", "the amount is zero"
        except (InvalidAmount, UnknownCurrency) as error:
            return "AM02", f"amount {row.amount!r}: {error.detail}"
        end_to_end = row.end_to_end_id
        if end_to_end and end_to_end != "NOTPROVIDED":
            if end_to_end in self.seen_end_to_end:
                return "AM05", f"end_to_end_id {end_to_end!r} repeats an earlier row"
            self.seen_end_to_end.add(end_to_end)
        if row.currency != debtor.currency:
            return "AM03", f"the debtor account holds {debtor.currency}, not {row.currency}"
        if debtor.status == Account.Status.FROZEN:
            return "AC06", f"the debtor account {debtor.number} is frozen"
        if debtor.status == Account.Status.CLOSED:
            return "AC04", f"the debtor account {debtor.number} is closed"
        if limit_problem := self.instant_limits.problem(debtor.id, item.amount, row.currency):
            return limit_problem
        if refusal := self.addresses.refusal(row, held_here=creditor is not None):
            return refusal
        if creditor is None:
            if item.peer_bic:  # another bank's customer: that bank checks the account
                return network.external_problem(debtor.number)
            return "AC01", network.unknown_creditor(row.creditor_account)
        if creditor.status == Account.Status.CLOSED:
            return "AC04", f"the creditor account {creditor.number} is closed"
        if creditor.status == Account.Status.FROZEN:
            return "AC06", f"the creditor account {creditor.number} is frozen"
        if creditor.currency != row.currency:
            return "AM03", f"the creditor account holds {creditor.currency}, not {row.currency}"
        if creditor.id == debtor.id:
            return "AC01", "the creditor account is the debtor account"
        return "", ""


def _reject_file(batch: Batch, code: str, message: str) -> Batch:
    BatchItem.objects.filter(batch=batch).delete()
    batch.status = Batch.Status.INVALID
    batch.error_code = code
    batch.error_message = message[:500]
    batch.item_count = batch.valid_count = batch.invalid_count = 0
    batch.total_amount = 0
    batch.valid_totals = []
    batch.validated_at = timezone.now()
    batch.save()
    return batch


@transaction.atomic(durable=True)
def batch_validate(*, batch_id: UUID) -> Batch:
    """Parse and check the file; rows that fail keep their reason, the rest go on.

    One transaction: a worker killed part-way leaves nothing behind, and the
    job simply runs again.
    """
    structlog.contextvars.bind_contextvars(batch_id=str(batch_id))
    batch = lock(batch_id)
    if batch.status not in (Batch.Status.UPLOADED, Batch.Status.VALIDATING):
        return batch
    BatchItem.objects.filter(batch=batch).delete()
    stored = _Stored(batch)
    try:
        with batch.file.open("rb") as stream:
            # Opened "rb": a binary stream (the stubs type a FieldFile as File[Any]).
            binary = cast(BinaryIO, stream)
            parser = parsers.detect(binary.read(parsers.base.HEAD_SIZE))
            binary.seek(0)
            # Known before the header is read, so a file refused in its GrpHdr is still
            # reported as what it is.
            batch.format = parser.format
            parsed = parser.parse(binary, max_rows=settings.BATCH_MAX_ROWS)
            header = parsed.header
            batch.format = header.format
            batch.message_id = header.message_id[:35]
            batch.message_created_at = header.created_at[:40]
            batch.declared_count = header.declared_count
            batch.declared_control_sum = header.declared_control_sum_text[:40]
            if (
                batch.message_id
                and Batch.objects.filter(merchant=batch.merchant, message_id=batch.message_id)
                .exclude(pk=batch.pk)
                .exclude(status__in=Batch.REUSABLE)
                .exists()
            ):
                batch.duplicate_of = (
                    Batch.objects.filter(merchant=batch.merchant, message_id=batch.message_id)
                    .exclude(pk=batch.pk)
                    .exclude(status__in=Batch.REUSABLE)
                    .order_by("created_at")
                    .first()
                )
                return _reject_file(batch, "DUPL", f"MsgId {batch.message_id!r} was used before")
            chunk: list[parsers.ParsedRow] = []
            for row in parsed:
                chunk.append(row)
                if len(chunk) >= ROW_CHUNK:
                    stored.add(chunk)
                    chunk = []
            if chunk:
                stored.add(chunk)
    except parsers.FileRejected as rejected:
        return _reject_file(batch, rejected.code, rejected.message)
    if stored.items == 0:
        return _reject_file(batch, "FF01", "the file holds no transactions")
    if stored.valid == 0:
        return _nothing_to_pay(batch, stored.items)
    if stored.items >= ANALYZE_FROM_ROWS:
        # As after any bulk load: the planner learns the rows this transaction added (its
        # own rows are sampled too, and the statistics commit with them). Without it, and
        # with no autovacuum to catch up, the batch page sorted all 100,000 rows of the
        # batch for its first page of 100, thinking the batch had 28.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE batches_batchitem")
    totals = stored.totals
    batch.item_count = stored.items
    batch.valid_count = stored.valid
    batch.invalid_count = stored.items - stored.valid
    batch.currency = next(iter(totals)) if len(totals) == 1 else ""
    batch.total_amount = sum(totals.values()) if len(totals) == 1 else 0
    batch.largest_amount = stored.largest_amount if len(totals) == 1 else 0
    batch.valid_totals = stored.valid_totals()
    latest_date = stored.latest_date
    if batch.execution_date is None or (latest_date and latest_date > batch.execution_date):
        batch.execution_date = latest_date
    # The same payments, whatever the bytes (line endings, BOM, header case, blank lines,
    # 1.0 for 1.00, row order): a second copy of a batch that can still pay is DUPL.
    batch.content_sha256 = hashlib.sha256("\n".join(sorted(stored.canonical)).encode()).hexdigest()
    earlier = (
        Batch.objects.filter(merchant=batch.merchant, content_sha256=batch.content_sha256)
        .exclude(pk=batch.pk)
        .exclude(status__in=Batch.REUSABLE)
        .order_by("created_at")
        .first()
    )
    if earlier is not None:
        batch.duplicate_of = earlier
        return _reject_file(
            batch,
            "DUPL",
            f"the same payments as batch {earlier.file_name} ({earlier.pk}), "
            f"uploaded {timezone.localtime(earlier.created_at):%Y-%m-%d %H:%M}",
        )
    batch.flag_counts = flag_rows(
        batch, largest_rows=stored.outliers(), new_payees=stored.new_payees
    )
    if sanctions := payee_screening.screen_payees(batch):
        batch.flag_counts["sanctions"] = sanctions
    batch.flag_counts.update(payee_verification.verify_rows(batch))
    batch.validated_sha256 = stored.approval_digest.hexdigest()
    batch.status = Batch.Status.AWAITING_APPROVAL
    batch.validated_at = timezone.now()
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError:
        return _reject_file(
            batch, "DUPL", "the same file, MsgId or payments was accepted at the same moment"
        )
    notifications.batch_awaits_approval(batch)
    return batch


def _nothing_to_pay(batch: Batch, rows: int) -> Batch:
    """Every row is invalid: nothing to approve. The rows stay, with their reasons, for the
    reports and failed.csv; the batch ends invalid with the rows' most common reason."""
    common = (
        BatchItem.objects.filter(batch=batch)
        .values("error_code")
        .annotate(n=Count("id"))
        .order_by("-n", "error_code")
        .first()
    )
    batch.status = Batch.Status.INVALID
    batch.error_code = (common["error_code"] if common else "") or "NARR"
    batch.error_message = f"no row can be paid: all {rows} rows are invalid (see each row's reason)"
    batch.item_count = batch.invalid_count = rows
    batch.valid_count = 0
    batch.total_amount = 0
    batch.valid_totals = []
    batch.validated_at = timezone.now()
    batch.save()
    return batch


def _canonical(item: _Checked) -> str:
    """A row as the payment it asks for, not as the file wrote it."""
    row = item.row
    amount = str(item.amount) if item.amount is not None else row.amount.strip()
    return "|".join(
        (
            row.creditor_account.strip().upper(),
            amount,
            row.currency.strip().upper(),
            row.reference.strip(),
            row.end_to_end_id.strip(),
        )
    )


class _Stored:
    """What validation learns while it stores the rows, a chunk at a time.

    The rows go in by COPY with their new-payee flag already set (one look-up per chunk
    of the debtor/creditor pairs not seen yet), and the largest rows are kept as they
    stream by: no statement has to rewrite the batch's 100,000 rows afterwards.
    """

    def __init__(self, batch: Batch):
        self.checker = _RowChecker(batch)
        self.batch_id = batch.pk
        self.approval_digest = integrity.start(batch.file_sha256)
        self.items = 0
        self.valid = 0
        self.new_payees = 0
        self.totals: dict[str, int] = {}
        # (debtor number, currency) -> [count, total, largest] of the valid rows
        self.by_debtor: dict[tuple[str, str], list[int]] = {}
        # (debtor number, currency, creditor id) -> what the batch pays that payee: rows to
        # one payee count together towards the approval rule (no split under a threshold).
        self.by_payee: dict[tuple[str, str, UUID | str], int] = {}
        self.latest_date: date | None = None
        self.canonical: list[str] = []
        # Per currency, (amount, -row) of the largest valid rows: a min-heap of
        # BATCH_LARGEST_ROWS, the candidates for the "largest" flag; and every valid amount,
        # for the median that says which of them stand out (`outliers`).
        self.largest: dict[str, list[tuple[int, int]]] = {}
        self.amounts: dict[str, array[int]] = {}
        self.paid_before: dict[tuple[UUID, UUID], bool] = {}  # (debtor, creditor) pairs
        self.external_payees = network.ExternalPayees()  # (debtor, IBAN at another bank)

    def valid_totals(self) -> list[dict]:
        payee_largest: dict[tuple[str, str], int] = {}
        for (debtor, currency, _), total in self.by_payee.items():
            if total > payee_largest.get((debtor, currency), 0):
                payee_largest[(debtor, currency)] = total
        return [
            {
                "debtor": debtor,
                "currency": currency,
                "count": count,
                "total": total,
                "largest": top,
                "largest_payee": payee_largest.get((debtor, currency), top),
            }
            for (debtor, currency), (count, total, top) in sorted(self.by_debtor.items())
        ]

    @property
    def largest_amount(self) -> int:
        return max((max(heap)[0] for heap in self.largest.values() if heap), default=0)

    def outliers(self) -> list[int]:
        """The rows flagged "largest": of each currency's BATCH_LARGEST_ROWS largest rows,
        those above BATCH_OUTLIER_FACTOR times the median of that currency's valid rows.

        An approver reads the flag as "this one stands out": a payroll of 48 salaries of
        about 300 EUR has none, a 5,000 EUR row among them is flagged. The top N alone
        flagged 10 of 48 ordinary rows, and every row of a small file.
        """
        factor = settings.BATCH_OUTLIER_FACTOR
        rows: list[int] = []
        for currency, heap in self.largest.items():
            median = statistics.median_low(self.amounts[currency])
            rows.extend(-row for amount, row in heap if amount > factor * median)
        return sorted(rows)

    def add(self, chunk: list[parsers.ParsedRow]) -> None:
        checked = self.checker.check(chunk)
        self._learn_pairs(checked)
        self.external_payees.learn(
            (item.debtor.id, item.row.creditor_account, item.peer_bic)
            for item in checked
            if not item.code and item.debtor is not None and item.peer_bic
        )
        keep = settings.BATCH_LARGEST_ROWS
        values = []
        for item in checked:
            self.canonical.append(_canonical(item))
            self.items += 1
            if item.code:
                values.append(item.values(self.batch_id, 0))
                continue
            row = item.row
            amount = cast(int, item.amount)
            debtor, creditor = cast(_Target, item.debtor), item.creditor
            # A row to another bank's customer is known by its IBAN (network.py).
            payee = creditor.id if creditor else row.creditor_account
            self.valid += 1
            self.totals[row.currency] = self.totals.get(row.currency, 0) + amount
            key = (debtor.number, row.currency, payee)
            self.by_payee[key] = self.by_payee.get(key, 0) + amount
            line = self.by_debtor.get((debtor.number, row.currency))
            if line is None:
                self.by_debtor[(debtor.number, row.currency)] = [1, amount, amount]
            else:
                line[0] += 1
                line[1] += amount
                if amount > line[2]:
                    line[2] = amount
            heap = self.largest.setdefault(row.currency, [])
            self.amounts.setdefault(row.currency, array("q")).append(amount)
            if len(heap) < keep:
                heapq.heappush(heap, (amount, -row.row))
            elif keep and (amount, -row.row) > heap[0]:
                heapq.heapreplace(heap, (amount, -row.row))
            flags = 0
            if (
                not self.paid_before[(debtor.id, creditor.id)]
                if creditor is not None
                else not self.external_payees.paid_before(debtor.id, row.creditor_account)
            ):
                flags = BatchItem.FLAG_NEW_PAYEE
                self.new_payees += 1
            values.append(item.values(self.batch_id, flags))
            self.approval_digest.update(
                integrity.row_line(row.row, debtor.id, payee, amount, row.currency)
            )
            if row.execution_date and (
                self.latest_date is None or row.execution_date > self.latest_date
            ):
                self.latest_date = row.execution_date
        bulk.copy(BatchItem, ITEM_COLUMNS, values)

    def _learn_pairs(self, checked: list[_Checked]) -> None:
        """Which of the chunk's new (debtor, creditor) pairs were paid before: one query."""
        pairs = {
            (item.debtor.id, item.creditor.id)
            for item in checked
            if not item.code and item.debtor is not None and item.creditor is not None
        }
        unknown = sorted(pairs - self.paid_before.keys())
        if not unknown:
            return
        paid = lookups.paid_pairs(unknown)
        self.paid_before.update(dict.fromkeys(unknown, False))
        self.paid_before.update(dict.fromkeys(paid, True))
