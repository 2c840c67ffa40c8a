"""State changes of merchants and accounts: one function each.

Money moves only through `accounts.ledger.posting`; these functions add the checks
and the audit row around it.
"""

from __future__ import annotations

import base64
import secrets
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, transaction

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger import money, posting
from accounts.ledger.errors import AccountNotFound, InvalidState, LedgerError
from accounts.ledger.models import Account, LedgerTransaction, Merchant


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _account_snapshot(account: Account) -> dict[str, str]:
    return {"status": account.status, "balance": str(account.balance), "held": str(account.held)}


@transaction.atomic
def merchant_create(*, name: str, webhook_url: str = "", actor: Actor) -> Merchant:
    name = name.strip()
    if not name:
        raise LedgerError("a merchant needs a name")
    merchant = Merchant.objects.create(
        name=name, webhook_url=webhook_url, webhook_secret=new_webhook_secret()
    )
    audit.record(
        actor=actor, action=AuditAction.MERCHANT_CREATE, target=merchant, after={"name": name}
    )
    return merchant


@transaction.atomic
def merchant_rotate_webhook_secret(*, merchant_id: UUID, actor: Actor) -> Merchant:
    merchant = Merchant.objects.select_for_update().get(pk=merchant_id)
    merchant.webhook_secret = new_webhook_secret()
    merchant.save(update_fields=["webhook_secret"])
    audit.record(actor=actor, action=AuditAction.MERCHANT_ROTATE_WEBHOOK_SECRET, target=merchant)
    return merchant


@transaction.atomic
def merchant_set_vop_batch_opt_out(*, merchant_id: UUID, opt_out: bool, actor: Actor) -> Merchant:
    """A business customer opts out of Verification of Payee for its batches (IPR Art. 5c),
    or back in: the merchant's API or the back office; audited. Batches validated from then
    on carry it (`Batch.vop_opted_out`)."""
    merchant = Merchant.objects.select_for_update().get(pk=merchant_id)
    if merchant.vop_batch_opt_out == opt_out:
        return merchant  # nothing changes, nothing to audit
    merchant.vop_batch_opt_out = opt_out
    merchant.save(update_fields=["vop_batch_opt_out"])
    audit.record(
        actor=actor,
        action=AuditAction.MERCHANT_VOP_BATCH_OPT_OUT
        if opt_out
        else AuditAction.MERCHANT_VOP_BATCH_OPT_IN,
        target=merchant,
        before={"vop_batch_opt_out": not opt_out},
        after={"vop_batch_opt_out": opt_out},
    )
    return merchant


MERCHANT_AUDITED = ("name", "webhook_url", "second_approval_above", "second_approval_row_above")


@transaction.atomic
def merchant_save(*, merchant: Merchant, actor: Actor) -> Merchant:
    """Save a merchant edited in the back office; what changed goes in the audit trail."""
    old = Merchant.objects.filter(pk=merchant.pk).values(*MERCHANT_AUDITED).first() or {}
    merchant.save()
    changed = [name for name in MERCHANT_AUDITED if old.get(name) != getattr(merchant, name)]
    if changed:
        audit.record(
            actor=actor,
            action=AuditAction.MERCHANT_CHANGE if old else AuditAction.MERCHANT_CREATE,
            target=merchant,
            before={name: old.get(name) for name in changed} if old else None,
            after={name: getattr(merchant, name) for name in changed},
        )
    return merchant


def _new_account_number() -> str:
    while True:
        number = "PH" + "".join(secrets.choice("0123456789") for _ in range(14))
        if not Account.objects.filter(number=number).exists():
            return number


@transaction.atomic
def account_open(
    *,
    currency: str,
    merchant_id: UUID | None = None,
    number: str | None = None,
    name: str = "",
    actor: Actor,
) -> Account:
    money.check_currency(currency)
    number = (number or "").strip().replace(" ", "").upper() or _new_account_number()
    if not number.isalnum() or len(number) > 34:
        raise LedgerError("an account number is up to 34 letters and digits")
    merchant = Merchant.objects.get(pk=merchant_id) if merchant_id else None
    try:
        # The unique index decides, so that two clerks opening one number at once get
        # this answer too (a look-up first would let both through to a crash).
        with transaction.atomic():
            account = Account.objects.create(
                number=number, currency=currency, merchant=merchant, name=name[:140]
            )
    except IntegrityError:
        if not Account.objects.filter(number=number).exists():
            raise
        raise InvalidState(f"account {number} already exists") from None
    audit.record(
        actor=actor,
        action=AuditAction.ACCOUNT_OPEN,
        target=account,
        after=_account_snapshot(account),
    )
    return account


def _account_set_status(
    *, account_id: UUID, status: str, action: AuditAction, actor: Actor, reason: str
) -> Account:
    account = posting.lock_accounts([account_id])[account_id]
    if account.status == Account.Status.CLOSED:
        raise InvalidState(f"account {account.number} is closed")
    before = _account_snapshot(account)
    if status == Account.Status.CLOSED and (account.balance != 0 or account.held != 0):
        raise InvalidState(f"account {account.number} still holds money and cannot be closed")
    account.status = status
    account.save(update_fields=["status", "updated_at"])
    audit.record(
        actor=actor,
        action=action,
        target=account,
        before=before,
        after=_account_snapshot(account),
        reason=reason,
    )
    return account


@transaction.atomic
def account_freeze(*, account_id: UUID, actor: Actor, reason: str = "") -> Account:
    return _account_set_status(
        account_id=account_id,
        status=Account.Status.FROZEN,
        action=AuditAction.ACCOUNT_FREEZE,
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def account_unfreeze(*, account_id: UUID, actor: Actor, reason: str = "") -> Account:
    return _account_set_status(
        account_id=account_id,
        status=Account.Status.ACTIVE,
        action=AuditAction.ACCOUNT_UNFREEZE,
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def account_close(*, account_id: UUID, actor: Actor, reason: str = "") -> Account:
    return _account_set_status(
        account_id=account_id,
        status=Account.Status.CLOSED,
        action=AuditAction.ACCOUNT_CLOSE,
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def account_rename(*, account_id: UUID, name: str, actor: Actor) -> Account:
    """Set the holder's name; a name that does not change records nothing."""
    account = Account.objects.select_for_update().get(pk=account_id)
    name = name.strip()[:140]
    if name == account.name:
        return account
    before = {"name": account.name}
    account.name = name
    account.save(update_fields=["name", "updated_at"])
    audit.record(
        actor=actor,
        action=AuditAction.ACCOUNT_RENAME,
        target=account,
        before=before,
        after={"name": name},
    )
    return account


@transaction.atomic
def account_fund(
    *, number: str, amount: str | Decimal, actor: Actor, reference: str = "funding"
) -> LedgerTransaction:
    """Credit an account from the hub's funding account of its currency."""
    account = Account.objects.filter(number=number).first()
    if account is None:
        raise AccountNotFound(f"no account has number {number!r}")
    minor = money.to_minor(amount, account.currency)
    source = posting.funding_account(account.currency)
    txn = posting.transfer(
        debtor_id=source.id,
        creditor_id=account.id,
        amount=minor,
        currency=account.currency,
        kind=LedgerTransaction.Kind.FUNDING,
        reference=reference,
        description=f"funding of {account.number}",
    )
    audit.record(
        actor=actor,
        action=AuditAction.ACCOUNT_FUND,
        target=account,
        amount=money.to_major(minor, account.currency),
        transaction=txn.pk,
    )
    return txn
