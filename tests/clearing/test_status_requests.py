"""Status requests (pacs.028.001.03): the receiver repeats the answer it gave first, and binds
itself to a refusal of a transfer it never received; the sender asks instead of resending
blindly once a transfer has waited long, and applies the answer like a pacs.002."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from accounts.models import Account
from clearing import outbound, signing, status_requests, transport
from clearing.iso import builders, readers, validation
from clearing.iso.status_request import PACS028, StatusRequest, pacs028, read
from clearing.models import Message
from outbox.models import OutboxJob
from payments.models import Payment
from tests.clearing.conftest import iban
from tests.clearing.test_outbound import FakePeer, _pay


def _request(peer, *, uetr, original_msg_id="orig-1", sender=None, msg_id=None) -> bytes:
    return pacs028(
        StatusRequest(
            msg_id=msg_id or builders.new_msg_id(),
            created_at=timezone.now(),
            sender=sender or peer.bic,
            receiver="PYHBDEFFXXX",
            original_msg_id=original_msg_id,
            original_created_at=timezone.now(),
            uetr=uetr,
            end_to_end_id="E2E-PEER-1",
            instruction_id="INSTR-1",
        )
    )


def _status(content: bytes) -> readers.StatusReport:
    _kind, root, _doc = validation.validate(content, expect="pacs.002.001.10")
    return readers.pacs002(root)


def test_the_builder_writes_a_schema_valid_request(peer):
    body = _request(peer, uetr=uuid.uuid4())
    kind, root, _doc = validation.validate(body, expect=PACS028)
    request = read(root)
    assert (request.transactions, request.original_msg_id, request.instructing_agent) == (
        1,
        "orig-1",
        peer.bic,
    )


def test_a_received_transfer_is_answered_as_first(peer, shop):
    credited = peer.transfer(shop.account.number)
    first = peer.post(builders.pacs008(credited))
    unknown = peer.transfer(iban("DE", "370400440599999999"))
    refused = peer.post(builders.pacs008(unknown))
    assert _status(refused.content).reason_code == "AC01"

    asked = peer.post(_request(peer, uetr=credited.uetr, original_msg_id=credited.msg_id))
    assert (asked.status_code, asked.content) == (200, first.content)
    assert _status(asked.content).status == "ACSC"
    asked = peer.post(_request(peer, uetr=unknown.uetr))
    assert (asked.status_code, asked.content) == (200, refused.content)
    assert Account.objects.get(pk=shop.account.pk).balance == 102_500  # credited once


def test_a_transfer_never_received_is_refused_for_good(peer, shop):
    transfer = peer.transfer(shop.account.number)
    request = _request(peer, uetr=transfer.uetr, original_msg_id=transfer.msg_id)
    asked = peer.post(request)
    assert asked.status_code == 200
    report = _status(asked.content)
    assert (report.status, report.reason_code, report.uetr) == ("RJCT", "AG09", transfer.uetr)
    assert peer.post(request).content == asked.content  # the same request: the same answer
    assert Message.objects.filter(kind=PACS028, direction="in").count() == 1

    # The transfer arrives after all, in time: it gets the same refusal and is not credited.
    late = peer.post(builders.pacs008(transfer))
    assert (late.status_code, late.content) == (200, asked.content)
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000
    assert not Payment.objects.filter(uetr=transfer.uetr).exists()


def test_a_status_request_by_another_bank_than_the_signer_is_refused(peer, shop):
    transfer = peer.transfer(shop.account.number)
    response = peer.post(_request(peer, uetr=transfer.uetr, sender="OTHRDEFFXXX"))
    assert (response.status_code, response.json()["code"]) == (403, "agent_not_signer")
    assert not Message.objects.exists()
    # Nothing was bound: the transfer itself is credited.
    assert _status(peer.post(builders.pacs008(transfer)).content).status == "ACSC"


@pytest.mark.parametrize(
    "mangle, status, code",
    [
        (lambda body: body, 401, "unsigned"),
        (lambda body: body.replace(b"<StsReqId>", b"<Bogus/><StsReqId>"), 400, "invalid_document"),
        (
            lambda body: (
                b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]>' + body.split(b"?>", 1)[1]
            ),
            400,
            "invalid_document",
        ),
    ],
)
def test_hostile_status_requests_change_nothing(peer, mangle, status, code):
    body = mangle(_request(peer, uetr=uuid.uuid4()))
    headers = {} if code == "unsigned" else None
    response = peer.post(body, headers)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not Message.objects.exists()


def test_a_replayed_status_request_is_refused(peer):
    body = _request(peer, uetr=uuid.uuid4())
    headers = peer.headers(body)
    assert peer.post(body, dict(headers)).status_code == 200
    assert peer.post(body, dict(headers)).status_code == 409
    assert Message.objects.filter(kind=PACS028).count() == 1


class AskedPeer(FakePeer):
    """A peer that also takes status requests (or, `takes_028` False, answers them 422)."""

    def __init__(self, bank):
        super().__init__(bank)
        self.requests: list = []
        self.takes_028 = True

    def __call__(self, *, peer, body, sender_bic):
        if b"FIToFIPmtStsReq" not in body:
            return super().__call__(peer=peer, body=body, sender_bic=sender_bic)
        signing.sign(url=transport.inbox_url(peer), body=body, key_id=sender_bic)
        _kind, root, _doc = validation.validate(body, expect=PACS028)
        request = read(root)
        self.requests.append(request)
        if not self.takes_028:
            return transport.Answer(status=422, body=b"{}", content_type="application/json")
        answer = self.answers.get(request.uetr) or builders.pacs002(
            builders.Status(
                msg_id=builders.new_msg_id(),
                created_at=timezone.now(),
                sender=self.bank.bic,
                receiver=sender_bic,
                original_msg_id=request.original_msg_id,
                original_kind=builders.PACS008,
                uetr=request.uetr,
                end_to_end_id=request.end_to_end_id,
                instruction_id=request.instruction_id,
                accepted=False,
                reason_code="AG09",
            )
        )
        return transport.Answer(status=200, body=answer, content_type="application/xml")


def _pending(peer, shop, monkeypatch, *, waited_seconds=30):
    fake = AskedPeer(peer)
    monkeypatch.setattr(transport, "post", fake)
    fake.down = True
    body = _pay(shop, peer).json()
    assert body["status"] == "pending"
    sent = Message.objects.get(kind="pacs.008.001.08", direction="out", payment_id=body["id"])
    # The clock of the asking module moves on: the transfer's pacs.008 (its CreDtTm) is now
    # `waited_seconds` old.
    later = datetime.timedelta(seconds=waited_seconds)

    class Later:
        @staticmethod
        def now():
            return timezone.now() + later

    monkeypatch.setattr(status_requests, "timezone", Later)
    row = OutboxJob.objects.get(key=f"clearing.send:{sent.pk}")
    fake.down = False
    return fake, body["id"], int(row.args[0])


def test_a_long_pending_transfer_is_asked_about_and_the_answer_applied(peer, shop, monkeypatch):
    fake, payment_id, message_id = _pending(peer, shop, monkeypatch)
    # The peer got the pacs.008 and credited it, but its answer never came back.
    fake(
        peer=peer.peer,
        body=bytes(Message.objects.get(pk=message_id).body),
        sender_bic="PYHBDEFFXXX",
    )
    received = len(fake.received)
    assert outbound.transfer_deliver(message_id) == "answered"
    assert len(fake.received) == received  # no pacs.008 posted again
    assert fake.requests and fake.requests[-1].uetr == Payment.objects.get(pk=payment_id).uetr
    assert Payment.objects.get(pk=payment_id).status == "completed"
    asked = Message.objects.get(kind=PACS028, direction="out")
    assert (asked.status, asked.answers_id) == ("sent", message_id)


def test_a_transfer_the_peer_never_received_is_reversed(peer, shop, monkeypatch):
    fake, payment_id, message_id = _pending(peer, shop, monkeypatch)
    assert outbound.transfer_deliver(message_id) == "answered"
    payment = Payment.objects.get(pk=payment_id)
    assert (payment.status, payment.failure_code) == ("failed", "AG09")
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000
    assert not fake.received  # never a pacs.008 to it


def test_before_the_delay_and_to_a_peer_without_pacs028_the_transfer_is_resent(
    peer, shop, monkeypatch
):
    fake, payment_id, message_id = _pending(peer, shop, monkeypatch, waited_seconds=2)
    Message.objects.filter(pk=message_id).update(attempts=1)
    assert outbound.transfer_deliver(message_id) == "answered"
    assert not fake.requests and len(fake.received) == 1
    assert Payment.objects.get(pk=payment_id).status == "completed"

    fake, payment_id, message_id = _pending(peer, shop, monkeypatch)
    fake.takes_028 = False
    assert outbound.transfer_deliver(message_id) == "answered"
    assert len(fake.requests) == 1 and len(fake.received) == 1
    assert Payment.objects.get(pk=payment_id).status == "completed"
