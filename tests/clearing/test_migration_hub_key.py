"""Migration clearing/0003: a signing key sealed with the old Fernet key (CLEARING_KEY_FILE)
is sealed again by the keyring; the hub keeps its identity."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from clearing import keys
from common import sealed

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("clearing", "0002_peer_change")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def sql(query: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return list(cursor.fetchall()) if cursor.description else []


def test_an_old_key_is_resealed_by_the_keyring(tmp_path, monkeypatch):
    old_file = tmp_path / "clearing_key"
    fernet_key = Fernet.generate_key()
    old_file.write_bytes(fernet_key)
    monkeypatch.setenv("CLEARING_KEY_FILE", str(old_file))
    private = Ed25519PrivateKey.generate()
    public = keys._raw_public(private.public_key())
    migrate(BEFORE)
    try:
        sql(
            "INSERT INTO clearing_hubkey (public_key, encrypted_private_key, active, created_at)"
            " VALUES (%s, %s, true, now())",
            [public, Fernet(fernet_key).encrypt(private.private_bytes_raw())],
        )
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    ((stored,),) = sql("SELECT private_key FROM clearing_hubkey")
    assert sealed.is_sealed(stored)
    keys._opened.clear()
    assert keys.private_key().private_bytes_raw() == private.private_bytes_raw()
    assert keys.public_key_b64() == base64.b64encode(public).decode()
    keys._opened.clear()
