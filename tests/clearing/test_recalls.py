"""Recalls on both sides: the merchant asks for a completed transfer back (camt.056); the
receiving bank's back office accepts (pacs.004, FOCR) or refuses (camt.029)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.identity.audit import Actor
from accounts.models import Account
from clearing import recalls, services
from clearing.iso import builders, readers, validation
from clearing.models import Message
from payments.models import Payment, WebhookDelivery
from tests.clearing.test_returns import _received, _return_doc, sent  # noqa: F401 - fixture


def _events(payment) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(payment=payment)
        .order_by("created_at")
        .values_list("event_type", flat=True)
    )


def _recall(shop, payment, reason="DUPL"):
    return shop.client.post(
        f"/api/v1/payments/{payment.pk}/recall/", {"reason": reason}, format="json"
    )


def test_the_merchant_recalls_and_the_peer_returns_the_money(peer, shop, sent):  # noqa: F811
    response = _recall(shop, sent)
    assert response.status_code == 200, response.content
    assert response.json()["recall"] == {"status": "requested", "reason": "DUPL"}
    request = Message.objects.get(kind="camt.056.001.08")
    assert (request.direction, request.status) == ("out", "pending")
    _kind, root, _doc = validation.validate(bytes(request.body), expect="camt.056.001.08")
    assert readers.camt056(root).uetr == sent.uetr
    assert _recall(shop, sent).status_code == 409  # one open recall at a time

    # The peer accepts: its pacs.004 (FOCR) gives the money back.
    assert peer.post(_return_doc(peer, sent)).status_code == 202
    payment = Payment.objects.get(pk=sent.pk)
    assert payment.status == "returned"
    assert payment.recall["status"] == "accepted"
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000
    assert _events(payment)[-2:] == ["payment.returned", "payment.recall_accepted"]


def test_the_peer_refuses_the_recall(peer, shop, sent):  # noqa: F811
    assert _recall(shop, sent, reason="FRAD").status_code == 200
    refusal = builders.camt029(
        builders.Recall(
            msg_id=builders.new_msg_id(),
            created_at=timezone.now(),
            sender=peer.bic,
            receiver=services.hub_bic(),
            case_id="case-1",
            case_creator=services.hub_bic(),
            original_msg_id=sent.clearing["message_id"],
            uetr=sent.uetr,
            end_to_end_id=sent.end_to_end_id,
            amount=sent.amount,
            currency="EUR",
            reason_code="CUST",
        )
    )
    assert peer.post(refusal).status_code == 202
    payment = Payment.objects.get(pk=sent.pk)
    assert payment.status == "completed"
    assert payment.recall == {"status": "refused", "reason": "FRAD", "refusal_reason": "CUST"}
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000 - 1250
    assert _events(payment)[-1] == "payment.recall_rejected"
    api = shop.client.get(f"/api/v1/payments/{payment.pk}/").json()
    assert api["recall"]["status"] == "refused"
    # The same answer again changes nothing more.
    assert peer.post(refusal).status_code == 202
    assert _events(payment).count("payment.recall_rejected") == 1


def test_what_cannot_be_recalled(peer, shop, sent):  # noqa: F811
    assert _recall(shop, sent, reason="WHIM").status_code == 400
    payee = Account.objects.create(number="LOCAL-1", currency="EUR")
    on_us = shop.client.post(
        "/api/v1/payments/",
        {
            "debtor_account": shop.account.number,
            "creditor_account": payee.number,
            "amount": "1.00",
            "currency": "EUR",
        },
        format="json",
    ).json()
    assert (
        shop.client.post(
            f"/api/v1/payments/{on_us['id']}/recall/", {"reason": "DUPL"}, format="json"
        ).status_code
        == 409
    )
    assert not Message.objects.filter(kind="camt.056.001.08").exists()


@pytest.fixture
def recalled(peer, shop):
    """A transfer this hub received, which its sender now recalls."""
    payment = _received(peer, shop)
    request = builders.camt056(
        builders.Recall(
            msg_id=builders.new_msg_id(),
            created_at=timezone.now(),
            sender=peer.bic,
            receiver=services.hub_bic(),
            case_id="case-7",
            case_creator=peer.bic,
            original_msg_id="m",
            uetr=payment.uetr,
            end_to_end_id=payment.end_to_end_id,
            amount=payment.amount,
            currency="EUR",
            reason_code="DUPL",
        )
    )
    first = peer.post(request)
    assert first.status_code == 200  # answered at once: pending (camt.029 PDCR)
    _kind, root, _doc = validation.validate(first.content, expect="camt.029.001.09")
    answer = readers.camt029(root)
    assert (answer.case_id, answer.status, answer.reason_code) == ("case-7", "PDCR", "")
    again = peer.post(request)  # the same request again: the same answer, taken once
    assert (again.status_code, again.content) == (200, first.content)
    assert Message.objects.filter(kind="camt.056.001.08", direction="in").count() == 1
    assert Message.objects.filter(kind="camt.029.001.09", direction="out").count() == 1
    return Payment.objects.get(pk=payment.pk)


def test_the_back_office_accepts_a_recall(recalled, shop):
    assert recalled.recall["status"] == "requested"
    answered = recalls.clearing_recall_answer(
        payment_id=recalled.pk, accept=True, actor=Actor.system("back office")
    )
    assert answered.status == "returned" and answered.recall["status"] == "accepted"
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000
    ret = Message.objects.get(kind="pacs.004.001.09")
    assert ret.reason_code == "FOCR" and ret.status == "pending"
    with pytest.raises(services.ClearingError):
        recalls.clearing_recall_answer(payment_id=recalled.pk, accept=True, actor=Actor.system("x"))


def test_the_back_office_refuses_a_recall(recalled, shop):
    before = Account.objects.get(pk=shop.account.pk).balance
    with pytest.raises(services.ClearingError):
        recalls.clearing_recall_answer(
            payment_id=recalled.pk, accept=False, reason="WHIM", actor=Actor.system("x")
        )
    answered = recalls.clearing_recall_answer(
        payment_id=recalled.pk, accept=False, reason="CUST", actor=Actor.system("back office")
    )
    assert answered.status == "completed" and answered.recall["status"] == "refused"
    assert Account.objects.get(pk=shop.account.pk).balance == before
    refusal = Message.objects.get(kind="camt.029.001.09", reason_code="CUST")
    _kind, root, _doc = validation.validate(bytes(refusal.body), expect="camt.029.001.09")
    case = readers.camt029(root)
    assert (case.case_id, case.status, case.reason_code) == ("case-7", "RJCR", "CUST")
