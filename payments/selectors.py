"""Read queries of payments: what a merchant may see, account look-ups by number, and the
back office's search and a payment's page (every search condition served by an index).
The dashboard's figures are in payments/figures.py, a payment's story in payments/story.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from django.db.models import Prefetch, Q, QuerySet, Value
from django.db.models.functions import StrIndex, Upper
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from accounts.ledger import money
from accounts.models import Account, LedgerEntry, LedgerTransaction, Merchant
from common.db import pgsql
from common.db.routing import replica_alias
from payments.models import Payment, WebhookAttempt, WebhookDelivery


def accounts_by_number(*, numbers: list[str]) -> dict[str, Account]:
    """Accounts by number, in one query; numbers not found are absent."""
    # On every payment request: a prepared statement, rows made without the ORM's compiler.
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Account)} FROM accounts_account WHERE number = ANY(%s)",  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
        [list(numbers)],
    )
    return {account.number: account for account in (pgsql.from_row(Account, r) for r in rows)}


def payments_of_merchant(*, merchant: Merchant) -> QuerySet[Payment]:
    return Payment.objects.filter(merchant=merchant).select_related(
        "debtor_account", "creditor_account"
    )


def webhooks_of_merchant(*, merchant: Merchant) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(merchant=merchant)


def day_bounds(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the current time zone (TIME_ZONE)."""
    zone = timezone.get_current_timezone()
    last = last or first
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


# --- Search: every condition below is served by an index ----------------------------------

ID_PREFIX_MIN = 8  # hex digits: fewer would match thousands of payments per prefix
FRAGMENT_MIN = 3  # characters: a trigram index needs a whole trigram to narrow anything
_ELLIPSES = ("…", "...")


def uuid_prefix_range(text: str) -> tuple[UUID, UUID] | None:
    """The ids that start with `text` (8 to 32 hex digits, hyphens optional, a trailing
    "…" as the lists truncate ids), as a closed range the primary key's index serves;
    None when `text` is no such prefix."""
    text = text.strip().lower()
    for ellipsis in _ELLIPSES:
        text = text.removesuffix(ellipsis)
    digits = text.replace("-", "")
    if not ID_PREFIX_MIN <= len(digits) <= 32 or any(c not in "0123456789abcdef" for c in digits):
        return None
    return UUID(digits.ljust(32, "0")), UUID(digits.ljust(32, "f"))


def id_prefix_q(text: str, field: str = "pk") -> Q | None:
    bounds = uuid_prefix_range(text)
    if bounds is None:
        return None
    return Q(**{f"{field}__gte": bounds[0], f"{field}__lte": bounds[1]})


def fragment_q(field: str, text: str) -> Q | None:
    """`field` contains `text`, any case (a pg_trgm index on UPPER(field)); None when
    `text` is shorter than a trigram."""
    text = text.strip()
    if len(text) < FRAGMENT_MIN:
        return None
    return Q(**{f"{field}__icontains": text})


_ID_SEPARATORS = re.compile(r"[-_/. ]")


def id_fragment_q(field: str, text: str) -> Q | None:
    """`fragment_q` for identifiers such as end-to-end ids, which share their prefixes and
    zero padding (`E2E-0811-000059481`): their common trigrams make a trigram index read
    long posting lists. The index is asked for the distinctive tail (`59481`: the last
    segment without its leading zeros) and each row it finds is checked for the whole
    text (STRPOS, any case)."""
    whole = fragment_q(field, text)
    text = text.strip()
    core = _ID_SEPARATORS.split(text)[-1].lstrip("0")
    if whole is None or len(core) < 4 or len(core) == len(text):
        return whole
    contains_whole = GreaterThan(StrIndex(Upper(field), Upper(Value(text))), 0)
    return Q(**{f"{field}__icontains": core}) & Q(contains_whole)


def account_ids_by_number(text: str) -> list[UUID]:
    """The account whose number is `text` (as typed, or in capitals): the unique index."""
    text = text.strip()
    if not text or len(text) > 34:
        return []
    return list(
        Account.objects.filter(number__in={text, text.upper()}).values_list("id", flat=True)
    )


def payment_quick_search(term: str) -> Q | None:
    """One search box over payments, as the admin offers it. `term` is taken whole (no
    splitting into words, quotes ignored) and matches a payment when it is:

    - its id, or the first 8 or more characters of it (a truncated id, "86ebdfb9-bf3…");
    - contained in its reference or its end-to-end id, in any case (3 characters or more);
    - the number of its debtor or creditor account;
    - its batch's id;
    - its amount in major units ("12.50", in any currency).

    None when the term can match nothing.
    """
    term = term.strip().strip('"').strip()
    if not term:
        return None
    match = Q()
    for condition in (
        id_prefix_q(term),
        fragment_q("reference", term),
        id_fragment_q("end_to_end_id", term),
        money.amount_lookup(term.replace(",", "")),
    ):
        if condition is not None:
            match |= condition
    accounts = account_ids_by_number(term)
    if accounts:
        match |= Q(debtor_account_id__in=accounts) | Q(creditor_account_id__in=accounts)
    try:
        match |= Q(batch_id=UUID(term))
    except ValueError:
        pass
    return match or None


QUICK_SEARCH_HELP = (
    "Finds a payment by its id or its first 8+ characters, by 3+ characters of its "
    "reference or end-to-end id (any case, anywhere in it), by a debtor or creditor "
    "account number, by its batch id, or by its amount (12.50). The whole text is "
    "searched as typed: no quotes needed."
)


def payments_search(
    *,
    reference: str = "",
    end_to_end_id: str = "",
    payment_id: UUID | str | None = None,
    merchant_id: UUID | None = None,
    account: Account | None = None,
    status: str = "",
    currency: str = "",
    amount_min: Decimal | None = None,
    amount_max: Decimal | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    batch_id: UUID | None = None,
) -> QuerySet[Payment]:
    """Every merchant's payments matching all the given filters (the hub's staff see all).

    `payment_id` is an id or its first 8+ characters; `reference` and `end_to_end_id`
    match anywhere in any case (3+ characters, else exactly). Amounts are in major
    units; dates are calendar days of TIME_ZONE, both ends included. Unordered: the
    caller pages it (newest first) or exports it.
    """
    # A search may be as late as the standby (common.db.routing): each result's page reads
    # the primary.
    payments = Payment.objects.using(replica_alias()).select_related(
        "merchant", "debtor_account", "creditor_account"
    )
    if payment_id is not None and payment_id != "":
        prefix = id_prefix_q(str(payment_id))
        payments = payments.filter(prefix) if prefix is not None else payments.none()
    if reference:
        payments = payments.filter(fragment_q("reference", reference) or Q(reference=reference))
    if end_to_end_id:
        payments = payments.filter(
            id_fragment_q("end_to_end_id", end_to_end_id) or Q(end_to_end_id=end_to_end_id)
        )
    if merchant_id is not None:
        payments = payments.filter(merchant_id=merchant_id)
    if account is not None:
        payments = payments.filter(Q(debtor_account=account) | Q(creditor_account=account))
    if status:
        payments = payments.filter(status=status)
    if currency:
        payments = payments.filter(currency=currency)
    if amount_min is not None or amount_max is not None:
        payments = payments.filter(money.amount_range(amount_min, amount_max, currency))
    if created_from is not None:
        payments = payments.filter(created_at__gte=day_bounds(created_from)[0])
    if created_to is not None:
        payments = payments.filter(created_at__lt=day_bounds(created_to)[1])
    if batch_id is not None:
        payments = payments.filter(batch_id=batch_id)
    return payments


def payment_for_dashboard(*, payment_id: UUID) -> Payment:
    """One payment with what its page shows; raises Payment.DoesNotExist."""
    return Payment.objects.select_related(
        "merchant",
        "debtor_account",
        "creditor_account",
        "hold",
        "ledger_transaction",
        "api_key",
    ).get(pk=payment_id)


def payment_ledger_transactions(*, payment: Payment) -> list[LedgerTransaction]:
    """The ledger transactions of a payment (its posting, then its refunds), entries loaded."""
    ids = [payment.ledger_transaction_id] if payment.ledger_transaction_id else []
    ids += list(payment.refunds.values_list("ledger_transaction_id", flat=True))
    return list(
        LedgerTransaction.objects.filter(pk__in=ids)
        .prefetch_related(
            Prefetch(
                "entries",
                queryset=LedgerEntry.objects.select_related("account").order_by("amount", "id"),
            )
        )
        .order_by("id")
    )


def payment_webhook_deliveries(*, payment: Payment, limit: int = 20) -> list[WebhookDelivery]:
    """The webhook events sent about a payment, oldest first, each with its `attempt_list`."""
    return list(
        WebhookDelivery.objects.filter(payment=payment)
        .prefetch_related(
            Prefetch(
                "attempts", queryset=WebhookAttempt.objects.order_by("at"), to_attr="attempt_list"
            )
        )
        .order_by("created_at")[:limit]
    )
