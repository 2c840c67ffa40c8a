"""Fixtures of the batch tests: a merchant with a funded account, payees, staff."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.models import Account, Merchant, User
from batches import services
from tests.factories import AccountFactory, MerchantFactory, fund
from tests.helpers import make_operator


@dataclass
class Desk:
    merchant: Merchant
    account: Account
    payees: list[Account]
    maker: User
    checker: User
    checker2: User

    def upload(self, content: str | bytes, name: str = "payouts.csv", **kwargs):
        data = content.encode() if isinstance(content, str) else content
        kwargs.setdefault("debtor_account_number", self.account.number)
        return services.batch_upload(
            merchant=self.merchant,
            upload=SimpleUploadedFile(name, data),
            actor=Actor.for_user(self.maker),
            uploaded_by=self.maker,
            **kwargs,
        )

    def csv(self, *rows: tuple) -> str:
        lines = ["creditor_account,amount,currency,reference,end_to_end_id"]
        lines += [",".join(str(cell) for cell in row) for row in rows]
        return "\n".join(lines) + "\n"


@pytest.fixture
def desk(db) -> Desk:
    merchant = MerchantFactory(name="Payroll Co")
    account = AccountFactory(merchant=merchant, currency="EUR", number="PAYROLL0001")
    fund(account, 5_000_000)  # 50,000.00 EUR
    payees = [
        AccountFactory(merchant=None, currency="EUR", number=f"PAYEE{i:04d}") for i in range(5)
    ]
    return Desk(
        merchant=merchant,
        account=account,
        payees=payees,
        maker=make_operator(roles.OPERATOR, username="maker"),
        checker=make_operator(roles.OPERATOR, roles.APPROVER, username="checker"),
        checker2=make_operator(roles.OPERATOR, roles.APPROVER, username="checker2"),
    )
