"""Returns (pacs.004) on both sides: the back office of the receiving bank sends a transfer
back; the sending bank gives its debtor the money back, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.identity.audit import Actor
from accounts.identity.models import AuditEvent
from accounts.ledger.errors import InsufficientFunds
from accounts.models import Account
from clearing import documents, returns, services, transport
from clearing.iso import builders, validation
from clearing.models import Message
from outbox.models import OutboxJob
from payments.models import Payment, WebhookDelivery
from tests.clearing.test_outbound import FakePeer, _pay


def _received(peer, shop, amount=2500) -> Payment:
    transfer = peer.transfer(shop.account.number, amount=amount)
    assert peer.post(builders.pacs008(transfer)).status_code == 200
    return Payment.objects.get(uetr=transfer.uetr, direction="incoming")


def test_the_back_office_returns_a_received_transfer(peer, shop, monkeypatch):
    payment = _received(peer, shop)
    clearing = services.clearing_account(peer=peer.peer, currency="EUR")
    assert Account.objects.get(pk=clearing.pk).balance == -2500

    returned = returns.clearing_return_send(
        payment_id=payment.pk, reason="AC04", actor=Actor.system("back office")
    )
    assert returned.status == "returned"
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000
    assert Account.objects.get(pk=clearing.pk).balance == 0
    assert services.position(peer=peer.peer, currency="EUR") == 0
    sent = Message.objects.get(kind="pacs.004.001.09")
    assert (sent.direction, sent.status, sent.reason_code) == ("out", "pending", "AC04")
    validation.validate(bytes(sent.body), expect="pacs.004.001.09")
    assert AuditEvent.objects.filter(action="clearing.return", target_id=str(payment.pk)).exists()
    row = OutboxJob.objects.get(key=f"clearing.send:{sent.pk}")

    # Delivered by the outbox: the peer takes it (202); until then it stays pending.
    calls = []

    def peer_takes(*, peer, body, sender_bic):
        calls.append(body)
        return transport.Answer(status=202, body=b"", content_type="")

    monkeypatch.setattr(transport, "post", peer_takes)
    assert documents.deliver(int(row.args[0])) == "delivered"
    assert Message.objects.get(pk=sent.pk).status == "sent"
    assert documents.deliver(int(row.args[0])) == "delivered already"
    assert len(calls) == 1

    # Returned once: a second return is refused and changes nothing.
    with pytest.raises(services.ClearingError):
        returns.clearing_return_send(payment_id=payment.pk, reason="AC04", actor=Actor.system("x"))
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000


def test_a_return_of_money_already_spent_is_refused_and_changes_nothing(peer, shop):
    payment = _received(peer, shop, amount=2500)
    Account.objects.filter(pk=shop.account.pk).update(balance=1000)  # spent (a test shortcut)
    with pytest.raises(InsufficientFunds):
        returns.clearing_return_send(payment_id=payment.pk, reason="AC04", actor=Actor.system("x"))
    assert Payment.objects.get(pk=payment.pk).status == "completed"
    assert not Message.objects.filter(kind="pacs.004.001.09").exists()


def test_clearing_return_command(peer, shop, capsys):
    payment = _received(peer, shop)
    call_command("clearing_return", "--payment", str(payment.pk), "--reason", "MS03")
    import json

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["status"] == "returned" and printed["id"] == str(payment.pk)
    with pytest.raises(Exception, match="not a return reason"):
        call_command("clearing_return", "--payment", str(payment.pk), "--reason", "XXXX")


@pytest.fixture
def sent(peer, shop, monkeypatch):
    """A transfer this hub sent to the peer, completed."""
    fake = FakePeer(peer)
    monkeypatch.setattr(transport, "post", fake)
    shop.merchant.webhook_url = "https://shop.test/hooks"
    shop.merchant.save(update_fields=["webhook_url"])
    body = _pay(shop, peer, amount="12.50").json()
    assert body["status"] == "completed"
    return Payment.objects.get(pk=body["id"])


def _return_doc(peer, payment, *, amount=None, msg_id=None, uetr=None) -> bytes:
    return builders.pacs004(
        builders.Return(
            msg_id=msg_id or builders.new_msg_id(),
            created_at=timezone.now(),
            sender=peer.bic,
            receiver=services.hub_bic(),
            original_msg_id=payment.clearing["message_id"],
            uetr=uetr or payment.uetr,
            end_to_end_id=payment.end_to_end_id,
            instruction_id="",
            amount=amount or payment.amount,
            currency="EUR",
            reason_code="AC06",
        )
    )


def test_a_return_gives_the_debtor_the_money_back_once(peer, shop, sent):
    clearing = services.clearing_account(peer=peer.peer, currency="EUR")
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000 - 1250
    body = _return_doc(peer, sent)
    assert peer.post(body).status_code == 202
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000
    assert Account.objects.get(pk=clearing.pk).balance == 0
    payment = Payment.objects.get(pk=sent.pk)
    assert payment.status == "returned" and payment.clearing["return_reason"] == "AC06"
    assert WebhookDelivery.objects.filter(payment=payment, event_type="payment.returned").exists()
    api = shop.client.get(f"/api/v1/payments/{payment.pk}/").json()
    assert api["status"] == "returned"
    # The same return again (a resend): taken, applied once.
    assert peer.post(body).status_code == 202
    assert Account.objects.get(pk=shop.account.pk).balance == 100_000


def test_returns_that_do_not_fit_are_refused(peer, shop, sent):
    import uuid

    before = Account.objects.get(pk=shop.account.pk).balance
    unknown = peer.post(_return_doc(peer, sent, uetr=uuid.uuid4()))
    assert unknown.status_code == 404
    partial = peer.post(_return_doc(peer, sent, amount=100))
    assert partial.status_code == 400 and partial.json()["code"] == "partial_return"
    assert Account.objects.get(pk=shop.account.pk).balance == before
    assert Payment.objects.get(pk=sent.pk).status == "completed"
