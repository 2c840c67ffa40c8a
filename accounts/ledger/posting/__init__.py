"""The double-entry ledger: the only code that moves money or changes a balance.

Every function here runs inside `transaction.atomic`, locks the accounts it
touches with `select_for_update` in ascending primary-key order (so two
postings that share accounts can never deadlock), checks state after the lock,
and writes balanced, append-only entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from accounts.ledger import money
from accounts.ledger.errors import (
    AccountClosed,
    AccountFrozen,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidState,
    LedgerError,
    SameAccount,
)
from accounts.ledger.models import Account, Hold, LedgerEntry, LedgerTransaction
from common.db import bulk, pgsql

FUNDING_OVERDRAFT = 10**15


@dataclass(frozen=True)
class Leg:
    account_id: UUID
    amount: int  # positive credits the account, negative debits it


def lock_accounts(account_ids: Iterable[UUID]) -> dict[UUID, Account]:
    """Lock the accounts in ascending primary-key order and return them by id."""
    ids = sorted(set(account_ids))
    # Rows are locked as the sort emits them: in ascending key order.
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Account)} FROM accounts_account "  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
        "WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        [ids],
    )
    accounts = {account.id: account for account in (pgsql.from_row(Account, row) for row in rows)}
    if len(accounts) != len(ids):
        raise LedgerError("an account of this posting does not exist")
    return accounts


def check_can_send(account: Account) -> None:
    if account.status == Account.Status.FROZEN:
        raise AccountFrozen(f"account {account.number} is frozen")
    if account.status == Account.Status.CLOSED:
        raise AccountClosed(f"account {account.number} is closed")


def check_can_receive(account: Account) -> None:
    check_can_send(account)


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount("a posting amount is a positive whole number of minor units")


def _post(
    *,
    accounts: dict[UUID, Account],
    legs: Sequence[Leg],
    currency: str,
    kind: str,
    reference: str,
    description: str,
    held_release: dict[UUID, int] | None = None,
    reverses: LedgerTransaction | None = None,
) -> LedgerTransaction:
    """Write one balanced transaction on already locked accounts."""
    if sum(leg.amount for leg in legs) != 0 or len(legs) < 2:
        raise LedgerError("a ledger transaction needs two or more legs that sum to zero")
    held_release = held_release or {}
    for account_id, release in held_release.items():
        accounts[account_id].held -= release
    for leg in legs:
        account = accounts[leg.account_id]
        if account.currency != currency:
            raise CurrencyMismatch(
                f"account {account.number} holds {account.currency}, not {currency}"
            )
        account.balance += leg.amount
    for account in accounts.values():
        if account.balance - account.held < -account.overdraft_limit:
            raise InsufficientFunds(f"insufficient funds on account {account.number}")
    txn = LedgerTransaction(
        kind=kind,
        currency=currency,
        amount=sum(leg.amount for leg in legs if leg.amount > 0),
        reference=reference[:140],
        description=description[:255],
        reverses=reverses,
        created_at=timezone.now(),
    )
    _post_in_one_statement(txn, legs, accounts)
    return txn


POST_SQL = """
WITH txn AS (
    INSERT INTO accounts_ledgertransaction
        (kind, currency, amount, reference, description, reverses_id, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    RETURNING id, currency, created_at
), legs AS (
    INSERT INTO accounts_ledgerentry
        (transaction_id, account_id, amount, currency, balance_after, created_at)
    SELECT txn.id, leg.account_id, leg.amount, txn.currency, leg.balance_after, txn.created_at
      FROM txn, unnest(%s::uuid[], %s::bigint[], %s::bigint[])
           AS leg(account_id, amount, balance_after)
), balances AS (
    UPDATE accounts_account AS account
       SET balance = new.balance, held = new.held, updated_at = (SELECT created_at FROM txn)
      FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[]) AS new(id, balance, held)
     WHERE account.id = new.id
)
SELECT id FROM txn
"""


def _post_in_one_statement(
    txn: LedgerTransaction, legs: Sequence[Leg], accounts: dict[UUID, Account]
) -> None:
    """`_post`'s writes: the transaction, its entries and the new balances in one prepared
    statement (one round trip); the balance trigger checks the entries."""
    touched = list(accounts.values())
    ((txn.pk,),) = pgsql.execute(
        POST_SQL,
        [
            txn.kind,
            txn.currency,
            txn.amount,
            txn.reference,
            txn.description,
            txn.reverses_id,
            txn.created_at,
            [leg.account_id for leg in legs],
            [leg.amount for leg in legs],
            [accounts[leg.account_id].balance for leg in legs],
            [account.pk for account in touched],
            [account.balance for account in touched],
            [account.held for account in touched],
        ],
    )
    pgsql.mark_saved(txn)
    for account in touched:
        account.updated_at = txn.created_at


def check_transfer(*, debtor: Account, creditor: Account, amount: int, currency: str) -> None:
    """Raise the refusal a transfer between these locked accounts would meet, if any.

    Lets a caller that holds the locks decide before posting, without a savepoint.
    """
    for account in (debtor, creditor):
        if account.currency != currency:
            raise CurrencyMismatch(
                f"account {account.number} holds {account.currency}, not {currency}"
            )
    check_can_send(debtor)
    check_can_receive(creditor)
    if debtor.balance - debtor.held - amount < -debtor.overdraft_limit:
        raise InsufficientFunds(f"insufficient funds on account {debtor.number}")


def check_hold(*, account: Account, amount: int, currency: str) -> None:
    """Raise the refusal a hold on this locked account would meet, if any."""
    if account.currency != currency:
        raise CurrencyMismatch(f"account {account.number} holds {account.currency}, not {currency}")
    check_can_send(account)
    if account.balance - account.held - amount < -account.overdraft_limit:
        raise InsufficientFunds(f"insufficient funds on account {account.number}")


@transaction.atomic
def transfer(
    *,
    debtor_id: UUID,
    creditor_id: UUID,
    amount: int,
    currency: str,
    kind: str = LedgerTransaction.Kind.TRANSFER,
    reference: str = "",
    description: str = "",
) -> LedgerTransaction:
    """Move `amount` minor units from the debtor's available balance to the creditor."""
    money.check_currency(currency)
    _check_amount(amount)
    if debtor_id == creditor_id:
        raise SameAccount("the debtor and the creditor account must differ")
    return transfer_locked(
        accounts=lock_accounts([debtor_id, creditor_id]),
        debtor_id=debtor_id,
        creditor_id=creditor_id,
        amount=amount,
        currency=currency,
        kind=kind,
        reference=reference,
        description=description,
    )


def transfer_locked(
    *,
    accounts: dict[UUID, Account],
    debtor_id: UUID,
    creditor_id: UUID,
    amount: int,
    currency: str,
    kind: str = LedgerTransaction.Kind.TRANSFER,
    reference: str = "",
    description: str = "",
) -> LedgerTransaction:
    """`transfer` for a caller that already holds both accounts' locks (from
    `lock_accounts`, in its own open transaction): no second lock, no savepoint."""
    if not transaction.get_connection().in_atomic_block:
        raise LedgerError("transfer_locked needs the caller's transaction and locks")
    money.check_currency(currency)
    _check_amount(amount)
    if debtor_id == creditor_id:
        raise SameAccount("the debtor and the creditor account must differ")
    check_transfer(
        debtor=accounts[debtor_id], creditor=accounts[creditor_id], amount=amount, currency=currency
    )
    return _post(
        accounts={debtor_id: accounts[debtor_id], creditor_id: accounts[creditor_id]},
        legs=[Leg(debtor_id, -amount), Leg(creditor_id, amount)],
        currency=currency,
        kind=kind,
        reference=reference,
        description=description,
    )


@transaction.atomic
def place_hold(*, account_id: UUID, amount: int, currency: str, reference: str = "") -> Hold:
    """Set `amount` aside on the account: `held` grows, `available` shrinks, `balance` stays."""
    money.check_currency(currency)
    _check_amount(amount)
    account = lock_accounts([account_id])[account_id]
    check_hold(account=account, amount=amount, currency=currency)
    Account.objects.filter(pk=account.pk).update(
        held=account.held + amount, updated_at=timezone.now()
    )
    return Hold.objects.create(
        account=account, amount=amount, currency=currency, reference=reference[:140]
    )


def _lock_hold(hold_id: int) -> Hold:
    hold = Hold.objects.select_for_update(of=("self",)).get(pk=hold_id)
    if hold.status != Hold.Status.ACTIVE:
        raise InvalidState(f"hold {hold.pk} is already {hold.status}")
    return hold


@transaction.atomic
def release_hold(*, hold_id: int) -> Hold:
    """Give what is still held back to the account's available balance, and close the hold.

    A hold drawn on by `transfer_many` (a batch's) closes as captured, else as released.
    """
    account_id = Hold.objects.values_list("account_id", flat=True).get(pk=hold_id)
    account = lock_accounts([account_id])[account_id]
    hold = _lock_hold(hold_id)
    left = hold.amount - hold.captured_amount - hold.released_amount
    Account.objects.filter(pk=account.pk).update(
        held=account.held - left, updated_at=timezone.now()
    )
    hold.released_amount += left
    hold.status = Hold.Status.CAPTURED if hold.captured_amount else Hold.Status.RELEASED
    hold.closed_at = timezone.now()
    hold.save(update_fields=["status", "released_amount", "closed_at"])
    return hold


@transaction.atomic
def capture_hold(
    *,
    hold_id: int,
    creditor_id: UUID,
    amount: int | None = None,
    reference: str = "",
    description: str = "",
) -> LedgerTransaction:
    """Post `amount` (default: all) of a hold to the creditor and release the rest."""
    account_id = Hold.objects.values_list("account_id", flat=True).get(pk=hold_id)
    if account_id == creditor_id:
        raise SameAccount("the debtor and the creditor account must differ")
    accounts = lock_accounts([account_id, creditor_id])
    hold = _lock_hold(hold_id)
    amount = hold.amount if amount is None else amount
    _check_amount(amount)
    if amount > hold.amount:
        raise InvalidAmount("the capture amount is more than the authorized amount")
    debtor, creditor = accounts[account_id], accounts[creditor_id]
    check_can_send(debtor)
    check_can_receive(creditor)
    txn = _post(
        accounts=accounts,
        legs=[Leg(account_id, -amount), Leg(creditor_id, amount)],
        currency=hold.currency,
        kind=LedgerTransaction.Kind.CAPTURE,
        reference=reference or hold.reference,
        description=description,
        held_release={account_id: hold.amount},
    )
    hold.status = Hold.Status.CAPTURED
    hold.captured_amount = amount
    hold.capture_transaction = txn
    hold.closed_at = timezone.now()
    hold.save(update_fields=["status", "captured_amount", "capture_transaction", "closed_at"])
    return txn


@transaction.atomic
def reverse(
    *,
    transaction_id: int,
    amount: int | None = None,
    kind: str = LedgerTransaction.Kind.REVERSAL,
    reference: str = "",
    description: str = "",
) -> LedgerTransaction:
    """Post the mirror image of a two-legged transaction, in full or in part.

    A full reversal is linked to the original (`reverses`), so it can happen
    once only; partial ones (refunds) are bounded by the caller's bookkeeping.
    """
    original = LedgerTransaction.objects.get(pk=transaction_id)
    if LedgerTransaction.objects.filter(reverses=original).exists():
        raise InvalidState(f"ledger transaction {original.pk} is already reversed")
    legs = list(original.entries.values_list("account_id", "amount"))
    if len(legs) != 2:
        raise LedgerError("only a two-legged transaction can be reversed")
    (debited, _), (credited, _) = sorted(legs, key=lambda leg: leg[1])
    amount = original.amount if amount is None else amount
    _check_amount(amount)
    if amount > original.amount:
        raise InvalidAmount("a reversal cannot be larger than the original transaction")
    accounts = lock_accounts([debited, credited])
    check_can_send(accounts[credited])
    return _post(
        accounts=accounts,
        legs=[Leg(credited, -amount), Leg(debited, amount)],
        currency=original.currency,
        kind=kind,
        reference=reference or original.reference,
        description=description or f"reversal of LT{original.pk}",
        reverses=original
        if amount == original.amount and kind == LedgerTransaction.Kind.REVERSAL
        else None,
    )


@dataclass(frozen=True)
class TransferOrder:
    """One transfer of a `transfer_many` call."""

    debtor_id: UUID
    creditor_id: UUID
    amount: int
    currency: str
    reference: str = ""
    description: str = ""


def _check_from_hold(*, debtor: Account, creditor: Account, hold: Hold, order: TransferOrder):
    """`check_transfer` for an order paid from a hold: the hold, not `available`, has to cover it."""
    for account in (debtor, creditor):
        if account.currency != order.currency:
            raise CurrencyMismatch(
                f"account {account.number} holds {account.currency}, not {order.currency}"
            )
    check_can_send(debtor)
    check_can_receive(creditor)
    if hold.amount - hold.captured_amount - hold.released_amount < order.amount:
        raise InsufficientFunds(f"the hold on account {debtor.number} has less left")


def reserve_transaction_ids(count: int) -> list[int]:
    """`count` ids from the ledger transactions' sequence, for `transfer_many(transaction_ids=)`:
    a caller can write what refers to its transactions before it takes any account's lock.
    An id that ends up unused (its order is refused) is a gap, as a rolled-back insert's is."""
    if count <= 0:
        return []
    rows = pgsql.execute(
        "SELECT nextval(pg_get_serial_sequence('accounts_ledgertransaction', 'id')) "
        "FROM generate_series(1, %s)",
        [count],
    )
    return sorted(row[0] for row in rows)


@transaction.atomic
def transfer_many(
    orders: Sequence[TransferOrder],
    *,
    kind: str = LedgerTransaction.Kind.TRANSFER,
    holds: Mapping[UUID, int] | None = None,
    transaction_ids: Sequence[int] | None = None,
    on_locked: Callable[[], object] | None = None,
    check: Callable[[Account, int, str], object] | None = None,
) -> list[int | LedgerError]:
    """Post many transfers at once, in order, each on its own or refused on its own.

    The bulk path for batch execution, with the same guarantees as `transfer`:
    every account is locked in ascending key order before anything is decided,
    each order is checked against the balances left by the ones before it,
    and each accepted order is one balanced two-legged transaction. Returns,
    per order, its ledger transaction's id or the refusal (insufficient funds...).

    `holds` maps a debtor account to an active hold that pays its orders (a batch's
    funds, reserved at approval): an order is drawn from the hold (balance and held
    go down together) and a refused one gives its share back to `available`.

    `transaction_ids` (from `reserve_transaction_ids`, one per order; reserved here when
    not given) are the ids the accepted orders' transactions get; `on_locked` is called
    once every lock is taken. `check(debtor, amount, currency)`, called under the locks for
    an order that passed the ledger's checks, refuses it by raising (instant limits).
    """
    if transaction_ids is not None and len(transaction_ids) != len(orders):
        raise LedgerError("one reserved transaction id per order")
    for order in orders:
        money.check_currency(order.currency)
        _check_amount(order.amount)
    accounts = lock_accounts(
        {order.debtor_id for order in orders} | {order.creditor_id for order in orders}
    )
    if on_locked is not None:
        on_locked()
    held_by: dict[UUID, Hold] = {}
    if holds:
        # After the accounts, as release_hold does: the same order everywhere.
        locked = Hold.objects.select_for_update().filter(
            pk__in=sorted(holds.values()), status=Hold.Status.ACTIVE
        )
        by_id = {hold.pk: hold for hold in locked.order_by("pk")}
        held_by = {account: by_id[hold] for account, hold in holds.items() if hold in by_id}
    outcomes: list[int | LedgerError] = []
    accepted: list[tuple[int, TransferOrder, int, int]] = []  # (index, order, balances after)
    touched: set[UUID] = set()
    for order in orders:
        debtor, creditor = accounts[order.debtor_id], accounts[order.creditor_id]
        hold = held_by.get(order.debtor_id)
        try:
            if debtor.pk == creditor.pk:
                raise SameAccount("the debtor and the creditor account must differ")
            if hold is not None:
                _check_from_hold(debtor=debtor, creditor=creditor, hold=hold, order=order)
            else:
                check_transfer(
                    debtor=debtor, creditor=creditor, amount=order.amount, currency=order.currency
                )
            if check is not None:
                check(debtor, order.amount, order.currency)
        except LedgerError as refusal:
            outcomes.append(refusal)
            left = hold.amount - hold.captured_amount - hold.released_amount if hold else 0
            if hold is not None and 0 < order.amount <= left:
                hold.released_amount += order.amount  # its share goes back to `available`
                debtor.held -= order.amount
                touched.add(debtor.pk)
            continue
        if hold is not None:
            hold.captured_amount += order.amount
            debtor.held -= order.amount
        debtor.balance -= order.amount
        creditor.balance += order.amount
        touched.update((debtor.pk, creditor.pk))
        accepted.append((len(outcomes), order, debtor.balance, creditor.balance))
        outcomes.append(0)  # replaced by the transaction's id below
    for hold in held_by.values():
        Hold.objects.filter(pk=hold.pk).update(
            captured_amount=hold.captured_amount, released_amount=hold.released_amount
        )
    if not accepted:
        if touched:
            bulk.update(
                Account,
                ["held", "updated_at"],
                [(pk, accounts[pk].held, timezone.now()) for pk in sorted(touched)],
            )
        return outcomes
    now = timezone.now()
    if transaction_ids is None:
        transaction_ids = reserve_transaction_ids(len(orders))
    ids = [transaction_ids[index] for index, _, _, _ in accepted]
    bulk.insert(
        LedgerTransaction,
        ["id", "kind", "currency", "amount", "reference", "description", "created_at"],
        [
            (txn_id, kind, o.currency, o.amount, o.reference[:140], o.description[:255], now)
            for txn_id, (_, o, _, _) in zip(ids, accepted, strict=True)
        ],
    )
    entries = []
    for txn_id, (index, order, debtor_after, creditor_after) in zip(ids, accepted, strict=True):
        outcomes[index] = txn_id
        entries.append((txn_id, order.debtor_id, -order.amount, order.currency, debtor_after, now))
        entries.append(
            (txn_id, order.creditor_id, order.amount, order.currency, creditor_after, now)
        )
    # Every transaction's legs go in one statement: the database checks each sums to zero.
    bulk.insert(
        LedgerEntry,
        ["transaction_id", "account_id", "amount", "currency", "balance_after", "created_at"],
        entries,
    )
    bulk.update(
        Account,
        ["balance", "held", "updated_at"],
        [
            (account_id, accounts[account_id].balance, accounts[account_id].held, now)
            for account_id in sorted(touched)
        ],
    )
    return outcomes


def funding_account(currency: str) -> Account:
    """The system account money enters the hub from, one per currency."""
    money.check_currency(currency)
    account, _ = Account.objects.get_or_create(
        number=f"SYS-FUNDING-{currency}",
        defaults={
            "currency": currency,
            "kind": Account.Kind.SYSTEM,
            "name": f"Funding {currency}",
            "overdraft_limit": FUNDING_OVERDRAFT,
        },
    )
    return account
