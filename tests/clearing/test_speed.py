"""What the instant path's speed work must not change: a transfer leaves only once its
debit has committed, and the checks it passes are as strict as ever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from clearing import transport
from outbox import services as outbox
from outbox.models import OutboxJob
from payments.models import IdempotencyRecord, Payment
from tests.clearing.test_outbound import FakePeer, _balances
from tools.management.commands import bench_messages


@pytest.fixture
def fake(peer, monkeypatch):
    fake = FakePeer(peer)
    fake.depths = []  # how many atomic blocks were open at each post

    def post(**kwargs):
        fake.depths.append(len(connection.atomic_blocks))
        return fake(**kwargs)

    monkeypatch.setattr(transport, "post", post)
    return fake


def _pay(shop, peer, **headers):
    body = {
        "debtor_account": shop.account.number,
        "creditor_account": peer.customer_iban(),
        "amount": "12.50",
        "currency": "EUR",
        "reference": "invoice 42",
        "creditor_name": "Jean Dupont",
        "creditor_address": {"town": "Paris", "country": "FR"},
    }
    return shop.client.post("/api/v1/payments/", body, format="json", headers=headers)


@pytest.mark.parametrize("key", [None, "order-1"])
def test_a_transfer_is_posted_only_once_its_debit_has_committed(fake, peer, shop, key):
    # The test's own transaction is the only one open when the pacs.008 leaves: not the
    # Idempotency-Key's, nor the debit's (the peer could credit what this hub rolled back,
    # and the peer's clearing account would stay locked for the round trip).
    outside = len(connection.atomic_blocks)
    response = _pay(shop, peer, **({"Idempotency-Key": key} if key else {}))
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "completed"
    assert fake.depths == [outside]
    assert _balances(shop, peer) == (100_000 - 1250, 1250)


def test_a_replay_answers_what_the_first_client_was_told(fake, peer, shop):
    first = _pay(shop, peer, **{"Idempotency-Key": "order-2"})
    assert first.json()["status"] == "completed"
    record = IdempotencyRecord.objects.get(key="order-2")
    assert record.response_body["status"] == "completed"
    again = _pay(shop, peer, **{"Idempotency-Key": "order-2"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(fake.received) == 1 and Payment.objects.count() == 1


def test_a_first_delivery_that_fails_leaves_the_payment_pending_and_answered(fake, peer, shop):
    fake.down = True
    response = _pay(shop, peer, **{"Idempotency-Key": "order-3"})
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert IdempotencyRecord.objects.get(key="order-3").response_body["status"] == "pending"
    assert _balances(shop, peer) == (100_000 - 1250, 1250)
    # Claimed by the first delivery, then due again once a post could have timed out: the
    # sweep leaves it alone while that post runs, and sends it after.
    row = OutboxJob.objects.get(key__startswith="clearing.send:")
    assert (row.done_at, row.attempts) == (None, 1)
    wait = settings.CLEARING_HTTP_TIMEOUT_SECONDS + settings.CLEARING_RESEND_SECONDS
    assert row.due_at > timezone.now() + timedelta(seconds=wait - 1)
    assert row.pk not in {due.pk for due in outbox.due(now=timezone.now())}
    assert row.pk in {due.pk for due in outbox.due(now=timezone.now() + timedelta(seconds=wait))}


def _documents() -> list[bytes]:
    return list(bench_messages.documents())


def _mutants(body: bytes):
    """The document with each element in turn moved after its next sibling, doubled,
    dropped, given an unknown or an xsi attribute, an unknown child, or text after it."""
    import copy

    from lxml import etree

    xsi = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
    count = sum(1 for _ in etree.fromstring(body).iter())
    for position in range(1, count):
        for change in ("swap", "double", "drop", "attribute", "xsi", "child", "tail"):
            root = etree.fromstring(body)
            element = list(root.iter())[position]
            parent = element.getparent()
            if change == "swap":
                after = element.getnext()
                if after is None:
                    continue
                parent.remove(element)
                after.addnext(element)
            elif change == "double":
                element.addnext(copy.deepcopy(element))
            elif change == "drop":
                parent.remove(element)
            elif change == "attribute":
                element.set("Extra", "1")
            elif change == "xsi":
                element.set(xsi, "urn:x x.xsd")
            elif change == "child":
                etree.SubElement(
                    element,
                    etree.QName(element).namespace
                    and f"{{{etree.QName(element).namespace}}}Extra"
                    or "Extra",
                ).text = "1"
            else:
                element.tail = "text"
            yield f"{change} {etree.QName(element).localname}", etree.tostring(root)


def _valid_before(body: bytes) -> bool:
    """The check as it was: bind, then write the bound document back and compare the
    element names, in order, with the input's."""
    from lxml import etree
    from xsdata.formats.dataclass.parsers import XmlParser
    from xsdata.formats.dataclass.serializers import XmlSerializer

    from clearing.iso import validation

    def names(root):
        shape = []
        for element in root.iter():
            if len(element) and (element.text or "").strip():
                return None
            if (element.tail or "").strip() and element is not root:
                return None
            shape.append((element.tag, tuple(sorted(element.attrib))))
        return shape

    try:
        root = validation.parse_xml(body)
        kind = validation.kind_of(root)
        expected = names(root)
        if expected is None:
            return False
        parser = XmlParser(config=validation._PARSER_CONFIG, context=validation._CONTEXT)
        document = parser.parse(root, validation.document_class(kind))
        validation._check_facets(document, "")
        written = XmlSerializer(context=validation._CONTEXT).render(document)
        return names(etree.fromstring(written.encode())) == expected
    except (validation.InvalidDocument, ValueError, TypeError, AttributeError, Warning):
        return False


def test_the_order_check_refuses_what_writing_the_document_back_refused(db):
    from clearing.iso import validation

    checked = 0
    for body in _documents():
        assert _valid_before(body)
        validation.validate(body)
        for change, mutant in _mutants(body):
            try:
                validation.validate(mutant)
                valid_now = True
            except validation.InvalidDocument:
                valid_now = False
            assert valid_now == _valid_before(mutant), change
            checked += 1
    assert checked > 400


def test_a_transfer_received_costs_few_queries(peer, shop):
    from django.test.utils import CaptureQueriesContext

    from clearing.iso import builders

    peer.post(builders.pacs008(peer.transfer(shop.account.number)))  # caches warmed
    with CaptureQueriesContext(connection) as queries:
        response = peer.post(builders.pacs008(peer.transfer(shop.account.number)))
    assert response.status_code == 200
    # Counted with the prepared statements (common/db/pgsql.py, clearing/rows.py) and the
    # ledger's own: the active peers; the signature (one INSERT ... ON CONFLICT, no
    # savepoint of its own); savepoint, lock on the UETR, seen before or MsgId reused with
    # the first answer (one query), account with its merchant, clearing account; the two
    # accounts locked, the posting (one statement); payment, pacs.008, pacs.002; release.
    assert len(queries.captured_queries) <= 13, [q["sql"][:80] for q in queries]


def test_a_transfer_sent_costs_few_queries(fake, peer, shop):
    from django.test.utils import CaptureQueriesContext

    _pay(shop, peer, **{"Idempotency-Key": "warm"})
    with CaptureQueriesContext(connection) as queries:
        response = _pay(shop, peer, **{"Idempotency-Key": "counted"})
    assert response.json()["status"] == "completed"
    # Counted with the prepared statements and the ledger's own (the request's savepoints
    # stand for BEGIN and COMMIT): the API key; the Idempotency-Key not seen before; debtor
    # account; Verification of Payee, before the payment's transaction (the peers, the
    # payee's account if held here, the key row, the answer's record); savepoint,
    # idempotency record; clearing account, both accounts locked, the posting,
    # payment, pacs.008, outbox row (in the API's transaction, no savepoint of their own);
    # the pending answer kept, release;
    # the first delivery's claim (outbox row and the message's attempt, one statement);
    # savepoint, pacs.008 locked, pacs.002 kept once, payment locked, payment, pacs.008,
    # outbox row done, release; what the answer changed read back; the answer kept.
    assert len(queries.captured_queries) <= 28, "\n".join(q["sql"][:150] for q in queries)


def test_an_on_us_payment_costs_few_queries(shop, other_account):
    """What a transfer to another bank is compared with (BENCHMARKS.md): the same request
    paying an account this hub holds."""
    from django.test.utils import CaptureQueriesContext

    def pay(key: str):
        body = {
            "debtor_account": shop.account.number,
            "creditor_account": other_account.number,
            "amount": "12.50",
            "currency": "EUR",
            "reference": "invoice 42",
            "creditor_name": other_account.name or "Payee",
        }
        return shop.client.post(
            "/api/v1/payments/", body, format="json", headers={"Idempotency-Key": key}
        )

    pay("warm")
    with CaptureQueriesContext(connection) as queries:
        response = pay("counted")
    assert response.status_code == 201 and response.json()["status"] == "completed"
    # The API key; the Idempotency-Key not seen before; the debtor account; savepoint,
    # idempotency record; the payee's account and the check's record (Verification of Payee,
    # here: no other bank asked, so inside the transaction); savepoint, both accounts
    # locked, the posting, the payment, release; the answer kept; release.
    assert len(queries.captured_queries) <= 14, "\n".join(q["sql"][:150] for q in queries)
