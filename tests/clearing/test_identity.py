"""The hub's signing identity and its peers: commands, encryption at rest, the audit."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.identity import keys as key_rotation
from accounts.identity.audit import Actor
from accounts.identity.models import AuditEvent
from clearing import keys, services
from clearing.models import HubKey, Peer
from common import keyring, sealed
from tests.clearing.conftest import iban, public_b64


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_identity_shows_the_public_half_only_and_keeps_it(peer, capsys, settings):
    call_command("clearing_identity")
    first = _json(capsys)
    call_command("clearing_identity")
    again = _json(capsys)
    assert first == again
    assert first["bic"] == settings.HUB_BIC
    assert first["url"] == settings.PUBLIC_URL
    assert len(base64.b64decode(first["public_key"])) == 32
    assert set(first) == {"bic", "public_key", "url"}
    assert HubKey.objects.count() == 1


def test_the_private_key_is_sealed_by_the_keyring_and_rotate_keys_covers_it(peer, settings):
    row = keys.hub_key()
    raw_private = keys.private_key().private_bytes_raw()
    stored = _stored_private_key(row.pk)
    assert sealed.is_sealed(stored)
    assert (
        base64.b64encode(raw_private).decode() not in stored and raw_private not in stored.encode()
    )
    public = keys.public_key_b64()

    # rotate_keys re-seals it under the new key; the hub keeps its identity.
    old = [key for key in settings.FIELD_ENCRYPTION_KEYS if key] or keyring.key_file_lines()
    settings.FIELD_ENCRYPTION_KEYS = [keyring.new_key(), *old]
    status = key_rotation.keys_status()
    assert status["sealed_under_older_keys"].get("clearing.HubKey.private_key") == 1
    key_rotation.keys_rotate(actor=Actor.system("tests"))
    resealed = _stored_private_key(row.pk)
    assert resealed != stored and sealed.sealed_under_current(resealed)
    keys._opened.clear()
    assert keys.private_key().private_bytes_raw() == raw_private
    assert keys.public_key_b64() == public

    # Another keyring cannot open it: refused with a clear error, never another identity.
    keys._opened.clear()
    settings.FIELD_ENCRYPTION_KEYS = [keyring.new_key()]
    with pytest.raises(keys.KeyUnavailable):
        keys.private_key()
    assert HubKey.objects.count() == 1


def _stored_private_key(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM clearing_hubkey WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_peer_add_prints_the_peer_and_updates_it_by_bic(peer, capsys):
    key = public_b64(peer.key)
    call_command(
        "clearing_peer_add",
        "--bic",
        "BANKDEFFXXX",
        "--url",
        "http://10.0.0.2:8000/",
        "--public-key",
        key,
        "--iban-prefix",
        "DE37040044",
        "--iban-prefix",
        "DE50010",
    )
    assert _json(capsys) == {
        "bic": "BANKDEFFXXX",
        "url": "http://10.0.0.2:8000",
        "iban_prefixes": ["DE37040044", "DE50010"],
    }
    call_command(
        "clearing_peer_add",
        "--bic",
        "BANKDEFFXXX",
        "--url",
        "http://10.0.0.3:8000",
        "--public-key",
        key,
        "--iban-prefix",
        "DE37040044",
    )
    assert _json(capsys)["url"] == "http://10.0.0.3:8000"
    assert Peer.objects.filter(bic="BANKDEFFXXX").count() == 1
    events = AuditEvent.objects.filter(target_type="clearing.Peer").order_by("id")
    assert [event.action for event in events][-2:] == ["clearing.peer_add", "clearing.peer_update"]
    assert events.last().before["url"] == "http://10.0.0.2:8000"


@pytest.mark.parametrize(
    "args",
    [
        [
            "--bic",
            "NOTABIC",
            "--url",
            "http://x.test",
            "--public-key",
            "KEY",
            "--iban-prefix",
            "DE37",
        ],
        [
            "--bic",
            "BANKDEFFXXX",
            "--url",
            "ftp://x.test",
            "--public-key",
            "KEY",
            "--iban-prefix",
            "DE37",
        ],
        [
            "--bic",
            "BANKDEFFXXX",
            "--url",
            "http://x.test",
            "--public-key",
            "c2hvcnQ=",
            "--iban-prefix",
            "DE37",
        ],
        [
            "--bic",
            "BANKDEFFXXX",
            "--url",
            "http://x.test",
            "--public-key",
            "KEY",
            "--iban-prefix",
            "!!",
        ],
    ],
)
def test_peer_add_refuses_what_it_cannot_use(peer, args):
    args = [public_b64(peer.key) if arg == "KEY" else arg for arg in args]
    with pytest.raises(CommandError):
        call_command("clearing_peer_add", *args)
    assert not Peer.objects.filter(bic="BANKDEFFXXX").exists()


def test_prefixes_leave_the_check_digits_out_and_the_longest_wins(peer):
    # CONTRACT.md's example: DE37040044 matches DE89 3704 0044 0532 0130 00.
    assert services.prefix_matches("DE37040044", "DE89370400440532013000")
    assert not services.prefix_matches("DE89", "DE89370400440532013000")
    assert services.peer_for_iban(peer.customer_iban()).bic == peer.bic
    assert services.peer_for_iban(iban("DE", "370400440532013000")) is None
    assert services.is_iban("DE89 3704 0044 0532 0130 00")
    assert not services.is_iban("DE88370400440532013000")


def test_position_command(peer, capsys):
    call_command("clearing_position", "--bic", peer.bic)
    assert _json(capsys) == {"bic": peer.bic, "currency": "EUR", "position": "0.00"}
