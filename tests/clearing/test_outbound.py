"""Transfers to another bank from the merchant's side, with the peer bank played by a fake
transport that checks our signature and our pacs.008 as the peer would, then answers."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Account
from clearing import keys, outbound, services, signing, transport
from clearing.iso import builders, readers, validation
from clearing.models import Message
from outbox.models import OutboxJob
from payments.models import Payment, WebhookDelivery


class FakePeer:
    """The other bank at the end of transport.post."""

    def __init__(self, peer_bank):
        self.bank = peer_bank
        self.verdict = "ACSC"
        self.reason = ""
        self.down = False
        self.lose_answer = False
        self.answers: dict = {}  # uetr -> the answer it gave first (as a real peer keeps it)
        self.received: list[readers.IncomingTransfer] = []
        self.roots: list = []

    def __call__(self, *, peer, body, sender_bic):
        url = transport.inbox_url(peer)
        headers = signing.sign(url=url, body=body, key_id=sender_bic)
        # What the peer checks: our signature with our published key, our document's schema.
        signing.verify(
            method="POST",
            url=url,
            headers=headers,
            body=body,
            public_keys={sender_bic: keys.parse_public_key(keys.public_key_b64())},
            max_age_seconds=300,
        )
        if self.down:
            raise transport.TransportError("connection refused")
        _kind, root, _doc = validation.validate(body, expect=builders.PACS008)
        transfer = readers.pacs008(root)
        self.received.append(transfer)
        self.roots.append(root)
        if transfer.uetr not in self.answers:
            self.answers[transfer.uetr] = builders.pacs002(
                builders.Status(
                    msg_id=builders.new_msg_id(),
                    created_at=timezone.now(),
                    sender=self.bank.bic,
                    receiver=sender_bic,
                    original_msg_id=transfer.msg_id,
                    original_kind=builders.PACS008,
                    uetr=transfer.uetr,
                    end_to_end_id=transfer.end_to_end_id,
                    instruction_id=transfer.instruction_id,
                    accepted=self.verdict == "ACSC",
                    reason_code=self.reason,
                )
            )
        if self.lose_answer:
            raise transport.TransportError("read timed out")
        return transport.Answer(
            status=200, body=self.answers[transfer.uetr], content_type="application/xml"
        )


@pytest.fixture
def fake(peer, monkeypatch):
    fake = FakePeer(peer)
    monkeypatch.setattr(transport, "post", fake)
    return fake


@pytest.fixture
def hooked(shop):
    shop.merchant.webhook_url = "https://shop.test/hooks"
    shop.merchant.save(update_fields=["webhook_url"])
    return shop


def _pay(shop, peer, amount="12.50", **extra):
    body = {
        "debtor_account": shop.account.number,
        "creditor_account": peer.customer_iban(),
        "amount": amount,
        "currency": "EUR",
        "reference": "invoice 42",
        "creditor_name": "Jean Dupont",
        "creditor_address": {
            "street": "Rue de Rivoli",
            "building_number": "10",
            "postcode": "75001",
            "town": "Paris",
            "country": "FR",
        },
        **extra,
    }
    return shop.client.post("/api/v1/payments/", body, format="json")


def _balances(shop, peer):
    shop.account.refresh_from_db()
    clearing = services.clearing_account(peer=peer.peer, currency="EUR")
    return shop.account.balance, clearing.balance


def test_a_transfer_to_another_bank_completes(fake, peer, hooked):
    response = _pay(hooked, peer)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "completed"
    assert body["direction"] == "outgoing"
    assert body["creditor_account"] == peer.customer_iban()
    assert body["creditor_agent"] == peer.bic
    assert body["clearing"]["status"] == "ACSC"
    assert body["clearing"]["peer_bic"] == peer.bic
    # Debited once, into the peer's clearing account: this hub owes the peer 12.50.
    assert _balances(hooked, peer) == (100_000 - 1250, 1250)
    assert services.position(peer=peer.peer, currency="EUR") == -1250
    # What went over the wire: an SCT Inst pacs.008 with everything the issue lists.
    (transfer,) = fake.received
    assert str(transfer.uetr) == body["clearing"]["uetr"]
    assert (transfer.amount, transfer.currency) == ("12.50", "EUR")
    assert (transfer.creditor_name, transfer.creditor_iban) == ("Jean Dupont", peer.customer_iban())
    assert transfer.debtor_iban == hooked.account.number
    assert transfer.remittance == "invoice 42"
    root = fake.roots[0]
    ns = {"n": "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"}
    assert root.findtext(".//n:SvcLvl/n:Cd", namespaces=ns) == "SEPA"
    assert root.findtext(".//n:LclInstrm/n:Cd", namespaces=ns) == "INST"
    assert root.findtext(".//n:ChrgBr", namespaces=ns) == "SLEV"
    assert root.findtext(".//n:Cdtr/n:PstlAdr/n:TwnNm", namespaces=ns) == "Paris"
    kinds = list(Message.objects.order_by("id").values_list("direction", "kind", "status"))
    assert kinds == [("out", "pacs.008.001.08", "accepted"), ("in", "pacs.002.001.10", "received")]
    events = WebhookDelivery.objects.filter(payment_id=body["id"]).values_list(
        "event_type", flat=True
    )
    assert list(events) == ["payment.completed"]


@pytest.mark.parametrize("reason", ["AC01", "AC04", "AC06"])
def test_a_rejection_gives_the_money_back_with_the_peers_reason(fake, peer, hooked, reason):
    fake.verdict, fake.reason = "RJCT", reason
    body = _pay(hooked, peer).json()
    assert body["status"] == "failed"
    assert body["failure_code"] == reason
    assert body["captured_amount"] == "0.00"
    assert body["clearing"]["reason_code"] == reason
    assert _balances(hooked, peer) == (100_000, 0)
    events = WebhookDelivery.objects.filter(payment_id=body["id"]).values_list(
        "event_type", flat=True
    )
    assert list(events) == ["payment.failed"]


def test_no_answer_keeps_the_payment_pending_with_its_funds_until_a_resend_settles_it(
    fake, peer, shop
):
    fake.down = True
    body = _pay(shop, peer).json()
    assert body["status"] == "pending"
    assert body["clearing"]["status"] == "PDNG"
    # The funds have left the debtor: they cannot be spent twice.
    assert _balances(shop, peer) == (100_000 - 1250, 1250)
    row = OutboxJob.objects.get(key__startswith="clearing.send:")
    assert row.done_at is None and row.due_at > timezone.now()

    # The peer got it, but its answer was lost: still pending, nothing guessed.
    fake.down, fake.lose_answer = False, True
    with pytest.raises(transport.TransportError):
        outbound.transfer_deliver(int(row.args[0]))
    assert Payment.objects.get(pk=body["id"]).status == "pending"

    # The resend gets the answer the peer gave first: completed once.
    fake.lose_answer = False
    assert outbound.transfer_deliver(int(row.args[0])) == "answered"
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "completed"
    assert len({transfer.uetr for transfer in fake.received}) == 1
    assert {transfer.msg_id for transfer in fake.received} == {fake.received[0].msg_id}
    assert _balances(shop, peer) == (100_000 - 1250, 1250)
    # Settled: a late run of the job sends nothing more.
    assert outbound.transfer_deliver(int(row.args[0])).startswith("settled")
    assert OutboxJob.objects.get(pk=row.pk).done_at is not None


def test_an_iban_no_peer_serves_is_refused_before_money_moves(fake, peer, shop):
    from tests.clearing.conftest import iban

    response = _pay(shop, peer, creditor_account=iban("IT", "X0542811101000000123456"))
    assert response.status_code == 400
    assert response.json()["code"] == "AC01"
    assert _balances(shop, peer) == (100_000, 0)
    assert Payment.objects.count() == 0 and fake.received == []


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (
            {"creditor_address": {"street": "Rue de Rivoli", "country": "FR"}},
            "creditor_address",
            "BE04",
        ),
        (
            {"creditor_address": {"address_lines": ["10 Rue de Rivoli, Paris"]}},
            "creditor_address",
            "BE04",
        ),
        ({"creditor_name": ""}, "creditor_name", None),
        ({"capture": False}, "capture", None),
        ({"creditor_agent": "OTHRDEFFXXX"}, "creditor_agent", None),
    ],
)
def test_what_a_transfer_to_another_bank_needs(fake, peer, shop, change, field, code):
    response = _pay(shop, peer, **change)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    if code:
        assert response.json()["code"] == code
    assert _balances(shop, peer) == (100_000, 0)
    assert Payment.objects.count() == 0 and fake.received == []


def test_insufficient_funds_fail_here_and_nothing_is_sent(fake, peer, shop):
    body = _pay(shop, peer, amount="5000.00").json()
    assert body["status"] == "failed"
    assert body["failure_code"] == "insufficient_funds"
    assert body["clearing"] is None
    assert fake.received == [] and Message.objects.count() == 0
    assert _balances(shop, peer) == (100_000, 0)


def test_on_us_payments_are_unchanged(fake, peer, shop):
    payee = Account.objects.create(number="LOCAL-1", currency="EUR")
    response = _pay(shop, peer, creditor_account=payee.number)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["clearing"], body["direction"]) == ("completed", None, "outgoing")
    assert fake.received == []
