"""The other banks of these tests (real HTTP servers, tests/batches/network/peer.py) and the
desk's account with an IBAN: interbank messages name the debtor by it."""

from __future__ import annotations

import pytest

from tests.batches.network.peer import PeerServer
from tests.clearing.conftest import iban


@pytest.fixture
def hub(settings, tmp_path):
    settings.CLEARING_KEY_FILE = tmp_path / "clearing_key"
    settings.CLEARING_KEY_ENCRYPTION_KEY = ""
    settings.CLEARING_MAX_IN_FLIGHT = 1  # sent on the test's own connection (see the last tests)
    return settings


@pytest.fixture
def desk(desk):
    """The desk's account with an IBAN: interbank messages name the debtor by it."""
    desk.account.number = iban("DE", "370400440532013000")
    desk.account.save(update_fields=["number"])
    return desk


@pytest.fixture
def paris(db, hub):
    bank = PeerServer(bic="PEERFRPPXXX", country="FR", bank_code="30006")
    yield bank
    bank.close()


@pytest.fixture
def brussels(db, hub):
    bank = PeerServer(bic="PEERBEBBXXX", country="BE", bank_code="539")
    yield bank
    bank.close()
