"""Typed factories for the test suite."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from accounts.ledger import posting
from accounts.models import Account, LedgerTransaction, Merchant, User


class MerchantFactory(DjangoModelFactory[Merchant]):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    webhook_secret = factory.Sequence(lambda n: f"whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ{n:04d}")
    # Their accounts' holders have random names, which the files' payee names never match:
    # batches of test merchants skip Verification of Payee unless a test turns it on
    # (tests/compliance/test_vop_batches.py).
    vop_batch_opt_out = True


class AccountFactory(DjangoModelFactory[Account]):
    class Meta:
        model = Account

    number = factory.Sequence(lambda n: f"TEST{n:010d}")
    currency = "EUR"
    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Faker("name")


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct-horse-battery-9")


def fund(account: Account, minor: int) -> LedgerTransaction:
    """Credit an account from the funding account, through the ledger."""
    source = posting.funding_account(account.currency)
    txn = posting.transfer(
        debtor_id=source.id,
        creditor_id=account.id,
        amount=minor,
        currency=account.currency,
        kind=LedgerTransaction.Kind.FUNDING,
    )
    account.refresh_from_db()
    return txn
