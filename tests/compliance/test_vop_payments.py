# ruff: noqa: F811 - the clearing tests' fixtures (peer, shop), imported by name
"""Verification of Payee of API payments and the merchant's endpoint: a payment naming its
creditor is verified before it is sent (by the peer hub, or here for an account here), the
result travels with it (its JSON, its webhook), a mismatch informs and does not refuse,
and a payment that carries an earlier verification is not asked again."""

from __future__ import annotations

import pytest

from compliance.vop.models import PayeeVerification
from payments.models import Payment, WebhookDelivery
from tests.clearing.conftest import peer, shop  # noqa: F401 - fixtures
from tests.clearing.test_outbound import FakePeer, _pay
from tests.clearing.test_speed import _pay as _pay_with  # with headers
from tests.compliance.vop_helpers import InProcessPeerHub
from tests.factories import AccountFactory


@pytest.fixture
def vop(peer, monkeypatch):
    from payments import selectors

    hub = InProcessPeerHub(monkeypatch)  # the same peer (its BIC and prefix), answering VoP
    AccountFactory(number=peer.customer_iban(), name="Jean Dupont", merchant=None)
    # The peer's accounts live at the peer: the API does not find them here.
    real = selectors.accounts_by_number

    def here(*, numbers):
        return {n: a for n, a in real(numbers=numbers).items() if not hub._theirs(n)}

    monkeypatch.setattr(selectors, "accounts_by_number", here)
    return hub


@pytest.fixture
def wire(peer, monkeypatch):
    from clearing import transport

    fake = FakePeer(peer)
    monkeypatch.setattr(transport, "post", fake)
    return fake


@pytest.fixture
def hooked(shop):
    shop.merchant.webhook_url = "https://shop.test/hooks"
    shop.merchant.save(update_fields=["webhook_url"])
    return shop


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jean Dupont", {"result": "MTCH", "matched_name": None}),
        ("Jean Dupond", {"result": "CMTC", "matched_name": "Jean Dupont"}),
        ("Garage Lefebvre", {"result": "NMTC", "matched_name": None}),
    ],
)
def test_a_transfer_is_verified_before_it_is_sent_and_carries_the_result(
    wire, vop, peer, hooked, name, expected
):
    response = _pay(hooked, peer, creditor_name=name)
    assert response.status_code == 201, response.content
    body = response.json()
    # A mismatch informs the payer; the request was its authorisation: the payment is sent.
    assert body["status"] == "completed" and len(wire.received) == 1
    assert body["verification"] == expected
    payment = Payment.objects.get(pk=body["id"])
    assert payment.verification == expected
    assert hooked.client.get(f"/api/v1/payments/{payment.pk}/").json()["verification"] == expected
    (delivery,) = WebhookDelivery.objects.filter(payment=payment)
    assert delivery.payload["data"]["verification"] == expected
    assert len(vop.posts) == 1


def test_a_peer_not_answering_gives_not_possible_and_the_payment_goes(wire, vop, peer, shop):
    vop.down = True
    response = _pay(shop, peer)
    assert response.status_code == 201
    assert response.json()["verification"] == {"result": "NOAP", "matched_name": None}
    assert response.json()["status"] == "completed"


def test_a_payment_carrying_its_verification_is_not_asked_again(wire, vop, peer, shop):
    given = {"result": "CMTC", "matched_name": "Jean Dupont"}
    response = _pay(shop, peer, creditor_name="Jean Dupond", verification=given)
    assert response.status_code == 201, response.content
    assert response.json()["verification"] == given
    assert vop.posts == []
    assert not PayeeVerification.objects.exists()


def test_a_carried_verification_is_checked(wire, vop, peer, shop):
    response = _pay(shop, peer, verification={"result": "MAYBE"})
    assert response.status_code == 400
    assert "verification" in response.json()["errors"]
    assert not Payment.objects.exists()


def test_an_on_us_payment_naming_its_creditor_is_verified_here(vop, shop):
    shop.payee.name = "Anna Schmidt"
    shop.payee.save(update_fields=["name"])
    response = shop.pay(creditor_name="Anna Schmid")
    assert response.status_code == 201, response.content
    assert response.json()["verification"] == {"result": "CMTC", "matched_name": "Anna Schmidt"}
    assert vop.posts == []
    # Without a name there is nothing to verify.
    assert shop.pay().json()["verification"] is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("DUPONT, Jean", {"result": "MTCH", "matched_name": None}),
        ("Jean Dupond", {"result": "CMTC", "matched_name": "Jean Dupont"}),
        ("Garage Lefebvre", {"result": "NMTC", "matched_name": None}),
    ],
)
def test_the_merchant_asks_before_paying(vop, peer, shop, name, expected):
    response = shop.client.post(
        "/api/v1/payee-verifications/",
        {"iban": peer.customer_iban(), "name": name},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == expected
    record = PayeeVerification.objects.get(direction="out")
    assert (record.merchant_id, record.purpose) == (shop.merchant.pk, "api")


def test_the_merchant_asks_about_an_iban_nobody_holds(vop, peer, shop):
    response = shop.client.post(
        "/api/v1/payee-verifications/",
        {"iban": peer.customer_iban(7), "name": "Jean Dupont"},
        format="json",
    )
    assert response.json() == {"result": "NOAP", "matched_name": None}


def test_the_endpoint_refuses_a_request_without_a_name(vop, peer, shop):
    response = shop.client.post(
        "/api/v1/payee-verifications/", {"iban": peer.customer_iban()}, format="json"
    )
    assert response.status_code == 400 and "name" in response.json()["errors"]
    assert vop.posts == []


@pytest.mark.django_db(transaction=True)
def test_the_peer_is_asked_before_the_payments_transaction(wire, vop, peer, shop, monkeypatch):
    """A request to another bank never keeps the payment's transaction open (its connection,
    its Idempotency-Key's row) while that bank answers or times out."""
    from django.db import connection

    from compliance.vop import requester

    in_transaction = []

    def post(*args, **kwargs):
        in_transaction.append(connection.in_atomic_block)
        return vop.post(*args, **kwargs)

    monkeypatch.setattr(requester, "http_post", post)
    response = _pay_with(shop, peer, **{"Idempotency-Key": "pay-1"})
    assert response.status_code == 201, response.content
    assert response.json()["verification"] == {"result": "MTCH", "matched_name": None}
    assert in_transaction == [False]


def test_a_repeated_key_is_answered_without_asking_the_peer_again(wire, vop, peer, shop):
    first = _pay_with(shop, peer, **{"Idempotency-Key": "pay-2"})
    again = _pay_with(shop, peer, **{"Idempotency-Key": "pay-2"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(vop.posts) == 1 and len(wire.received) == 1
    assert PayeeVerification.objects.filter(direction="out").count() == 1
    # The same key with another request is refused before anything is asked.
    other = shop.client.post(
        "/api/v1/payments/",
        {**vop.posts[0]["body"], "amount": "1.00"},
        format="json",
        headers={"Idempotency-Key": "pay-2"},
    )
    assert other.status_code == 409 and len(vop.posts) == 1


def test_two_first_requests_with_one_key_pay_once_and_keep_both_checks(
    wire, vop, peer, shop, monkeypatch
):
    """Two requests with one key at once may both ask the payee's bank before either begins
    its transaction: one pays, the other answers what the first did, and both checks that
    were asked stay recorded (the peer has a record of each)."""
    from compliance.vop import requester

    meanwhile = []

    def post(*args, **kwargs):
        if not meanwhile:  # the first check: the other request runs all through meanwhile
            meanwhile.append(None)
            meanwhile.append(_pay_with(shop, peer, **{"Idempotency-Key": "pay-3"}))
        return vop.post(*args, **kwargs)

    monkeypatch.setattr(requester, "http_post", post)
    response = _pay_with(shop, peer, **{"Idempotency-Key": "pay-3"})
    other = meanwhile[1]
    assert other.status_code == response.status_code == 201, response.content
    assert response.headers["Idempotent-Replayed"] == "true"
    assert response.json() == other.json()
    assert Payment.objects.count() == 1 and len(wire.received) == 1
    assert PayeeVerification.objects.filter(direction="out", purpose="payment").count() == 2
