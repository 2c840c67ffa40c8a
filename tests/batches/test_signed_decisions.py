"""Decisions are signed: a fresh authenticator code, once, recorded with the approval."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.identity.audit import Actor
from accounts.models import AuditEvent
from batches import services
from batches.models import Approval, Batch
from payments.models import Payment
from tests.helpers import fresh_code, otp_login, totp_code

pytestmark = pytest.mark.django_db


def awaiting(desk) -> Batch:
    batch = desk.upload(desk.csv(("PAYEE0000", "10.00", "EUR", "inv-1", "E1")))
    return services.batch_validate(batch_id=batch.id)


def test_the_code_used_at_sign_in_is_refused_at_approval(desk):
    batch = awaiting(desk)
    client = Client()
    device = otp_login(client, desk.checker)
    sign_in_code = totp_code(device)  # the code just accepted by /accounts/verify/

    response = client.post(
        reverse("batches:approve", args=[batch.pk]), {"otp_token": sign_in_code}, follow=True
    )

    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert not Approval.objects.exists()
    assert not Payment.objects.filter(batch_id=batch.pk).exists()
    assert any("used before" in str(m) for m in response.context["messages"])
    refused = AuditEvent.objects.get(action="decision.code_refused")
    assert refused.actor == desk.checker and refused.target_id == str(batch.pk)


def test_a_session_without_a_code_cannot_decide(desk):
    batch = awaiting(desk)
    client = Client()
    otp_login(client, desk.checker)

    client.post(reverse("batches:approve", args=[batch.pk]))
    client.post(reverse("batches:reject", args=[batch.pk]), {"reason": "no"})

    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert not Approval.objects.exists()


def test_one_code_signs_one_decision(desk, settings):
    settings.BATCH_SECOND_APPROVAL_ABOVE = 1  # each batch waits for a second approver
    first, second = (
        awaiting(desk),
        services.batch_validate(
            batch_id=desk.upload(desk.csv(("PAYEE0001", "11.00", "EUR", "inv-2", "E2"))).id
        ),
    )
    code = fresh_code(desk.checker)
    actor = Actor.for_user(desk.checker)

    services.batch_approve(batch_id=first.pk, approver=desk.checker, actor=actor, otp_token=code)
    with pytest.raises(services.CodeRefused):
        services.batch_approve(
            batch_id=second.pk, approver=desk.checker, actor=actor, otp_token=code
        )

    approval = Approval.objects.get()
    assert approval.batch_id == first.pk
    assert approval.otp_time_step is not None and approval.otp_time_step > 0
    assert approval.validated_sha256 == first.validated_sha256


def test_a_wrong_code_counts_towards_the_throttle_even_though_the_decision_fails(desk):
    batch = awaiting(desk)
    fresh_code(desk.checker)  # a device, not throttled

    with pytest.raises(services.CodeRefused):
        services.batch_reject(
            batch_id=batch.pk,
            approver=desk.checker,
            reason="no",
            actor=Actor.for_user(desk.checker),
            otp_token="000000" if fresh_code(desk.checker) != "000000" else "111111",
        )

    device = desk.checker.totpdevice_set.get()
    assert device.throttling_failure_count == 1
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
