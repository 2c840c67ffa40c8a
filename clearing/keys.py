"""The hub's Ed25519 signing identity: generated on first use, kept in the database with its
private half encrypted (Fernet) under a key that is NOT in the database.

The encryption key comes from CLEARING_KEY_ENCRYPTION_KEY, else from CLEARING_KEY_FILE
(generated once, mode 0600, under DATA_DIR). This module is the only one that sees either;
a general "secrets at rest" helper (issue 18) can replace `_fernet` alone.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction

from clearing.models import HubKey


class KeyUnavailable(RuntimeError):
    """The hub's signing key cannot be decrypted with the configured key."""


def _fernet() -> Fernet:
    configured = settings.CLEARING_KEY_ENCRYPTION_KEY
    if configured:
        return Fernet(configured.encode())
    path = Path(settings.CLEARING_KEY_FILE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once do not write two different keys.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as file:
                file.write(Fernet.generate_key())
    return Fernet(path.read_bytes().strip())


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def hub_key() -> HubKey:
    """The active key row, generated on first use."""
    row = HubKey.objects.filter(active=True).first()
    if row is not None:
        return row
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
                encrypted_private_key=_fernet().encrypt(raw_private),
            )
    except IntegrityError:  # another process made it first
        return HubKey.objects.get(active=True)


def public_key_b64() -> str:
    return base64.b64encode(bytes(hub_key().public_key)).decode()


# Decrypted once per process and key row (a signature per message otherwise pays a Fernet
# decryption and a file read); a new active row (a rotation) is decrypted when first used.
_decrypted: dict[tuple[int, bytes], Ed25519PrivateKey] = {}


def private_key() -> Ed25519PrivateKey:
    row = hub_key()
    cache_key = (row.pk, bytes(row.encrypted_private_key))
    cached = _decrypted.get(cache_key)
    if cached is not None:
        return cached
    try:
        raw = _fernet().decrypt(cache_key[1])
    except InvalidToken as error:
        raise KeyUnavailable(
            "the hub's signing key cannot be decrypted: CLEARING_KEY_FILE or "
            "CLEARING_KEY_ENCRYPTION_KEY is not the key it was encrypted with"
        ) from error
    key = Ed25519PrivateKey.from_private_bytes(raw)
    _decrypted.clear()
    _decrypted[cache_key] = key
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
