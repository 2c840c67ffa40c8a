"""Back-office actions: refused without a reason, audited, carried out through the payment
services, and above BACKOFFICE_SECOND_APPROVAL_ABOVE only with a second person's approval."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.models import AuditEvent, LedgerTransaction
from payments import actions, batch_orders, services
from payments.models import BackOfficeAction, Payment, WebhookDelivery
from tests.backoffice.conftest import AUTHORIZED, FUNDED, PAID, REFUNDED
from tests.helpers import fresh_code, make_operator

pytestmark = pytest.mark.django_db

Kind = BackOfficeAction.Kind


@pytest.fixture
def clerk():
    return make_operator(roles.OPERATOR, username="clerk")


@pytest.fixture
def approver():
    return make_operator(roles.OPERATOR, roles.APPROVER, username="approver")


def test_an_action_without_a_reason_is_refused_and_records_nothing(world, clerk):
    with pytest.raises(actions.ReasonRequired):
        actions.backoffice_action_request(
            kind=Kind.REFUND,
            payment_id=world.paid.pk,
            amount=100,
            reason="   ",
            actor=Actor.for_user(clerk),
            otp_token=fresh_code(clerk),
        )
    assert not BackOfficeAction.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="backoffice_action").exists()
    world.paid.refresh_from_db()
    assert world.paid.refunded_amount == REFUNDED


def test_a_small_part_refund_is_done_at_once_and_audited(world, clerk, settings):
    # The payment was refunded 2,000.00 already: its refunds count together.
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 3000
    action = actions.backoffice_action_request(
        kind=Kind.REFUND,
        payment_id=world.paid.pk,
        amount=50_000,  # 500.00 EUR: 2,500.00 with the earlier refund, under 3,000.00
        reason="customer complaint #88",
        actor=Actor.for_user(clerk, ip="10.0.0.7"),
        otp_token=fresh_code(clerk),
    )

    assert action.status == BackOfficeAction.Status.DONE
    world.paid.refresh_from_db()
    assert world.paid.refunded_amount == REFUNDED + 50_000
    assert world.paid.status == Payment.Status.PARTIALLY_REFUNDED
    world.debtor.refresh_from_db()
    assert world.debtor.balance == FUNDED - PAID + REFUNDED + 50_000
    event = AuditEvent.objects.get(action="payment.refund")
    assert event.actor == clerk and event.ip == "10.0.0.7"
    assert event.target_id == str(world.paid.pk)
    assert event.detail["reason"] == "customer complaint #88" and event.detail["amount"] == "500.00"
    assert AuditEvent.objects.filter(action="backoffice_action.request", actor=clerk).exists()


def test_above_the_limit_a_refund_waits_for_another_approver(world, clerk, approver):
    action = actions.backoffice_action_request(
        kind=Kind.REFUND,
        payment_id=world.paid.pk,
        reason="order cancelled",
        actor=Actor.for_user(clerk),
        otp_token=fresh_code(clerk),
    )  # all that is left: 10,345.67 EUR
    assert action.status == BackOfficeAction.Status.PENDING
    assert action.amount == PAID - REFUNDED
    world.paid.refresh_from_db()
    assert world.paid.refunded_amount == REFUNDED  # nothing moved yet

    with pytest.raises(actions.FourEyes):
        actions.backoffice_action_approve(
            action_id=action.pk, actor=Actor.for_user(clerk), otp_token=fresh_code(clerk)
        )
    another_clerk = make_operator(roles.OPERATOR, username="clerk2")
    with pytest.raises(actions.NotAllowed):
        actions.backoffice_action_approve(
            action_id=action.pk,
            actor=Actor.for_user(another_clerk),
            otp_token=fresh_code(another_clerk),
        )
    world.paid.refresh_from_db()
    assert world.paid.refunded_amount == REFUNDED

    done = actions.backoffice_action_approve(
        action_id=action.pk, actor=Actor.for_user(approver), otp_token=fresh_code(approver)
    )

    assert done.status == BackOfficeAction.Status.DONE and done.decided_by == approver
    world.paid.refresh_from_db()
    assert world.paid.status == Payment.Status.REFUNDED
    refund_event = AuditEvent.objects.get(action="payment.refund")
    assert refund_event.actor == approver
    assert AuditEvent.objects.filter(action="backoffice_action.approve", actor=approver).exists()


def test_a_rejection_needs_a_reason_and_moves_nothing(world, clerk, approver):
    action = actions.backoffice_action_request(
        kind=Kind.VOID,
        payment_id=world.authorized.pk,
        reason="duplicate authorization",
        actor=Actor.for_user(clerk),
        otp_token=fresh_code(clerk),
    )  # 7,654.32 EUR: above the limit
    assert action.status == BackOfficeAction.Status.PENDING
    with pytest.raises(actions.ReasonRequired):
        actions.backoffice_action_reject(
            action_id=action.pk,
            actor=Actor.for_user(approver),
            reason="",
            otp_token=fresh_code(approver),
        )

    actions.backoffice_action_reject(
        action_id=action.pk,
        actor=Actor.for_user(approver),
        reason="the customer still wants it",
        otp_token=fresh_code(approver),
    )

    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.REJECTED
    world.authorized.refresh_from_db()
    assert world.authorized.status == Payment.Status.AUTHORIZED
    with pytest.raises(services.InvalidState):
        actions.backoffice_action_approve(
            action_id=action.pk, actor=Actor.for_user(approver), otp_token=fresh_code(approver)
        )


def test_voiding_an_authorization_under_the_limit_releases_the_hold(world, clerk, settings):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 10_000
    actions.backoffice_action_request(
        kind=Kind.VOID,
        payment_id=world.authorized.pk,
        reason="customer asked",
        actor=Actor.for_user(clerk),
        otp_token=fresh_code(clerk),
    )
    world.authorized.refresh_from_db()
    assert world.authorized.status == Payment.Status.VOIDED
    world.debtor.refresh_from_db()
    assert world.debtor.held == 0
    assert AuditEvent.objects.get(action="payment.void").actor == clerk
    assert AUTHORIZED  # the amount the limit was raised above


def test_an_approved_action_the_payment_no_longer_allows_ends_failed(world, clerk, approver):
    action = actions.backoffice_action_request(
        kind=Kind.VOID,
        payment_id=world.authorized.pk,
        reason="duplicate",
        actor=Actor.for_user(clerk),
        otp_token=fresh_code(clerk),
    )
    services.payment_capture(payment_id=world.authorized.pk)

    actions.backoffice_action_approve(
        action_id=action.pk, actor=Actor.for_user(approver), otp_token=fresh_code(approver)
    )

    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.FAILED
    assert "completed" in action.outcome
    world.authorized.refresh_from_db()
    assert world.authorized.status == Payment.Status.COMPLETED


def test_a_failed_webhook_delivery_is_retried(world, clerk, django_capture_on_commit_callbacks):
    WebhookDelivery.objects.filter(pk=world.delivery.pk).update(
        status=WebhookDelivery.Status.FAILED, next_attempt_at=None
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        action = actions.backoffice_action_request(
            kind=Kind.WEBHOOK_RETRY,
            delivery_id=world.delivery.pk,
            reason="the merchant fixed its endpoint",
            actor=Actor.for_user(clerk),
            otp_token=fresh_code(clerk),
        )
    assert action.status == BackOfficeAction.Status.DONE
    world.delivery.refresh_from_db()
    assert world.delivery.status == WebhookDelivery.Status.PENDING
    assert world.delivery.next_attempt_at is not None
    assert callbacks  # enqueued after commit
    assert AuditEvent.objects.get(action="webhook_delivery.retry").actor == clerk

    with pytest.raises(services.InvalidState):  # pending now: nothing to retry
        actions.backoffice_action_request(
            kind=Kind.WEBHOOK_RETRY,
            delivery_id=world.delivery.pk,
            reason="again",
            actor=Actor.for_user(clerk),
            otp_token=fresh_code(clerk),
        )


def test_a_mistaken_batch_payment_is_reversed(world, clerk, approver):
    batch_id = uuid.uuid4()
    ((payment_id, refused),) = batch_orders.payments_create_for_batch(
        merchant=world.merchant,
        batch_id=batch_id,
        orders=[
            batch_orders.BatchPaymentOrder(
                batch_row=1,
                debtor_id=world.debtor.pk,
                creditor_id=world.creditor.pk,
                amount=300_000,
                currency="EUR",
                reference="salary March (twice)",
            )
        ],
    )
    assert refused is None
    action = actions.backoffice_action_request(
        kind=Kind.REVERSE,
        payment_id=payment_id,
        reason="row paid twice",
        actor=Actor.for_user(clerk),
        otp_token=fresh_code(clerk),
    )  # 3,000.00 EUR: waits
    actions.backoffice_action_approve(
        action_id=action.pk, actor=Actor.for_user(approver), otp_token=fresh_code(approver)
    )

    payment = Payment.objects.get(pk=payment_id)
    assert payment.status == Payment.Status.REFUNDED and payment.refunded_amount == 300_000
    reversal = LedgerTransaction.objects.get(reverses_id=payment.ledger_transaction_id)
    assert reversal.kind == LedgerTransaction.Kind.REVERSAL
    assert AuditEvent.objects.get(action="payment.reverse").actor == approver


def test_a_real_time_payment_is_refunded_not_reversed(world, clerk):
    with pytest.raises(services.InvalidState):
        actions.backoffice_action_request(
            kind=Kind.REVERSE,
            payment_id=world.paid.pk,
            reason="mistake",
            actor=Actor.for_user(clerk),
            otp_token=fresh_code(clerk),
        )
    assert not BackOfficeAction.objects.exists()


def test_the_database_refuses_an_action_approved_by_its_asker(world, clerk):
    with pytest.raises(IntegrityError), transaction.atomic():
        BackOfficeAction.objects.create(
            kind=Kind.REFUND,
            payment=world.paid,
            amount=100,
            currency="EUR",
            reason="x",
            requested_by=clerk,
            decided_by=clerk,
        )
