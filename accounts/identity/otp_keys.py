"""TOTP keys sealed at rest (common/sealed.py): django-otp's TOTPDevice.key holds the sealed key.

django-otp keeps the key in clear, hex, in otp_totp_totpdevice.key; whoever reads that table
can compute every operator's codes. Here the column holds the binary key sealed (71 characters
for django-otp's 20-byte keys, within its 80), and the one place django-otp reads the key,
the `bin_key` property (verify_token, config_url), opens it. `connect` installs both (from
AccountsConfig.ready): a pre_save signal seals a key set in clear (django-otp's default_key
makes one), and `bin_key` is replaced by one that opens the sealed value. A value that is not
sealed does not open: a key written into the table by hand is not used.
"""

from __future__ import annotations

from binascii import unhexlify
from typing import Any

from django.db.models.signals import pre_save
from django_otp.plugins.otp_totp.models import TOTPDevice

from common import sealed

PURPOSE = "otp_totp.TOTPDevice.key"
COLUMN_LENGTH = 80


def seal_key(hex_key: str) -> str:
    value = sealed.seal_bytes(unhexlify(hex_key.encode()), purpose=PURPOSE)
    if len(value) > COLUMN_LENGTH:
        raise ValueError("a TOTP key longer than 20 bytes does not fit its column once sealed")
    return value


def _bin_key(device: TOTPDevice) -> bytes:
    return sealed.unseal_bytes(device.key, purpose=PURPOSE)


def _seal_on_save(sender: Any, instance: TOTPDevice, raw: bool = False, **_: Any) -> None:
    if not instance.key:
        return
    if not sealed.is_sealed(instance.key):
        instance.key = seal_key(instance.key)
    elif not sealed.sealed_under_current(instance.key):
        # Read before a rotation, saved after it (a sign-in's last_t): sealed again, so
        # the save does not put back what rotate_keys moved to the new key.
        instance.key = sealed.reseal(instance.key, purpose=PURPOSE)


def connect() -> None:
    TOTPDevice.bin_key = property(_bin_key)
    pre_save.connect(_seal_on_save, sender=TOTPDevice, dispatch_uid="otp_keys.seal")
