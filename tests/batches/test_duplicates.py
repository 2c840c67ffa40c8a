"""Duplicate files by content, and the rows an approver should look at twice."""

from __future__ import annotations

import pytest

from accounts.identity.audit import Actor
from batches import services
from batches.models import Batch, BatchItem
from tests.helpers import fresh_code

pytestmark = pytest.mark.django_db

ORIGINAL = (
    "creditor_account,amount,currency,reference,end_to_end_id\n"
    "PAYEE0000,10.00,EUR,inv-1,E1\n"
    "PAYEE0001,500.00,EUR,inv-2,E2\n"
)
RESAVED = [
    ORIGINAL.replace("\n", "\r\n"),
    "\ufeff" + ORIGINAL,
    ORIGINAL + "\n",
    ORIGINAL.replace("creditor_account,amount", "Creditor_Account,Amount"),
    ORIGINAL.replace("500.00", "500.0").replace("10.00", "10"),
]


def validated(desk, content: str | bytes, name: str = "payouts.csv") -> Batch:
    return services.batch_validate(batch_id=desk.upload(content, name=name).id)


@pytest.mark.parametrize("copy", RESAVED, ids=["crlf", "bom", "blank-line", "header-case", "1.0"])
def test_a_resaved_copy_of_a_paid_file_is_refused_as_dupl_with_a_link(desk, copy):
    original = validated(desk, ORIGINAL)
    services.batch_approve(
        batch_id=original.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    services.batch_execute(batch_id=original.pk)

    again = validated(desk, copy.encode("utf-8"), name="payouts (1).csv")

    assert (again.status, again.error_code) == (Batch.Status.INVALID, "DUPL")
    assert again.duplicate_of_id == original.pk
    assert str(original.pk) in again.error_message
    assert again.items.count() == 0


def test_the_file_of_a_cancelled_or_rejected_batch_may_be_uploaded_again(desk):
    first = validated(desk, ORIGINAL)
    services.batch_cancel(batch_id=first.pk, user=desk.maker, actor=Actor.for_user(desk.maker))
    second = validated(desk, ORIGINAL)
    assert second.status == Batch.Status.AWAITING_APPROVAL
    services.batch_reject(
        batch_id=second.pk,
        approver=desk.checker,
        reason="wrong month",
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )

    third = validated(desk, ORIGINAL.replace("\n", "\r\n"))

    assert third.status == Batch.Status.AWAITING_APPROVAL and third.duplicate_of_id is None


def test_the_api_names_the_earlier_batch(desk, client):
    from payments.api_keys import api_key_create

    original = validated(desk, ORIGINAL)
    _, key = api_key_create(merchant=desk.merchant, name="erp", actor=Actor.system())
    again = validated(desk, ORIGINAL.replace("\n", "\r\n"))

    body = client.get(f"/api/v1/batches/{again.pk}/", HTTP_AUTHORIZATION=f"Bearer {key}").json()

    assert (body["error_code"], body["duplicate_of"]) == ("DUPL", str(original.pk))


def test_rows_are_flagged_new_payee_largest_and_possible_duplicate(desk, settings):
    settings.BATCH_LARGEST_ROWS = 1
    paid = validated(
        desk,
        "creditor_account,amount,currency,reference,end_to_end_id\n"
        "PAYEE0000,10.00,EUR,rent-may,M1\n",
    )
    services.batch_approve(
        batch_id=paid.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    services.batch_execute(batch_id=paid.pk)
    pending = validated(
        desk,
        "creditor_account,amount,currency,reference,end_to_end_id\nPAYEE0003,7.00,EUR,fee,P7\n",
    )

    batch = validated(
        desk,
        "creditor_account,amount,currency,reference,end_to_end_id\n"
        "PAYEE0000,10.00,EUR,rent-may,J1\n"  # same creditor, amount, reference as paid
        "PAYEE0000,11.00,EUR,rent-june,M1\n"  # same end-to-end id as paid
        "PAYEE0001,900.00,EUR,new,N1\n"  # new payee, largest
        "PAYEE0003,7.00,EUR,fee,X1\n",  # same as a row of a pending batch
    )

    items = {item.row: item for item in batch.items.all()}
    assert items[1].is_possible_duplicate and items[1].duplicate_of_payment.batch_id == paid.pk
    assert not items[1].is_new_payee
    assert items[2].is_possible_duplicate and items[2].duplicate_of_payment is not None
    assert items[3].is_new_payee and items[3].is_largest and not items[3].is_possible_duplicate
    assert items[4].is_possible_duplicate and items[4].duplicate_of_batch_id == pending.pk
    assert batch.flag_counts == {"new_payee": 2, "largest": 1, "duplicate": 3}
    assert BatchItem.objects.filter(batch=batch, flags=0).count() == 0
