"""Every state change of a real-time payment: authorize, capture, void, refund, expire.

Each function locks the payment row first and checks its state after the lock;
money moves only through `accounts.ledger`; webhooks are emitted on commit.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from uuid import UUID

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.ledger import money, posting
from accounts.ledger.errors import (
    AccountClosed,
    AccountFrozen,
    AccountNotFound,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidState,
    LedgerError,
    SameAccount,
)
from accounts.models import Account, LedgerTransaction, Merchant
from common.db import pgsql
from payments import instant_limits, metrics, webhooks
from payments.instant_limits import InstantLimitExceeded
from payments.models import MerchantAPIKey, Payment, Refund, WebhookDelivery

# Refusals caused by an account's state: recorded as a failed payment.
ACCOUNT_STATE_FAILURES = (
    InsufficientFunds,
    AccountFrozen,
    AccountClosed,
    CurrencyMismatch,
    InstantLimitExceeded,
)


class RefundTooLarge(LedgerError):
    """The refund is larger than what is left to refund."""

    code = "refund_exceeds_payment"
    status = 409


class AuthorizationExpired(InvalidState):
    """The authorization has expired."""

    code = "authorization_expired"


def _authorization_code() -> str:
    return "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))


def lock_payment(payment_id: UUID, merchant: Merchant | None = None) -> Payment:
    """The payment's row, locked for the rest of the transaction (state checked after it)."""
    queryset = Payment.objects.select_for_update(of=("self",))
    if merchant is not None:
        queryset = queryset.filter(merchant=merchant)
    return queryset.get(pk=payment_id)


@transaction.atomic
def payment_authorize(
    *,
    merchant: Merchant,
    debtor: Account,
    creditor: Account,
    amount: int,
    currency: str,
    reference: str = "",
    end_to_end_id: str = "",
    capture: bool = True,
    api_key: MerchantAPIKey | None = None,
    batch_id: UUID | None = None,
    batch_row: int | None = None,
    now: datetime | None = None,
    creditor_address: dict | None = None,
    verification: dict | None = None,
) -> Payment:
    """Hold the amount on the debtor account (and capture it at once when `capture`).

    A refusal because of an account's state (insufficient funds, frozen or
    closed account, currency) is recorded as a `failed` payment, not raised.
    """
    money.check_currency(currency)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount("amount must be greater than zero")
    if debtor.merchant_id != merchant.pk:
        raise AccountNotFound("the debtor account is not the merchant's")
    if Account.Kind.SYSTEM in (debtor.kind, creditor.kind):
        raise AccountNotFound("a merchant's payment never moves a system account")
    if debtor.pk == creditor.pk:
        raise SameAccount("the debtor and the creditor account must differ")
    now = now or timezone.now()
    payment = Payment(
        merchant=merchant,
        debtor_account=debtor,
        creditor_account=creditor,
        amount=amount,
        currency=currency,
        reference=reference[:140],
        end_to_end_id=end_to_end_id[:35],
        status=Payment.Status.CREATED,
        api_key=api_key,
        batch_id=batch_id,
        batch_row=batch_row,
        authorization_code=_authorization_code(),
        creditor_address=creditor_address or None,
        verification=verification,
    )
    # Lock both accounts now, in key order: the payment row's foreign keys are
    # checked at commit, and checks that took their locks in another order
    # than the ledger's would deadlock with a concurrent payment. Holding the
    # locks, the refusal can be decided before posting anything.
    locked = posting.lock_accounts([debtor.pk, creditor.pk])
    try:
        if capture:
            posting.check_transfer(
                debtor=locked[debtor.pk],
                creditor=locked[creditor.pk],
                amount=amount,
                currency=currency,
            )
        else:
            posting.check_hold(account=locked[debtor.pk], amount=amount, currency=currency)
        instant_limits.check(locked[debtor.pk], amount, now=now)  # AM14, under the lock
    except ACCOUNT_STATE_FAILURES as refusal:
        payment.status = Payment.Status.FAILED
        payment.failure_code = refusal.code
        payment.failure_message = refusal.detail[:255]
        payment.authorization_code = ""
    else:
        if capture:
            # Authorize-and-capture in one posting: no hold is needed.
            payment.ledger_transaction = posting.transfer_locked(
                accounts=locked,
                debtor_id=debtor.pk,
                creditor_id=creditor.pk,
                amount=amount,
                currency=currency,
                reference=reference,
                description=f"payment {payment.id}",
            )
            payment.status = Payment.Status.COMPLETED
            payment.captured_amount = amount
        else:
            payment.hold = posting.place_hold(
                account_id=debtor.pk, amount=amount, currency=currency, reference=reference
            )
            payment.status = Payment.Status.AUTHORIZED
            payment.expires_at = now + timedelta(seconds=settings.PAYMENT_AUTHORIZATION_TTL)
    pgsql.insert(payment)  # the same row as save(), without the ORM's compiler
    if payment.status == Payment.Status.COMPLETED:
        webhooks.emit(
            merchant=merchant,
            event_type="payment.completed",
            data=webhooks.payment_data(payment),
            payment=payment,
        )
    elif payment.status == Payment.Status.FAILED:
        webhooks.emit(
            merchant=merchant,
            event_type="payment.failed",
            data=webhooks.payment_data(payment),
            payment=payment,
        )
    structlog.contextvars.bind_contextvars(payment_id=str(payment.id))
    metrics.PAYMENTS.labels(payment.status, "api" if batch_id is None else "batch").inc()
    return payment


@transaction.atomic
def payment_capture(
    *,
    payment_id: UUID,
    merchant: Merchant | None = None,
    amount: int | None = None,
    now: datetime | None = None,
) -> Payment:
    """`authorized` -> `completed`: post `amount` (default all) and release the rest."""
    payment = lock_payment(payment_id, merchant)
    if payment.status != Payment.Status.AUTHORIZED:
        raise InvalidState(f"cannot capture a {payment.status} payment")
    if payment.expires_at and payment.expires_at <= (now or timezone.now()):
        raise AuthorizationExpired("the authorization has expired; its funds are being released")
    amount = payment.amount if amount is None else amount
    if amount <= 0 or amount > payment.amount:
        raise InvalidAmount(
            "the capture amount must be more than zero and at most the authorized amount"
        )
    assert payment.hold_id is not None  # an authorized payment holds its funds
    payment.ledger_transaction = posting.capture_hold(
        hold_id=payment.hold_id,
        creditor_id=payment.creditor_account_id,
        amount=amount,
        reference=payment.reference,
        description=f"capture of payment {payment.id}",
    )
    payment.status = Payment.Status.COMPLETED
    payment.captured_amount = amount
    payment.save(update_fields=["ledger_transaction", "status", "captured_amount", "updated_at"])
    webhooks.emit(
        merchant=payment.merchant,
        event_type="payment.completed",
        data=webhooks.payment_data(payment),
        payment=payment,
    )
    return payment


@transaction.atomic
def payment_void(*, payment_id: UUID, merchant: Merchant | None = None) -> Payment:
    """`authorized` -> `voided`: the hold is released."""
    payment = lock_payment(payment_id, merchant)
    if payment.status != Payment.Status.AUTHORIZED:
        raise InvalidState(f"cannot void a {payment.status} payment")
    assert payment.hold_id is not None  # an authorized payment holds its funds
    posting.release_hold(hold_id=payment.hold_id)
    payment.status = Payment.Status.VOIDED
    payment.save(update_fields=["status", "updated_at"])
    return payment


@transaction.atomic
def payment_expire(*, payment_id: UUID, now: datetime | None = None) -> Payment:
    """An authorization past its `expires_at` -> `expired`, hold released. Safe to repeat."""
    payment = lock_payment(payment_id)
    now = now or timezone.now()
    if (
        payment.status != Payment.Status.AUTHORIZED
        or not payment.expires_at
        or payment.expires_at > now
    ):
        return payment
    assert payment.hold_id is not None  # an authorized payment holds its funds
    posting.release_hold(hold_id=payment.hold_id)
    payment.status = Payment.Status.EXPIRED
    payment.save(update_fields=["status", "updated_at"])
    return payment


@transaction.atomic
def payment_refund(
    *,
    payment_id: UUID,
    merchant: Merchant | None = None,
    amount: int | None = None,
    reason: str = "",
) -> Refund:
    """Give back `amount` (default all that is left) of a completed payment."""
    payment = lock_payment(payment_id, merchant)
    return _give_back(payment, amount=amount, reason=reason, kind=LedgerTransaction.Kind.REFUND)


@transaction.atomic
def payment_reverse(*, payment_id: UUID, reason: str) -> Refund:
    """Reverse a batch row's payment made by mistake: all that is left of it goes back
    to the debtor in a reversing ledger transaction (kind `reversal`)."""
    payment = lock_payment(payment_id)
    if payment.batch_id is None:
        raise InvalidState("only a batch payment is reversed; refund a real-time payment")
    return _give_back(payment, amount=None, reason=reason, kind=LedgerTransaction.Kind.REVERSAL)


def _give_back(payment: Payment, *, amount: int | None, reason: str, kind: str) -> Refund:
    if payment.status not in (Payment.Status.COMPLETED, Payment.Status.PARTIALLY_REFUNDED):
        raise InvalidState(f"cannot refund a {payment.status} payment")
    left = payment.refundable_amount
    amount = left if amount is None else amount
    if amount <= 0:
        raise InvalidAmount("the refund amount must be more than zero")
    if amount > left:
        raise RefundTooLarge(
            f"the refund of {money.to_major(amount, payment.currency)} is more than the "
            f"{money.to_major(left, payment.currency)} {payment.currency} left to refund"
        )
    assert payment.ledger_transaction_id is not None  # a completed payment was posted
    what = "reversal" if kind == LedgerTransaction.Kind.REVERSAL else "refund"
    txn = posting.reverse(
        transaction_id=payment.ledger_transaction_id,
        amount=amount,
        kind=kind,
        reference=payment.reference,
        description=f"{what} of payment {payment.id}",
    )
    refund = Refund.objects.create(
        payment=payment,
        amount=amount,
        currency=payment.currency,
        reason=reason[:255],
        ledger_transaction=txn,
    )
    payment.refunded_amount += amount
    payment.status = (
        Payment.Status.REFUNDED
        if payment.refunded_amount == payment.captured_amount
        else Payment.Status.PARTIALLY_REFUNDED
    )
    payment.save(update_fields=["refunded_amount", "status", "updated_at"])
    webhooks.emit(
        merchant=payment.merchant,
        event_type="payment.refunded",
        data={
            **webhooks.payment_data(payment),
            "refund": {"id": str(refund.id), "amount": money.to_major(amount, payment.currency)},
        },
        payment=payment,
    )
    return refund


def expire_stale_authorizations(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Expire every authorization past its `expires_at`; returns how many."""
    now = now or timezone.now()
    stale = list(
        Payment.objects.filter(status=Payment.Status.AUTHORIZED, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("id", flat=True)[:limit]
    )
    for payment_id in stale:
        payment_expire(payment_id=payment_id, now=now)
    return len(stale)


@transaction.atomic
def webhook_delivery_retry(*, delivery_id: UUID) -> WebhookDelivery:
    """A delivery that gave up goes back to pending, due now; it is sent after commit."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status != WebhookDelivery.Status.FAILED:
        raise InvalidState(f"only a failed delivery is retried; this one is {delivery.status}")
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    webhooks.enqueue_on_commit(delivery.pk)
    return delivery
