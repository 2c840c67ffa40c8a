"""Secrets at rest: sealed with AES-256-GCM under a key that is not in the database.

A sealed value is text: "$S1$" and, in urlsafe base64 without padding, the sealing key's
two-byte id, a random 12-byte nonce, the ciphertext and GCM's 16-byte tag. The purpose
(say "accounts.Merchant.webhook_secret") is GCM's associated data: a value sealed for one
column does not open in another. A 20-byte TOTP key seals into 71 characters, which fits
django-otp's 80-character column; that is why GCM and not Fernet (140 for the same key).

`SealedTextField` seals on the way to the database and opens on the way back; its values
cannot be searched (each seal has its own nonce). Another app's secret (the clearing app's
Ed25519 private key) uses the field, or `seal`/`unseal` with a purpose of its own.
Keys and their rotation: common/keyring.py and `manage.py rotate_keys`.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import models

from common import keyring

PREFIX = "$S1$"
NONCE_BYTES = 12
PURPOSE = "sealed"  # the HKDF purpose of the sealing keys


class SealedError(ValueError):
    """A sealed value that does not open: a key this server lacks, or bytes changed."""


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_bytes(plain: bytes, *, purpose: str) -> str:
    """Seal with the current key."""
    master = keyring.current()
    nonce = secrets.token_bytes(NONCE_BYTES)
    cipher = AESGCM(keyring.purpose_key(master, PURPOSE))
    sealed = cipher.encrypt(nonce, plain, purpose.encode())
    return PREFIX + base64.urlsafe_b64encode(master.id + nonce + sealed).decode().rstrip("=")


def unseal_bytes(value: str, *, purpose: str) -> bytes:
    if not is_sealed(value):
        raise SealedError(f"{purpose}: the stored value is not sealed")
    try:
        raw = _b64decode(value[len(PREFIX) :])
    except ValueError:
        raise SealedError(f"{purpose}: the sealed value is damaged") from None
    key_id, nonce, sealed = raw[:2], raw[2 : 2 + NONCE_BYTES], raw[2 + NONCE_BYTES :]
    # The key the id names first; then the others (two keys may share an id).
    keys = sorted(keyring.master_keys(), key=lambda master: master.id != key_id)
    for master in keys:
        try:
            return AESGCM(keyring.purpose_key(master, PURPOSE)).decrypt(
                nonce, sealed, purpose.encode()
            )
        except InvalidTag:
            continue
    raise SealedError(
        f"{purpose}: the sealed value does not open with this server's keys "
        f"(sealed under key {key_id.hex()}; see docs/operations.md, Keys)"
    )


def seal(plain: str, *, purpose: str) -> str:
    return seal_bytes(plain.encode(), purpose=purpose)


def unseal(value: str, *, purpose: str) -> str:
    return unseal_bytes(value, purpose=purpose).decode()


def sealed_under_current(value: str) -> bool:
    """Whether the value names the current key (rotation re-seals the others)."""
    try:
        return _b64decode(value[len(PREFIX) :])[:2] == keyring.current().id
    except ValueError:
        return False


def reseal(value: str, *, purpose: str) -> str:
    """The same secret sealed with the current key."""
    return seal_bytes(unseal_bytes(value, purpose=purpose), purpose=purpose)


class SealedTextField(models.TextField):
    """A text column whose value is sealed in the database and clear in Python.

    The purpose is the model's label and the field's name. An empty string stays empty
    (no secret). A value that is not sealed is refused on reading: a clear secret written
    into the table by hand does not become a secret the server uses."""

    def contribute_to_class(
        self, cls: type[models.Model], name: str, *args: Any, **kw: Any
    ) -> None:
        super().contribute_to_class(cls, name, *args, **kw)
        self.purpose = f"{cls._meta.label}.{name}"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return unseal(value, purpose=self.purpose)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "" or is_sealed(value):
            return value
        return seal(value, purpose=self.purpose)

    def value_to_string(self, obj: models.Model) -> str:
        # dumpdata writes the sealed form: a fixture or a dump carries no secret in clear.
        value = self.value_from_object(obj)
        return "" if not value else seal(str(value), purpose=self.purpose)
