"""The hub's Ed25519 signing identity: generated on first use, kept in the database with its
private half sealed by the keyring (common/sealed.py: AES-GCM under FIELD_ENCRYPTION_KEYS or
the key file, never in the database), so `manage.py rotate_keys` re-seals it with every
other secret. This module is the only one that opens it.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction

from clearing.models import HubKey
from common import request_memo
from common.db import pgsql
from common.sealed import SealedError


class KeyUnavailable(RuntimeError):
    """The hub's signing key does not open with this server's keys."""


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def hub_key() -> HubKey:
    """The active key row (its private half left sealed in the database), made on first use;
    read once per request (common/request_memo.py)."""
    return request_memo.memo("clearing.hub_key", _hub_key)


_PUBLIC_COLUMNS = ["id", "public_key", "active", "created_at"]  # the private half left out


def _hub_key() -> HubKey:
    # A prepared statement: every payment to another bank signs, and so reads this row.
    rows = pgsql.execute(
        f"SELECT {', '.join(_PUBLIC_COLUMNS)} FROM {HubKey._meta.db_table} WHERE active LIMIT 1"  # noqa: S608 - identifiers from model metadata
    )
    if rows:
        return HubKey.from_db(DEFAULT_DB_ALIAS, _PUBLIC_COLUMNS, rows[0])
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    try:
        with transaction.atomic():
            return HubKey.objects.create(
                public_key=_raw_public(private.public_key()),
                private_key=base64.b64encode(raw_private).decode(),
            )
    except IntegrityError:  # another process made it first
        return HubKey.objects.defer("private_key").get(active=True)


def public_key_b64() -> str:
    return base64.b64encode(bytes(hub_key().public_key)).decode()


# Opened once per process and key row (a signature per message otherwise pays an unsealing);
# a new active row is opened when first used. A rotation of the keyring re-seals the same
# secret, so the row's key does not change.
_opened: dict[int, Ed25519PrivateKey] = {}


def private_key() -> Ed25519PrivateKey:
    row = hub_key()
    cached = _opened.get(row.pk)
    if cached is not None:
        return cached
    try:
        sealed_text = HubKey.objects.values_list("private_key", flat=True).get(pk=row.pk)
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(sealed_text))
    except (SealedError, ValueError) as error:
        raise KeyUnavailable(
            f"the hub's signing key cannot be opened: {error} "
            "(FIELD_ENCRYPTION_KEYS or the key file is not the keyring it was sealed with)"
        ) from error
    if _raw_public(key.public_key()) != bytes(row.public_key):
        raise KeyUnavailable("the hub's signing key does not match its public half")
    _opened.clear()
    _opened[row.pk] = key
    return key


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A peer's key as CONTRACT.md gives it: base64 of the raw 32 bytes."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as error:
        raise ValueError("the public key is not base64") from error
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)
