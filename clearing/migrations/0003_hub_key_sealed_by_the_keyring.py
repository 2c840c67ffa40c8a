"""The hub's signing key moves from its own Fernet key (CLEARING_KEY_ENCRYPTION_KEY or
CLEARING_KEY_FILE, settings now gone) to the keyring every secret at rest is sealed with
(common/sealed.py), so that `rotate_keys` covers it.

An existing key is opened with the old Fernet key, read from the environment variables of
the same names or the old default file (DATA_DIR/clearing_key), and sealed again. If there
is a key and the old Fernet key is not found, the migration stops and changes nothing: the
hub would lose its identity otherwise. Once it has run, the old file may be deleted.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from django.conf import settings
from django.db import migrations

import common.sealed

PURPOSE = "clearing.HubKey.private_key"


def _old_fernet():
    from cryptography.fernet import Fernet

    configured = os.environ.get("CLEARING_KEY_ENCRYPTION_KEY", "")
    if configured:
        return Fernet(configured.encode())
    path = Path(os.environ.get("CLEARING_KEY_FILE", Path(settings.DATA_DIR) / "clearing_key"))
    if not path.exists():
        raise RuntimeError(
            f"clearing: the hub's signing key is sealed with the Fernet key of {path}, which is "
            "missing: set CLEARING_KEY_FILE (or CLEARING_KEY_ENCRYPTION_KEY) as before for this "
            "migration"
        )
    return Fernet(path.read_bytes().strip())


def reseal(apps, schema_editor):
    HubKey = apps.get_model("clearing", "HubKey")
    rows = list(HubKey.objects.exclude(encrypted_private_key=b"").order_by("pk"))
    if not rows:
        return
    fernet = _old_fernet()
    for row in rows:
        raw = fernet.decrypt(bytes(row.encrypted_private_key))
        HubKey.objects.filter(pk=row.pk).update(
            private_key=common.sealed.seal(base64.b64encode(raw).decode(), purpose=PURPOSE)
        )


class Migration(migrations.Migration):
    dependencies = [("clearing", "0002_peer_change")]

    operations = [
        migrations.AddField(
            model_name="hubkey",
            name="private_key",
            field=common.sealed.SealedTextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(reseal, migrations.RunPython.noop, elidable=False),
        migrations.RemoveField(model_name="hubkey", name="encrypted_private_key"),
    ]
