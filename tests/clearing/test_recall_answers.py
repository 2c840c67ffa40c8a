"""A camt.056 is answered at once, 200, with a camt.029 (PDCR: pending its investigation);
the final answer follows (pacs.004 or camt.029 RJCR). The sender takes the 200's body."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.identity.audit import Actor
from clearing import documents, recalls, services, signing, transport
from clearing.iso import builders, readers, validation
from clearing.models import Message
from outbox.models import OutboxJob
from payments.models import Payment
from tests.clearing.test_recalls import _recall, recalled  # noqa: F401 - fixture
from tests.clearing.test_returns import _received, sent  # noqa: F401 - fixture


def _camt056(peer, payment, msg_id=None) -> bytes:
    return builders.camt056(
        builders.Recall(
            msg_id=msg_id or builders.new_msg_id(),
            created_at=timezone.now(),
            sender=peer.bic,
            receiver=services.hub_bic(),
            case_id="case-9",
            case_creator=peer.bic,
            original_msg_id="m",
            uetr=payment.uetr,
            end_to_end_id=payment.end_to_end_id,
            amount=payment.amount,
            currency="EUR",
            reason_code="FRAD",
        )
    )


def test_a_recall_of_a_transfer_returned_already_is_refused_at_once(peer, shop):
    payment = _received(peer, shop)
    from clearing import returns

    returns.clearing_return_send(payment_id=payment.pk, reason="AC04", actor=Actor.system("x"))
    response = peer.post(_camt056(peer, payment))
    assert response.status_code == 200
    _kind, root, _doc = validation.validate(response.content, expect="camt.029.001.09")
    case = readers.camt029(root)
    assert (case.status, case.reason_code) == ("RJCR", "ARDT")
    assert Payment.objects.get(pk=payment.pk).recall is None  # nothing to decide


def test_the_final_refusal_follows_the_pending_answer(recalled, peer):  # noqa: F811
    recalls.clearing_recall_answer(
        payment_id=recalled.pk, accept=False, reason="LEGL", actor=Actor.system("back office")
    )
    answers = Message.objects.filter(kind="camt.029.001.09", direction="out").order_by("id")
    assert [m.reason_code for m in answers] == ["PDCR", "LEGL"]
    final = readers.camt029(validation.parse_xml(bytes(answers[1].body)))
    assert (final.case_id, final.status) == ("case-7", "RJCR")


class Answering:
    """The other bank at the end of transport.post, answering a camt.056 with `answer`."""

    def __init__(self, bank, status="PDCR", reason=""):
        self.bank, self.status, self.reason = bank, status, reason
        self.body: bytes | None = None

    def __call__(self, *, peer, body, sender_bic):
        signing.sign(url=transport.inbox_url(peer), body=body, key_id=sender_bic)
        if self.body is not None:
            return transport.Answer(status=200, body=self.body, content_type="application/xml")
        _kind, root, _doc = validation.validate(body, expect="camt.056.001.08")
        case = readers.camt056(root)
        answer = builders.camt029(
            builders.Recall(
                msg_id=builders.new_msg_id(),
                created_at=timezone.now(),
                sender=self.bank.bic,
                receiver=sender_bic,
                case_id=case.case_id,
                case_creator=sender_bic,
                original_msg_id="m",
                uetr=case.uetr,
                end_to_end_id="e",
                amount=1250,
                currency="EUR",
                reason_code=self.reason,
            ),
            status=self.status,
        )
        return transport.Answer(status=200, body=answer, content_type="application/xml")


def _deliver_camt056() -> str:
    message = Message.objects.get(kind="camt.056.001.08", direction="out")
    row = OutboxJob.objects.get(key=f"clearing.send:{message.pk}")
    return documents.deliver(int(row.args[0]))


def test_the_sender_takes_a_pending_answer_and_waits(peer, shop, sent, monkeypatch):  # noqa: F811
    assert _recall(shop, sent).status_code == 200
    monkeypatch.setattr(transport, "post", Answering(peer))
    assert _deliver_camt056() == "delivered"
    pending = Message.objects.get(kind="camt.029.001.09", direction="in")
    assert pending.reason_code == "PDCR" and pending.payment_id == sent.pk
    assert Payment.objects.get(pk=sent.pk).recall["status"] == "requested"
    assert Message.objects.get(kind="camt.056.001.08").status == "sent"


def test_the_sender_takes_an_immediate_refusal(peer, shop, sent, monkeypatch):  # noqa: F811
    assert _recall(shop, sent).status_code == 200
    monkeypatch.setattr(transport, "post", Answering(peer, status="RJCR", reason="NOOR"))
    assert _deliver_camt056() == "delivered"
    recall = Payment.objects.get(pk=sent.pk).recall
    assert (recall["status"], recall["refusal_reason"]) == ("refused", "NOOR")


@pytest.mark.parametrize(
    "body",
    [
        b"<not-xml",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>',
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.029.001.09"><RsltnOfInvstgtn/></Document>',
    ],
)
def test_an_answer_that_is_no_camt029_is_no_answer(peer, shop, sent, monkeypatch, body):  # noqa: F811
    assert _recall(shop, sent).status_code == 200
    fake = Answering(peer)
    fake.body = body
    monkeypatch.setattr(transport, "post", fake)
    with pytest.raises(transport.TransportError):
        _deliver_camt056()
    message = Message.objects.get(kind="camt.056.001.08")
    assert message.status == "pending" and "not a valid" in message.last_error
    assert not Message.objects.filter(kind="camt.029.001.09").exists()
    assert Payment.objects.get(pk=sent.pk).recall["status"] == "requested"
