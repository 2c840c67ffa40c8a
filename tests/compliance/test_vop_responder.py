"""This hub as the payee's bank: a peer's signed request about an IBAN held here is answered
MTCH, CMTC (with the holder's name), NMTC or NOAP; a request that is unsigned, stale, signed
by no peer, signed wrongly or tampered with is refused and leaves no record."""

from __future__ import annotations

import datetime
import socket

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accounts.models import Account
from common import counters
from compliance.vop.models import PayeeVerification
from tests.compliance.vop_helpers import VopPeer, iban
from tests.factories import AccountFactory, MerchantFactory

HELD = iban("DE", "370400440532013000")
CLOSED = iban("DE", "370400440532013001")
NAMELESS = iban("DE", "370400440532013002")
UNKNOWN = iban("DE", "370400440532019999")


@pytest.fixture
def peer(db, settings, tmp_path):
    settings.CLEARING_KEY_FILE = tmp_path / "clearing_key"
    settings.CLEARING_KEY_ENCRYPTION_KEY = ""
    return VopPeer()


@pytest.fixture
def holders(db):
    AccountFactory(number=HELD, name="Müller Maschinenbau GmbH", merchant=None)
    AccountFactory(number=CLOSED, name="Closed Holder", merchant=None, status=Account.Status.CLOSED)
    AccountFactory(number=NAMELESS, name="", merchant=MerchantFactory(name="  "))


def _answer(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MUELLER-MASCHINENBAU", {"partyNameMatch": "MTCH"}),
        ("maschinenbau, Müller g.m.b.h.", {"partyNameMatch": "MTCH"}),
        ("Muller Maschinenbau", {"partyNameMatch": "MTCH"}),
        ("Müller Maschinenbau Holding", {"partyNameMatch": "CMTC", "matchedName": "Müller Maschinenbau GmbH"}),
        ("Schmidt Logistik AG", {"partyNameMatch": "NMTC"}),
    ],
)  # fmt: skip
def test_each_result_and_the_holders_name_only_with_a_close_match(peer, holders, name, expected):
    answer = _answer(peer.ask(HELD, name))
    assert answer == expected
    record = PayeeVerification.objects.get()
    assert (record.direction, record.peer_id, record.iban, record.name) == (
        "in",
        peer.peer.pk,
        HELD,
        name,
    )
    assert record.result == expected["partyNameMatch"]
    assert record.matched_name == expected.get("matchedName", "")


@pytest.mark.parametrize("account", [UNKNOWN, CLOSED, NAMELESS])
def test_not_possible_for_an_iban_not_held_a_closed_account_or_no_holder_name(
    peer, holders, account
):
    assert _answer(peer.ask(account, "Closed Holder")) == {"partyNameMatch": "NOAP"}


def test_not_possible_for_a_party_given_by_identification(peer, holders):
    assert _answer(peer.ask(HELD, None)) == {"partyNameMatch": "NOAP"}


def test_the_answer_echoes_the_request_id(peer, holders):
    response = peer.ask(
        HELD,
        "Müller Maschinenbau GmbH",
        extra={"X-Request-ID": "6f1c3b9e-0d4e-4c1a-9f1e-2b7d8c9a0e11"},
    )
    assert response["X-Request-ID"] == "6f1c3b9e-0d4e-4c1a-9f1e-2b7d8c9a0e11"  # fmt: skip


def _refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert PayeeVerification.objects.count() == 0


def test_an_unsigned_request_is_refused(peer, holders):
    _refused(peer.ask(HELD, "x", drop=("Signature", "Signature-Input")), 401, "unsigned")


def test_a_request_signed_by_no_peer_is_refused(peer, holders):
    stranger = Ed25519PrivateKey.generate()
    _refused(peer.ask(HELD, "x", key=stranger, key_id="STRAGB2LXXX"), 401, "unknown_key")


def test_a_request_signed_with_another_key_is_refused(peer, holders):
    _refused(peer.ask(HELD, "x", key=Ed25519PrivateKey.generate()), 401, "bad_signature")


def test_a_stale_request_is_refused(peer, holders):
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=6)
    _refused(peer.ask(HELD, "x", now=old), 401, "bad_signature")


def test_a_tampered_body_is_refused(peer, holders):
    signed = peer.body(HELD, "Schmidt Logistik AG")
    tampered = peer.body(HELD, "Müller Maschinenbau GmbH")
    _refused(peer.ask(HELD, "x", body=signed, tamper=tampered), 400, "digest_mismatch")


def test_a_request_for_another_requesting_agent_than_the_signer_is_refused(peer, holders):
    body = peer.body(HELD, "x", requestingAgent="OTHRFRPPXXX")
    _refused(peer.ask(HELD, "x", body=body), 403, "agent_not_signer")


def test_a_request_for_another_bank_is_refused(peer, holders):
    body = peer.body(HELD, "x", partyAgent="OTHRDEFFXXX")
    _refused(peer.ask(HELD, "x", body=body), 400, "not_for_this_hub")


@pytest.mark.parametrize(
    ("headers", "code"),
    [({"X-Request-ID": "not-a-uuid"}, "invalid_request_id"), ({"X-Request-Timestamp": "yesterday"}, "invalid_timestamp")],
)  # fmt: skip
def test_request_headers_are_required(peer, holders, headers, code):
    _refused(peer.ask(HELD, "x", extra=headers), 400, code)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"party": {"name": ""}, "partyAccount": {"iban": "X"}}', b'{"party": {}}'],
)  # fmt: skip
def test_a_malformed_body_is_refused(peer, holders, body):
    response = peer.ask(HELD, "x", body=body)
    assert response.status_code == 400
    assert PayeeVerification.objects.count() == 0


def test_a_peer_over_its_rate_is_refused(peer, holders, settings):
    settings.VOP_PEER_REQUESTS_PER_MINUTE = 2
    for _ in range(2):
        _answer(peer.ask(HELD, "Müller Maschinenbau GmbH"))
    response = peer.ask(HELD, "Müller Maschinenbau GmbH")
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert PayeeVerification.objects.count() == 2


def test_without_redis_a_peers_rate_is_counted_in_the_database(peer, holders, settings):
    """The counter lives in Redis; while Redis does not answer, the answers recorded in the
    last minute are counted instead: the limit still holds."""
    with socket.socket() as probe:  # a port free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    counters._redis.cache_clear()
    try:
        settings.VOP_PEER_REQUESTS_PER_MINUTE = 2
        assert counters.hit("vop-peer:probe", 60, 0.0) is None
        for _ in range(2):
            _answer(peer.ask(HELD, "Müller Maschinenbau GmbH"))
        response = peer.ask(HELD, "Müller Maschinenbau GmbH")
        assert response.status_code == 429 and response.json()["code"] == "rate_limited"
        assert PayeeVerification.objects.count() == 2
    finally:
        counters._redis.cache_clear()
