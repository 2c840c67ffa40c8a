"""The active peers and the hub's key row are read once per request, and only within one:
outside a request every call reads afresh, and a peer saved in the request is seen at once."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from accounts.identity.audit import Actor
from clearing import keys, services
from clearing.models import Peer

pytestmark = pytest.mark.django_db


def _public_key() -> str:
    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def _add(bic: str, prefix: str) -> Peer:
    return services.peer_save(
        bic=bic,
        url=f"https://{bic.lower()}.example",
        public_key=_public_key(),
        iban_prefixes=[prefix],
        actor=Actor.system("tests"),
    )


def _reads(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries.captured_queries)


def test_read_once_in_a_request_and_afresh_outside():
    _add("PEERFRPPXXX", "FR30006")
    keys.hub_key()  # made on first use
    outside = [_reads(services.active_peers), _reads(keys.hub_key)]
    assert outside == [1, 1]

    # As Django's test client does: the test's connection is not closed by the signals.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    request_started.send(sender=None)
    try:
        assert _reads(services.active_peers) == 1 and _reads(keys.hub_key) == 1
        assert _reads(services.active_peers) == 0 and _reads(keys.hub_key) == 0
        assert services.peer_for_iban("FR7630006000011234567890189").bic == "PEERFRPPXXX"
        # A peer saved in this request is served at once, not the list read before it.
        _add("PEERITMMXXX", "ITX05428")
        assert services.peer_for_iban("IT60X0542811101000000123456").bic == "PEERITMMXXX"
    finally:
        request_finished.send(sender=None)
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert _reads(services.active_peers) == 1  # the request's values are gone with it
