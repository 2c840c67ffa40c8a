"""Returns and recall answers are back-office decisions through the one gate: role by grant,
a fresh code, a Decision row, audited; above BACKOFFICE_SECOND_APPROVAL_ABOVE a second,
different person approves before any money moves, and it moves once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.identity import gate, roles
from accounts.identity.audit import Actor
from accounts.identity.models import AuditEvent, Decision
from accounts.ledger.errors import InvalidState, LedgerError
from accounts.models import Account, LedgerTransaction
from clearing.iso import builders
from clearing.models import Message
from payments import actions
from payments.models import BackOfficeAction, Payment
from tests.clearing.test_recalls import recalled  # noqa: F401 - fixture
from tests.clearing.test_returns import _received
from tests.helpers import fresh_code, grant, make_operator, otp_login, signed

Kind = BackOfficeAction.Kind


@pytest.fixture
def clerk(db):
    return make_operator(roles.OPERATOR, username="clerk")


@pytest.fixture
def approver(db):
    return make_operator(roles.OPERATOR, roles.APPROVER, username="approver")


def _ask(user, payment, kind=Kind.CLEARING_RETURN, reason_code="AC04", **extra):
    return actions.backoffice_action_request(
        kind=kind,
        payment_id=payment.pk,
        reason="customer's account closed",
        reason_code=reason_code,
        actor=Actor.for_user(user, ip="10.0.0.9"),
        otp_token=fresh_code(user),
        **extra,
    )


def _balance(account) -> int:
    return Account.objects.get(pk=account.pk).balance


def test_under_the_limit_one_signed_decision_returns_the_transfer(peer, shop, clerk, settings):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 1000
    payment = _received(peer, shop, amount=2500)
    action = _ask(clerk, payment)

    assert action.status == BackOfficeAction.Status.DONE
    assert action.reason_code == "AC04" and "pacs.004" in action.outcome
    assert Payment.objects.get(pk=payment.pk).status == "returned"
    assert _balance(shop.account) == 100_000
    sent = Message.objects.get(kind="pacs.004.001.09")
    assert (sent.reason_code, sent.status) == ("AC04", "pending")
    decision = Decision.objects.get(subject_id=str(action.pk))
    assert (decision.user, decision.verdict) == (clerk, "initiate")
    event = AuditEvent.objects.get(action="clearing.return", target_id=str(payment.pk))
    assert event.actor == clerk and event.detail["backoffice_action"] == str(action.pk)


def test_above_the_limit_a_return_waits_for_a_second_different_person(
    peer, shop, clerk, approver, settings
):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 10  # 25.00 is above
    payment = _received(peer, shop, amount=2500)
    action = _ask(clerk, payment)
    assert action.status == BackOfficeAction.Status.PENDING
    assert Payment.objects.get(pk=payment.pk).status == "completed"
    assert _balance(shop.account) == 102_500
    assert not Message.objects.filter(kind="pacs.004.001.09").exists()

    # The asker cannot approve it, even holding the approver's role.
    actions_before = LedgerTransaction.objects.count()
    grant(clerk, roles.APPROVER)
    with pytest.raises(actions.FourEyes):
        actions.backoffice_action_approve(
            action_id=action.pk, actor=Actor.for_user(clerk), otp_token=fresh_code(clerk)
        )
    # Nor can another answer about the same transfer be asked while this one waits.
    with pytest.raises(InvalidState):
        _ask(approver, payment, reason_code="MS03")

    done = actions.backoffice_action_approve(
        action_id=action.pk, actor=Actor.for_user(approver), otp_token=fresh_code(approver)
    )
    assert done.status == BackOfficeAction.Status.DONE and done.decided_by == approver
    assert Payment.objects.get(pk=payment.pk).status == "returned"
    assert _balance(shop.account) == 100_000
    assert LedgerTransaction.objects.count() == actions_before + 1
    assert Decision.objects.filter(subject_id=str(action.pk)).count() == 2

    # Approved once: the money moved once.
    with pytest.raises(InvalidState):
        actions.backoffice_action_approve(
            action_id=action.pk, actor=Actor.for_user(approver), otp_token=fresh_code(approver)
        )
    assert Message.objects.filter(kind="pacs.004.001.09").count() == 1
    assert LedgerTransaction.objects.count() == actions_before + 1


def test_refusals_record_nothing_but_the_spent_code(peer, shop, clerk, settings):
    payment = _received(peer, shop)
    with pytest.raises(LedgerError, match="return's reason"):
        _ask(clerk, payment, reason_code="WHIM")
    with pytest.raises(LedgerError, match="no recall"):
        _ask(clerk, payment, kind=Kind.RECALL_ACCEPT, reason_code="")
    # A received transfer is returned to its bank, never refunded into the clearing account.
    with pytest.raises(InvalidState, match="returned to that bank"):
        _ask(clerk, payment, kind=Kind.REFUND, reason_code="")
    # Only the payments staff or the back office ask (a role granted to the person).
    with pytest.raises(actions.NotAllowed):
        _ask(make_operator(roles.APPROVER, username="only-approves"), payment)
    assert not BackOfficeAction.objects.exists()
    assert Payment.objects.get(pk=payment.pk).status == "completed"
    assert not Message.objects.filter(direction="out").exclude(kind="pacs.002.001.10").exists()


def test_a_wrong_code_is_refused(peer, shop, clerk):
    payment = _received(peer, shop)
    with pytest.raises(gate.CodeRefused):
        actions.backoffice_action_request(
            kind=Kind.CLEARING_RETURN,
            payment_id=payment.pk,
            reason="x",
            reason_code="AC04",
            actor=Actor.for_user(clerk),
            otp_token="000000",
        )
    assert not BackOfficeAction.objects.exists()


def test_a_recall_is_accepted_through_the_gate(recalled, shop, clerk, approver, settings):  # noqa: F811
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 10
    action = _ask(clerk, recalled, kind=Kind.RECALL_ACCEPT, reason_code="")
    assert action.status == BackOfficeAction.Status.PENDING
    assert Payment.objects.get(pk=recalled.pk).recall["status"] == "requested"
    actions.backoffice_action_approve(
        action_id=action.pk, actor=Actor.for_user(approver), otp_token=fresh_code(approver)
    )
    payment = Payment.objects.get(pk=recalled.pk)
    assert (payment.status, payment.recall["status"]) == ("returned", "accepted")
    assert Message.objects.get(kind="pacs.004.001.09").reason_code == "FOCR"
    assert _balance(shop.account) == 100_000


def test_a_recall_is_refused_through_the_gate(recalled, shop, clerk, settings):  # noqa: F811
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 1000
    action = _ask(clerk, recalled, kind=Kind.RECALL_REFUSE, reason_code="CUST")
    assert action.status == BackOfficeAction.Status.DONE
    payment = Payment.objects.get(pk=recalled.pk)
    assert (payment.status, payment.recall["status"]) == ("completed", "refused")
    assert (
        Message.objects.filter(kind="camt.029.001.09", direction="out", reason_code="CUST").count()
        == 1
    )
    assert AuditEvent.objects.get(action="clearing.recall_answer").actor == clerk


def test_the_admin_returns_a_received_transfer(peer, shop, client, settings):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 1000
    user = make_operator(roles.OPERATOR, username="desk", is_staff=True, is_superuser=True)
    otp_login(client, user)
    payment = _received(peer, shop)
    page = client.get(f"/admin/payments/payment/{payment.pk}/change/")
    assert b"kind=clearing_return" in page.content
    form = client.get(f"/admin/payments/payment/{payment.pk}/act/?kind=clearing_return")
    assert b'name="reason_code"' in form.content
    response = client.post(
        f"/admin/payments/payment/{payment.pk}/act/",
        signed(user, kind="clearing_return", reason="closed", reason_code="ac04"),
    )
    assert response.status_code == 302
    assert Payment.objects.get(pk=payment.pk).status == "returned"
    assert BackOfficeAction.objects.get().reason_code == "AC04"


def test_a_transfer_into_an_account_without_a_merchant_is_recorded_and_returnable(
    peer, other_account, clerk, settings
):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 1000
    transfer = peer.transfer(other_account.number, amount=4000)
    assert peer.post(builders.pacs008(transfer)).status_code == 200
    payment = Payment.objects.get(uetr=transfer.uetr)
    assert payment.merchant_id is None and payment.direction == "incoming"
    assert (payment.status, payment.creditor_account_id) == ("completed", other_account.pk)
    assert _balance(other_account) == 4000

    action = _ask(clerk, payment, reason_code="AC04")
    assert action.status == BackOfficeAction.Status.DONE
    assert Payment.objects.get(pk=payment.pk).status == "returned"
    assert _balance(other_account) == 0
    assert Message.objects.filter(kind="pacs.004.001.09", payment=payment).count() == 1


def test_an_approved_return_the_account_cannot_pay_fails_and_moves_nothing(
    peer, shop, clerk, approver, settings
):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 10
    payment = _received(peer, shop, amount=2500)
    action = _ask(clerk, payment)
    Account.objects.filter(pk=shop.account.pk).update(balance=1000)  # spent (a test shortcut)
    done = actions.backoffice_action_approve(
        action_id=action.pk, actor=Actor.for_user(approver), otp_token=fresh_code(approver)
    )
    assert done.status == BackOfficeAction.Status.FAILED and done.outcome
    assert Payment.objects.get(pk=payment.pk).status == "completed"
    assert _balance(shop.account) == 1000
    assert not Message.objects.filter(kind="pacs.004.001.09").exists()
    assert AuditEvent.objects.filter(action="backoffice_action.fail").exists()


def test_the_dashboard_page_answers_the_bank_not_a_refund(recalled, client, settings):  # noqa: F811
    """A received transfer's page offers a return and the recall's two answers, with the
    reasons the scheme allows; no refund. The refusal asked there is done through the gate."""
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 1000
    user = make_operator(roles.OPERATOR, username="desk")
    otp_login(client, user)
    page = client.get(reverse("payments:detail", args=[recalled.pk])).content.decode()
    assert 'id="return-form"' in page and 'id="recall-accept-form"' in page
    assert 'id="recall-refuse-form"' in page and 'id="refund-form"' not in page
    assert "<option>AC04</option>" in page and "<option>LEGL</option>" in page

    response = client.post(
        reverse("payments:action", args=[recalled.pk]),
        signed(user, kind="recall_refuse", reason="customer says no", reason_code="legl"),
    )
    assert response.status_code == 302
    payment = Payment.objects.get(pk=recalled.pk)
    assert (payment.status, payment.recall["status"]) == ("completed", "refused")
    assert BackOfficeAction.objects.get().reason_code == "LEGL"
    page = client.get(reverse("payments:detail", args=[recalled.pk])).content.decode()
    assert 'id="return-form"' in page and 'id="recall-accept-form"' not in page


def test_the_dashboard_page_offers_no_answer_for_a_payment_of_this_hub(shop, client):
    user = make_operator(roles.OPERATOR, username="desk")
    otp_login(client, user)
    paid = shop.pay("10.00")
    assert paid.status_code == 201 and paid.json()["status"] == "completed"
    page = client.get(reverse("payments:detail", args=[paid.json()["id"]])).content.decode()
    assert 'id="refund-form"' in page and 'id="return-form"' not in page
