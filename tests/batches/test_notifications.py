"""E-mails: the approvers hear of a batch awaiting them, the maker of the decision."""

from __future__ import annotations

import pytest

from accounts.identity.audit import Actor
from accounts.models import User
from batches import services
from tests.helpers import fresh_code, run_outbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailed_desk(desk):
    for user, address in [
        (desk.maker, "maker@example.com"),
        (desk.checker, "checker@example.com"),
        (desk.checker2, "checker2@example.com"),
    ]:
        User.objects.filter(pk=user.pk).update(email=address)
        user.email = address
    return desk


def test_approvers_hear_of_a_batch_awaiting_them_and_the_maker_of_the_decision(
    mailed_desk, mailoutbox, django_capture_on_commit_callbacks
):
    desk = mailed_desk
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.batch_validate(
            batch_id=desk.upload(desk.csv(("PAYEE0000", "10.00", "EUR", "inv", "E1"))).id
        )
    run_outbox()  # the mails are outbox jobs, written with the change

    assert sorted(m.to[0] for m in mailoutbox) == ["checker2@example.com", "checker@example.com"]
    assert "awaits your approval" in mailoutbox[0].subject
    assert f"/batches/{batch.pk}/" in mailoutbox[0].body and "1 payments" in mailoutbox[0].body
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.batch_reject(
            batch_id=batch.pk,
            approver=desk.checker,
            reason="wrong month",
            actor=Actor.for_user(desk.checker),
            otp_token=fresh_code(desk.checker),
        )
    run_outbox()

    assert [m.to for m in mailoutbox] == [["maker@example.com"]]
    assert "rejected by checker" in mailoutbox[0].subject
    assert "wrong month" in mailoutbox[0].body


def test_a_refused_approval_mails_nobody(
    mailed_desk, mailoutbox, django_capture_on_commit_callbacks
):
    desk = mailed_desk
    batch = services.batch_validate(
        batch_id=desk.upload(desk.csv(("PAYEE0000", "90000.00", "EUR", "inv", "E1"))).id
    )
    services.batch_approve(
        batch_id=batch.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    run_outbox()
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(services.FundsShort):
        services.batch_approve(
            batch_id=batch.pk,
            approver=desk.checker2,
            actor=Actor.for_user(desk.checker2),
            otp_token=fresh_code(desk.checker2),
        )
    run_outbox()

    assert mailoutbox == []
