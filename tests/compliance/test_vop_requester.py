"""This hub as the payer's bank: it asks the peer serving an IBAN (another hub, played in
process by the real responder) or answers itself for its own accounts; a peer that does not
answer, or answers badly, gives NOAP; every request is recorded."""

from __future__ import annotations

import pytest

from compliance.vop import requester
from compliance.vop.models import PayeeVerification
from compliance.vop.protocol import Verification
from tests.compliance.vop_helpers import InProcessPeerHub, iban
from tests.factories import AccountFactory, MerchantFactory


@pytest.fixture
def hub(db, settings, tmp_path, monkeypatch):
    settings.CLEARING_KEY_FILE = tmp_path / "clearing_key"
    settings.CLEARING_KEY_ENCRYPTION_KEY = ""
    hub = InProcessPeerHub(monkeypatch)
    AccountFactory(number=hub.customer_iban(1), name="Jean Dupont", merchant=None)
    AccountFactory(number=hub.customer_iban(2), name="Boulangerie Martin SARL", merchant=None)
    return hub


@pytest.mark.parametrize(
    ("n", "name", "expected"),
    [
        (1, "DUPONT Jean", Verification("MTCH", None, "PEERFRPPXXX")),
        (1, "Jean Dupond", Verification("CMTC", "Jean Dupont", "PEERFRPPXXX")),
        (2, "Boulangerie Martin", Verification("MTCH", None, "PEERFRPPXXX")),
        (2, "Garage Lefebvre", Verification("NMTC", None, "PEERFRPPXXX")),
        (9, "Jean Dupont", Verification("NOAP", None, "PEERFRPPXXX")),
    ],
)
def test_the_peer_serving_the_iban_answers(hub, n, name, expected):
    merchant = MerchantFactory()
    assert requester.verify(number=hub.customer_iban(n), name=name, merchant=merchant) == expected
    (sent,) = hub.posts
    # The EPC scheme's fields, and the headers CONTRACT.md names.
    assert sent["body"] == {
        "party": {"name": name},
        "partyAccount": {"iban": hub.customer_iban(n)},
        "partyAgent": "PEERFRPPXXX",
        "requestingAgent": "PYHBDEFFXXX",
    }
    assert {"X-Request-ID", "X-Request-Timestamp", "Signature", "Content-Digest"} <= set(
        sent["headers"]
    )
    asked = PayeeVerification.objects.get(direction="out")
    assert (asked.peer.bic, asked.result, asked.merchant_id) == (
        "PEERFRPPXXX",
        expected.result,
        merchant.pk,
    )
    answered = PayeeVerification.objects.get(direction="in")  # the peer's own record
    assert str(answered.request_id) == sent["headers"]["X-Request-ID"]


def test_an_iban_with_spaces_is_asked_as_an_iban(hub):
    spaced = " ".join(hub.customer_iban(1)[i : i + 4] for i in range(0, 27, 4))
    assert requester.verify(number=spaced, name="Jean Dupont").result == "MTCH"


def test_this_hubs_own_accounts_are_answered_here_without_a_request(hub):
    own = AccountFactory(number=iban("DE", "370400440532013000"), name="Anna Schmidt")
    assert requester.verify(number=own.number, name="Anna Schmid") == Verification(
        "CMTC", "Anna Schmidt"
    )
    assert requester.verify(number=own.number, name="Anna Schmidt").result == "MTCH"
    assert hub.posts == []
    assert PayeeVerification.objects.filter(direction="out", peer=None).count() == 2


def test_an_iban_no_bank_serves_is_not_possible_without_a_request(hub):
    unserved = iban("IT", "X0542811101000000123456")
    assert requester.verify(number=unserved, name="Mario Rossi").result == "NOAP"
    assert hub.posts == []


def test_a_peer_that_does_not_answer_in_time_gives_not_possible(hub):
    hub.down = True
    result = requester.verify(number=hub.customer_iban(1), name="Jean Dupont")
    assert (result.result, result.matched_name) == ("NOAP", None)
    assert "timed out" in PayeeVerification.objects.get().error


@pytest.mark.parametrize(
    "answer",
    [
        (500, b"oops"),
        (401, b'{"code": "unsigned"}'),
        (200, b"not json"),
        (200, b'{"partyNameMatch": "YES"}'),
        (200, b'{"partyNameMatch": "CMTC"}'),  # a close match must name the holder
    ],
)
def test_a_bad_answer_gives_not_possible(hub, answer):
    hub.answer = answer
    assert requester.verify(number=hub.customer_iban(1), name="Jean Dupont").result == "NOAP"


# The batch's payees are asked from threads, with connections of their own: committed data.
@pytest.mark.django_db(transaction=True)
def test_many_payees_are_asked_once_each(hub, settings):
    settings.VOP_BATCH_CONCURRENCY = 1  # the in-process peer swaps the settings it answers with
    own = AccountFactory(number="LOCAL0001", name="Anna Schmidt")
    pairs = [
        (hub.customer_iban(1), "Jean Dupont"),
        (hub.customer_iban(1), "Jean Dupont"),
        (hub.customer_iban(2), "Garage Lefebvre"),
        (own.number, "Anna Schmidt"),
        (hub.customer_iban(1), "   "),  # no name: nothing to verify
    ]
    results = requester.verify_many(pairs)
    assert {pair: v.result for pair, v in results.items()} == {
        (hub.customer_iban(1), "Jean Dupont"): "MTCH",
        (hub.customer_iban(2), "Garage Lefebvre"): "NMTC",
        (own.number, "Anna Schmidt"): "MTCH",
    }
    assert len(hub.posts) == 2


@pytest.mark.django_db(transaction=True)
def test_payees_not_asked_before_the_deadline_are_not_possible(hub, settings):
    settings.VOP_BATCH_SECONDS = 0
    # Answered without the in-process responder: a request still running after the test
    # must not swap the settings back under the next one.
    hub.answer = (200, b'{"partyNameMatch": "MTCH"}')
    results = requester.verify_many([(hub.customer_iban(1), "Jean Dupont")])
    assert results[(hub.customer_iban(1), "Jean Dupont")].result == "NOAP"
