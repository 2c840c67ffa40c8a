"""Read queries of payments: what a merchant may see, account look-ups by number, and the
operator dashboard's search and figures (volumes, success rates, daily series).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from django.db.models import Count, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import StrIndex, TruncDate, Upper
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from accounts.ledger import money
from accounts.models import Account, Hold, LedgerEntry, LedgerTransaction, Merchant
from common.db import pgsql
from common.db.routing import replica_alias
from payments.models import BackOfficeAction, Payment, WebhookAttempt, WebhookDelivery


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


# --- The operator dashboard ---------------------------------------------------------------

# A payment is finished once nothing more can happen to it but a refund.
SUCCEEDED_STATUSES = (
    Payment.Status.COMPLETED,
    Payment.Status.REFUNDED,
    Payment.Status.PARTIALLY_REFUNDED,
)
FINISHED_STATUSES = (*SUCCEEDED_STATUSES, Payment.Status.FAILED)


def day_bounds(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the current time zone (TIME_ZONE)."""
    zone = timezone.get_current_timezone()
    last = last or first
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def _rate(part: int, whole: int) -> Decimal | None:
    """`part / whole` as a percentage with one decimal, None when there is nothing to divide."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class CurrencyVolume:
    currency: str
    count: int
    amount: int  # minor units


@dataclass(frozen=True)
class DaySummary:
    day: date
    volumes: list[CurrencyVolume]  # every payment created that day, any status
    succeeded: int
    failed: int

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_rate(self) -> Decimal | None:
        """Succeeded (completed, refunded, partially refunded) over finished, in per cent."""
        return _rate(self.succeeded, self.finished)


def payments_day_summary(*, day: date) -> DaySummary:
    """Count and amount per currency of the payments created on `day`, and the success rate."""
    start, end = day_bounds(day)
    # A report: the standby's copy will do (common.db.routing).
    today = (
        Payment.objects.using(replica_alias())
        .filter(created_at__gte=start, created_at__lt=end)
        .order_by()
    )
    volumes = [
        CurrencyVolume(currency=row["currency"], count=row["count"], amount=row["amount"] or 0)
        for row in today.values("currency")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("currency")
    ]
    outcome = today.aggregate(
        succeeded=Count("id", filter=Q(status__in=SUCCEEDED_STATUSES)),
        failed=Count("id", filter=Q(status=Payment.Status.FAILED)),
    )
    return DaySummary(
        day=day, volumes=volumes, succeeded=outcome["succeeded"], failed=outcome["failed"]
    )


def recent_failed_payments(*, limit: int = 10) -> list[Payment]:
    """The last `limit` failed payments, newest first."""
    return list(
        Payment.objects.filter(status=Payment.Status.FAILED)
        .select_related("merchant")
        .order_by("-created_at", "-id")[:limit]
    )


def currencies_by_activity(*, today: date, days: int = 30) -> list[tuple[str, int]]:
    """(currency, number of payments) over the `days` days up to `today`, busiest first."""
    start, end = day_bounds(today - timedelta(days=days - 1), today)
    rows = (
        Payment.objects.using(replica_alias())
        .filter(created_at__gte=start, created_at__lt=end)
        .values_list("currency")
        .annotate(count=Count("id"))
        .order_by("-count", "currency")
    )
    return [(currency, count) for currency, count in rows]


@dataclass(frozen=True)
class DayPoint:
    day: date
    count: int
    amount: int  # minor units, every payment created that day
    failed: int
    finished: int

    @property
    def failure_rate(self) -> Decimal | None:
        """Failed over finished, in per cent; None on a day with no finished payment."""
        return _rate(self.failed, self.finished)


def daily_volume(*, currency: str, today: date, days: int = 30) -> list[DayPoint]:
    """One point per day (oldest first, `days` of them, ending `today`) for one currency.

    Days are calendar days of TIME_ZONE; a day without payments is a zero point.
    """
    first = today - timedelta(days=days - 1)
    start, end = day_bounds(first, today)
    rows = (
        Payment.objects.using(replica_alias())
        .filter(currency=currency, created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(
            count=Count("id"),
            amount=Sum("amount"),
            failed=Count("id", filter=Q(status=Payment.Status.FAILED)),
            finished=Count("id", filter=Q(status__in=FINISHED_STATUSES)),
        )
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    points = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day)
        points.append(
            DayPoint(
                day=day,
                count=row["count"] if row else 0,
                amount=(row["amount"] or 0) if row else 0,
                failed=row["failed"] if row else 0,
                finished=row["finished"] if row else 0,
            )
        )
    return points


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


# --- Back-office actions and a payment's story ----------------------------------------------


def pending_backoffice_actions(*, limit: int = 200) -> list[BackOfficeAction]:
    """The actions waiting for a second approver, oldest first (a partial index)."""
    return list(
        BackOfficeAction.objects.filter(status=BackOfficeAction.Status.PENDING)
        .select_related("payment", "webhook_delivery", "requested_by")
        .order_by("requested_at")[:limit]
    )


def payment_backoffice_actions(*, payment: Payment) -> list[BackOfficeAction]:
    return list(
        BackOfficeAction.objects.filter(payment=payment)
        .select_related("requested_by", "decided_by")
        .order_by("requested_at")
    )


@dataclass(frozen=True)
class StoryEvent:
    """One line of a payment's timeline."""

    at: datetime
    kind: str  # status, ledger, webhook, action
    title: str
    detail: str = ""
    actor: str = ""
    transaction_id: int | None = None
    status: str = ""


def payment_timeline(*, payment: Payment) -> list[StoryEvent]:
    """What happened to a payment, oldest first: its status changes with who made them,
    each ledger transaction, each webhook attempt with its answer, each back-office action."""
    from accounts.models import AuditEvent

    audit_by_action: dict[str, list[AuditEvent]] = {}
    for event in AuditEvent.objects.filter(
        target_type=Payment._meta.label, target_id=str(payment.pk)
    ).order_by("at", "id"):
        audit_by_action.setdefault(event.action, []).append(event)

    def actor_of(action: str, default: str, **match: str) -> str:
        for event in audit_by_action.get(action, []):
            if all(str(event.detail.get(key)) == value for key, value in match.items()):
                return event.actor_label
        return default

    made_by = (
        f"API key “{payment.api_key.name}”"
        if payment.api_key_id and payment.api_key
        else (f"batch {payment.batch_id}, row {payment.batch_row}" if payment.batch_id else "")
    )
    events: list[StoryEvent] = []
    amount = money.display(payment.amount, payment.currency)
    hold = payment.hold
    if payment.status == Payment.Status.FAILED:
        events.append(
            StoryEvent(
                payment.created_at,
                "status",
                "Failed",
                f"{payment.failure_code}: {payment.failure_message}",
                made_by,
                status="failed",
            )
        )
    elif payment.status == Payment.Status.CREATED:
        events.append(
            StoryEvent(payment.created_at, "status", "Created", amount, made_by, status="created")
        )
    elif hold is not None:
        events.append(
            StoryEvent(
                payment.created_at,
                "status",
                "Authorized",
                f"{amount} held on {payment.debtor_account.number}, code {payment.authorization_code}",
                made_by,
                status="authorized",
            )
        )
        if hold.status == Hold.Status.RELEASED and hold.closed_at:
            ended = "Voided" if payment.status == Payment.Status.VOIDED else "Expired"
            events.append(
                StoryEvent(
                    hold.closed_at,
                    "status",
                    ended,
                    "the hold is released",
                    actor_of("payment.void", "merchant (API)")
                    if ended == "Voided"
                    else "the expiry job",
                    status=payment.status if ended == "Voided" else "expired",
                )
            )
    else:
        events.append(
            StoryEvent(
                payment.created_at,
                "status",
                "Completed",
                f"{amount} authorized and captured at once",
                made_by,
                status="completed",
            )
        )
    for txn in payment_ledger_transactions(payment=payment):
        legs = ", ".join(
            f"{entry.account.number} {'+' if entry.amount > 0 else ''}"
            f"{money.to_grouped(entry.amount, entry.currency)}"
            for entry in txn.entries.all()
        )
        events.append(
            StoryEvent(
                txn.created_at,
                "ledger",
                f"Ledger LT{txn.pk}: {txn.get_kind_display().lower()}",
                legs,
                transaction_id=txn.pk,
            )
        )
        if hold is not None and txn.pk == payment.ledger_transaction_id:
            events.append(
                StoryEvent(
                    txn.created_at,
                    "status",
                    "Captured",
                    money.display(txn.amount, txn.currency),
                    "merchant (API)",
                    status="completed",
                )
            )
    for refund in payment.refunds.select_related("ledger_transaction").order_by("created_at"):
        reversal = refund.ledger_transaction.kind == LedgerTransaction.Kind.REVERSAL
        events.append(
            StoryEvent(
                refund.created_at,
                "status",
                "Reversed" if reversal else "Refunded",
                f"{money.display(refund.amount, refund.currency)}"
                + (f" — {refund.reason}" if refund.reason else ""),
                actor_of(
                    "payment.reverse" if reversal else "payment.refund",
                    "merchant (API)",
                    refund=str(refund.pk),
                ),
                transaction_id=refund.ledger_transaction_id,
                status="refunded",
            )
        )
    for delivery in payment_webhook_deliveries(payment=payment):
        for attempt in getattr(delivery, "attempt_list", []):
            answer = (
                f"HTTP {attempt.status_code}"
                if attempt.status_code
                else attempt.error or "no answer"
            )
            events.append(
                StoryEvent(
                    attempt.at,
                    "webhook",
                    f"Webhook {delivery.event_type}",
                    f"{answer} in {attempt.duration_ms} ms"
                    + (f": {attempt.response_excerpt[:80]}" if attempt.response_excerpt else ""),
                )
            )
        if delivery.status == WebhookDelivery.Status.FAILED:
            events.append(
                StoryEvent(
                    delivery.created_at,
                    "webhook",
                    f"Webhook {delivery.event_type} gave up",
                    f"after {delivery.attempt_count} attempts",
                )
            )
    for action in payment_backoffice_actions(payment=payment):
        events.append(
            StoryEvent(
                action.requested_at,
                "action",
                f"{action.get_kind_display()} asked",
                action.reason,
                action.requested_by.get_username(),
            )
        )
        if action.decided_at and action.decided_by:
            verdict = (
                "rejected" if action.status == BackOfficeAction.Status.REJECTED else "approved"
            )
            events.append(
                StoryEvent(
                    action.decided_at,
                    "action",
                    f"{action.get_kind_display()} {verdict}",
                    action.decision_reason or action.outcome,
                    action.decided_by.get_username(),
                )
            )
    return sorted(events, key=lambda event: event.at)
