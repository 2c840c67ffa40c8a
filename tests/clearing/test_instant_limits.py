"""A transfer to another bank above an instant limit fails AM14 here: nothing is debited,
nothing is sent; the day counts transfers out with on-us payments."""

from __future__ import annotations

import pytest

from accounts.models import Account
from clearing.models import Message
from tests.clearing.test_outbound import _balances, _pay, fake  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def test_a_transfer_out_above_the_limit_fails_am14_and_nothing_leaves(fake, peer, shop):  # noqa: F811
    Account.objects.filter(pk=shop.account.pk).update(instant_limit_per_payment=1000)

    body = _pay(shop, peer, amount="12.50").json()

    assert (body["status"], body["failure_code"]) == ("failed", "AM14")
    assert body["clearing"] is None
    assert fake.received == [] and Message.objects.count() == 0
    assert _balances(shop, peer) == (100_000, 0)


def test_transfers_out_count_towards_the_day(fake, peer, shop):  # noqa: F811
    Account.objects.filter(pk=shop.account.pk).update(instant_limit_per_day=2000)
    assert _pay(shop, peer, amount="12.50").json()["status"] == "completed"

    body = _pay(shop, peer, amount="7.51").json()

    assert body["failure_code"] == "AM14"
    assert _pay(shop, peer, amount="7.50").json()["status"] == "completed"
    assert _balances(shop, peer) == (100_000 - 2000, 2000)
