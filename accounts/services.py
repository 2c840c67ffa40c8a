"""State changes of merchants, accounts and staff: one function each.

Money moves only through `accounts.ledger`; these functions add the checks
and the audit row around it.
"""

from __future__ import annotations

import base64
import secrets
from decimal import Decimal
from uuid import UUID

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import audit, ledger, money, roles
from accounts.audit import Actor
from accounts.errors import AccountNotFound, InvalidState, LedgerError
from accounts.models import Account, LedgerTransaction, Merchant, User


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
    audit.record(actor=actor, action="merchant.create", target=merchant, after={"name": name})
    return merchant


@transaction.atomic
def merchant_rotate_webhook_secret(*, merchant_id: UUID, actor: Actor) -> Merchant:
    merchant = Merchant.objects.select_for_update().get(pk=merchant_id)
    merchant.webhook_secret = new_webhook_secret()
    merchant.save(update_fields=["webhook_secret"])
    audit.record(actor=actor, action="merchant.rotate_webhook_secret", target=merchant)
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
        actor=actor, action="account.open", target=account, after=_account_snapshot(account)
    )
    return account


def _account_set_status(
    *, account_id: UUID, status: str, action: str, actor: Actor, reason: str
) -> Account:
    account = ledger.lock_accounts([account_id])[account_id]
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
        action="account.freeze",
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def account_unfreeze(*, account_id: UUID, actor: Actor, reason: str = "") -> Account:
    return _account_set_status(
        account_id=account_id,
        status=Account.Status.ACTIVE,
        action="account.unfreeze",
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def account_close(*, account_id: UUID, actor: Actor, reason: str = "") -> Account:
    return _account_set_status(
        account_id=account_id,
        status=Account.Status.CLOSED,
        action="account.close",
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def account_fund(
    *, number: str, amount: str | Decimal, actor: Actor, reference: str = "funding"
) -> LedgerTransaction:
    """Credit an account from the hub's funding account of its currency."""
    account = Account.objects.filter(number=number).first()
    if account is None:
        raise AccountNotFound(f"no account has number {number!r}")
    minor = money.to_minor(amount, account.currency)
    source = ledger.funding_account(account.currency)
    txn = ledger.transfer(
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
        action="account.fund",
        target=account,
        amount=money.to_major(minor, account.currency),
        transaction=txn.pk,
    )
    return txn


@transaction.atomic
def operator_create(
    *, username: str, password: str, approver: bool = False, email: str = "", actor: Actor
) -> tuple[User, TOTPDevice]:
    """A member of the payments staff, with a TOTP device for the second factor."""
    from django.contrib.auth.password_validation import validate_password

    user = User(username=username, email=email, is_staff=False)
    validate_password(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():  # the unique index decides, as in account_open
            user.save()
    except IntegrityError:
        if not User.objects.filter(username=username).exists():
            raise
        raise InvalidState(f"user {username!r} already exists") from None
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    if approver:
        user.groups.add(Group.objects.get(name=roles.APPROVER))
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    audit.record(
        actor=actor,
        action="operator.create",
        target=user,
        after={"username": username, "approver": approver},
    )
    return user, device


@transaction.atomic
def otp_device_begin_enrolment(*, user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device, made on first call and reused after.

    Reusing it keeps the secret stable while the user scans the code, however
    often the enrolment page is reloaded.
    """
    User.objects.select_for_update().get(pk=user.pk)  # one enrolment device per user
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


@transaction.atomic
def otp_device_confirm(*, device_id: int, actor: Actor) -> TOTPDevice:
    """Mark a device as confirmed once the user has proved it with a first code."""
    device = TOTPDevice.objects.select_for_update().get(pk=device_id)
    if device.confirmed:
        raise InvalidState("this authenticator is already confirmed")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record(actor=actor, action="auth.otp_enrolled", target=device.user, device=device.name)
    return device
