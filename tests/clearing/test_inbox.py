"""The inbox from a peer's side: what a hostile or broken peer sends is refused and changes
nothing; a good pacs.008 credits once and is answered the same every time it comes."""

from __future__ import annotations

import base64
import datetime
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone
from lxml import etree

from accounts.models import Account, LedgerTransaction
from clearing.iso import builders, readers, validation
from clearing.models import Message
from payments.models import Payment, WebhookDelivery


def _state():
    """Everything a refused message must leave as it was."""
    return (
        list(Account.objects.order_by("id").values_list("id", "balance", "held")),
        LedgerTransaction.objects.count(),
        Payment.objects.count(),
        Message.objects.count(),
        WebhookDelivery.objects.count(),
    )


def _status(response) -> readers.StatusReport:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/xml"
    _kind, root, _doc = validation.validate(response.content, expect=builders.PACS002)
    return readers.pacs002(root)


def test_a_transfer_credits_the_account_once_and_is_answered_acsc(peer, shop):
    transfer = peer.transfer(shop.account.number, amount=2500)
    body = builders.pacs008(transfer)

    first = peer.post(body)
    report = _status(first)
    assert (report.status, report.uetr, report.reason_code) == ("ACSC", transfer.uetr, "")
    shop.account.refresh_from_db()
    assert shop.account.balance == 100_000 + 2500

    # The same document again (a resend: a new signature) gets the same answer, no credit.
    again = peer.post(body)
    assert again.content == first.content
    shop.account.refresh_from_db()
    assert shop.account.balance == 100_000 + 2500

    payment = Payment.objects.get(uetr=transfer.uetr)
    assert payment.direction == "incoming"
    assert (payment.debtor_name, payment.debtor_agent) == ("Marie Curie", peer.bic)
    clearing_account = payment.debtor_account
    assert clearing_account.kind == "system" and clearing_account.balance == -2500
    assert WebhookDelivery.objects.filter(
        payment=payment, event_type="payment.received"
    ).exists() == bool(shop.merchant.webhook_url)
    stored = Message.objects.filter(uetr=transfer.uetr).order_by("id")
    assert [(m.direction, m.kind, m.status) for m in stored] == [
        ("in", "pacs.008.001.08", "accepted"),
        ("out", "pacs.002.001.10", "accepted"),
    ]


def test_the_merchant_sees_the_received_payment(peer, shop):
    transfer = peer.transfer(shop.account.number, amount=1999)
    _status(peer.post(builders.pacs008(transfer)))
    listing = shop.client.get("/api/v1/payments/?direction=incoming").json()["results"]
    assert len(listing) == 1
    seen = listing[0]
    assert seen["direction"] == "incoming"
    assert seen["amount"] == "19.99"
    assert seen["status"] == "completed"
    assert seen["debtor_account"] == transfer.debtor_iban
    assert seen["debtor_name"] == "Marie Curie"
    assert seen["debtor_agent"] == peer.bic
    assert seen["creditor_account"] == shop.account.number
    assert seen["clearing"]["uetr"] == str(transfer.uetr)
    assert seen["clearing"]["peer_bic"] == peer.bic
    assert shop.client.get("/api/v1/payments/?direction=outgoing").json()["results"] == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda account: None, "AC01"),
        (lambda account: Account.objects.filter(pk=account.pk).update(status="closed"), "AC04"),
        (lambda account: Account.objects.filter(pk=account.pk).update(status="frozen"), "AC06"),
        (lambda account: Account.objects.filter(pk=account.pk).update(currency="USD"), "AM03"),
    ],
)
def test_a_transfer_that_cannot_be_credited_is_rejected_with_its_reason(peer, shop, change, reason):
    change(shop.account)
    number = shop.account.number if reason != "AC01" else shop.account.number[:-3] + "999"
    transfer = peer.transfer(number, amount=2500)
    before = shop.account.__class__.objects.get(pk=shop.account.pk).balance
    report = _status(peer.post(builders.pacs008(transfer)))
    assert (report.status, report.reason_code) == ("RJCT", reason)
    assert Account.objects.get(pk=shop.account.pk).balance == before
    assert not Payment.objects.filter(uetr=transfer.uetr).exists()
    # Asked again: the same verdict, still nothing credited (even once the account is fine).
    Account.objects.filter(pk=shop.account.pk).update(status="active", currency="EUR")
    assert _status(peer.post(builders.pacs008(transfer))).reason_code == reason
    assert Account.objects.get(pk=shop.account.pk).balance == before


def test_a_transfer_past_its_time_out_is_never_credited(peer, shop, settings):
    settings.CLEARING_SETTLEMENT_TIMEOUT_SECONDS = 10
    late = timezone.now() - datetime.timedelta(seconds=11)
    transfer = peer.transfer(shop.account.number, accepted_at=late)
    report = _status(peer.post(builders.pacs008(transfer)))
    assert (report.status, report.reason_code) == ("RJCT", "AB05")
    shop.account.refresh_from_db()
    assert shop.account.balance == 100_000


def test_a_transfer_credited_in_time_is_confirmed_whenever_asked(peer, shop, settings):
    transfer = peer.transfer(shop.account.number)
    first = peer.post(builders.pacs008(transfer))
    settings.CLEARING_SETTLEMENT_TIMEOUT_SECONDS = 0  # long past the time-out now
    assert peer.post(builders.pacs008(transfer)).content == first.content
    assert _status(first).status == "ACSC"


# --- a hostile peer ------------------------------------------------------------------


def _good(peer, shop) -> bytes:
    return builders.pacs008(peer.transfer(shop.account.number))


def test_unsigned(peer, shop):
    body = _good(peer, shop)
    before = _state()
    response = peer.post(body, headers={"Content-Type": "application/xml"})
    assert response.status_code == 401
    assert response.json()["code"] == "unsigned"
    assert _state() == before


def test_unknown_key_id(peer, shop):
    body = _good(peer, shop)
    before = _state()
    response = peer.post(body, key_id="EVILDEFFXXX")
    assert response.status_code == 401 and response.json()["code"] == "unknown_key"
    assert _state() == before


def test_signed_with_another_key(peer, shop):
    body = _good(peer, shop)
    before = _state()
    response = peer.post(body, key=Ed25519PrivateKey.generate())
    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    assert _state() == before


def test_body_tampered_after_signing(peer, shop):
    body = _good(peer, shop)
    headers = peer.headers(body)
    tampered = body.replace(b"25.00", b"99.00")
    assert tampered != body
    before = _state()
    response = peer.post(tampered, headers=headers)
    assert response.status_code == 400 and response.json()["code"] == "digest_mismatch"
    assert _state() == before


def test_digest_and_body_both_replaced(peer, shop):
    """A man in the middle recomputes the digest: the signature covers it and fails."""
    from http_message_signatures.digests import ContentDigest

    body = _good(peer, shop)
    headers = peer.headers(body)
    tampered = body.replace(b"25.00", b"99.00")
    headers["Content-Digest"] = ContentDigest.create(tampered)
    before = _state()
    response = peer.post(tampered, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    assert _state() == before


def test_signature_for_another_target(peer, shop):
    body = _good(peer, shop)
    before = _state()
    response = peer.post(body, url="http://elsewhere.test/clearing/v1/messages/")
    assert response.status_code == 401
    assert _state() == before


@pytest.mark.parametrize("age", [datetime.timedelta(minutes=6), -datetime.timedelta(minutes=2)])
def test_stale_or_future_created(peer, shop, age):
    body = _good(peer, shop)
    before = _state()
    response = peer.post(body, now=datetime.datetime.now(datetime.UTC) - age)
    assert response.status_code == 401
    assert _state() == before


def test_replayed_request(peer, shop):
    body = _good(peer, shop)
    headers = peer.headers(body)
    assert peer.post(body, headers=dict(headers)).status_code == 200
    after_first = _state()
    replay = peer.post(body, headers=dict(headers))
    assert replay.status_code == 409 and replay.json()["code"] == "replayed"
    assert _state() == after_first


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf>&x;</FIToFICstmrCdtTrf></Document>"""
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">&b;</Document>"""


@pytest.mark.parametrize(
    "mangle",
    [
        lambda body: XXE,
        lambda body: BOMB,
        lambda body: body.replace(b"<ChrgBr>SLEV</ChrgBr>", b""),  # a required element gone
        lambda body: body.replace(b"SLEV", b"FREE"),  # not in the code list
        lambda body: body.replace(b"<ChrgBr>", b"<Evil>1</Evil><ChrgBr>"),  # unknown element
        lambda body: body.replace(b"E2E-PEER-1", b"E" * 36),  # too long
        lambda body: body.replace(b"pacs.008.001.08", b"pacs.008.001.02"),  # unsupported kind
        lambda body: b"not xml at all",
        lambda body: body[: len(body) // 2],  # truncated
    ],
    ids=["xxe", "entity-bomb", "missing", "code", "unknown", "length", "kind", "garbage", "cut"],
)
def test_schema_invalid_and_hostile_xml(peer, shop, mangle):
    body = mangle(_good(peer, shop))
    before = _state()
    response = peer.post(body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_document"
    assert _state() == before


def test_oversize_and_wrong_type(peer, shop, settings):
    settings.CLEARING_MAX_BODY_BYTES = len(_good(peer, shop)) + 100
    body = _good(peer, shop) + b" " * 2000
    before = _state()
    assert peer.post(body).status_code == 413
    headers = peer.headers(_good(peer, shop))
    headers["Content-Type"] = "application/json"
    assert peer.post(_good(peer, shop), headers=headers).status_code == 415
    assert _state() == before


def test_a_peer_cannot_send_in_another_banks_name(peer, shop):
    transfer = peer.transfer(shop.account.number)
    body = builders.pacs008(
        builders.Transfer(**{**transfer.__dict__, "debtor_agent": "OTHRDEFFXXX"})
    )
    before = _state()
    response = peer.post(body)
    assert response.status_code == 403 and response.json()["code"] == "agent_not_signer"
    assert _state() == before


def test_the_answer_is_valid_and_names_the_transfer(peer, shop):
    transfer = peer.transfer(shop.account.number)
    response = peer.post(builders.pacs008(transfer))
    root = etree.fromstring(response.content)
    namespace = {"n": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
    assert root.findtext(".//n:OrgnlMsgId", namespaces=namespace) == transfer.msg_id
    assert root.findtext(".//n:OrgnlEndToEndId", namespaces=namespace) == "E2E-PEER-1"
    assert root.findtext(".//n:InstdAgt/n:FinInstnId/n:BICFI", namespaces=namespace) == peer.bic
    assert uuid.UUID(root.findtext(".//n:OrgnlUETR", namespaces=namespace)) == transfer.uetr
    assert base64  # keep the import for the key tests above
