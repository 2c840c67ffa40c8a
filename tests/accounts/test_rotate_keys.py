"""`manage.py rotate_keys`: a new key, every secret sealed again, the chain re-keyed, no one
locked out; `--retire` then drops the old key, and what it sealed no longer opens."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from accounts.identity.audit import Actor
from accounts.ledger.services import merchant_create
from accounts.models import AuditEvent, Merchant
from batches.storage import batch_file_storage
from common import keyring, sealed
from tests.helpers import make_operator, otp_login

pytestmark = pytest.mark.django_db

WEBHOOK = "accounts.Merchant.webhook_secret"


@pytest.fixture
def key_file(settings, tmp_path):
    """The suite's keys, in a key file of this test's own (rotation rewrites it)."""
    path = tmp_path / "field_encryption_keys"
    path.write_text("".join(f"{line}\n" for line in keyring.key_file_lines()))
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.FIELD_ENCRYPTION_KEY_FILE = path
    return path


def command(*args: str) -> dict:
    from io import StringIO

    out = StringIO()
    call_command("rotate_keys", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def stored_secret(merchant: Merchant) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret FROM accounts_merchant WHERE id = %s", [merchant.pk])
        return cursor.fetchone()[0]


def test_rotation_reseals_rekeys_and_logs_no_one_out_then_retire_ends_the_old_key(key_file, client):
    merchant = merchant_create(name="Shop", webhook_url="", actor=Actor.system())
    device = otp_login(client, make_operator())
    stored_file = batch_file_storage.save("batches/test/rotated.upload", ContentFile(b"a,b\n"))
    old_key, old_secret = keyring.current().label, stored_secret(merchant)
    totp_key = device.bin_key

    rotated = command()

    assert rotated["added"] != old_key and rotated["current"] == rotated["added"]
    assert len(keyring.key_file_lines()) == 2
    assert stored_secret(merchant) != old_secret and sealed.sealed_under_current(
        stored_secret(merchant)
    )
    assert Merchant.objects.get(pk=merchant.pk).webhook_secret == merchant.webhook_secret
    with batch_file_storage.open(stored_file) as stream:  # its MAC was made again
        assert stream.read() == b"a,b\n"
    device.refresh_from_db()
    assert device.bin_key == totp_key and sealed.sealed_under_current(device.key)
    assert client.get(reverse("home")).status_code == 200  # the session outlives the rotation
    status = command("--status")
    assert status["sealed_under_older_keys"] == {}
    assert status["audit_chain_ok"] and set(status["audit_chain_keys"]) == {rotated["current"]}
    recorded = dict(
        AuditEvent.objects.filter(action__in=["keys.rotate", "audit.rechain"]).values_list(
            "action", "detail"
        )
    )
    assert recorded["keys.rotate"]["added"] == rotated["added"]
    assert recorded["audit.rechain"]["was_ok"] is True

    retired = command("--retire")

    assert retired["retired"] == [old_key] and len(keyring.key_file_lines()) == 1
    with pytest.raises(sealed.SealedError):
        sealed.unseal(old_secret, purpose=WEBHOOK)  # a backup from before opens nothing
    assert client.get(reverse("home")).status_code == 302  # sessions under the old key end
    assert Merchant.objects.get(pk=merchant.pk).webhook_secret == merchant.webhook_secret
    with batch_file_storage.open(stored_file) as stream:  # its MAC was made again
        assert stream.read() == b"a,b\n"


def test_retire_refuses_while_something_is_still_under_the_old_key(key_file):
    merchant = merchant_create(name="Shop", webhook_url="", actor=Actor.system())
    old_secret = stored_secret(merchant)
    command()
    with connection.cursor() as cursor:  # as a process that sealed with the old key meanwhile
        cursor.execute(
            "UPDATE accounts_merchant SET webhook_secret = %s WHERE id = %s",
            [old_secret, merchant.pk],
        )

    with pytest.raises(CommandError, match="older keys still in use"):
        command("--retire")

    assert len(keyring.key_file_lines()) == 2


def test_keys_from_the_setting_reseal_under_the_first(settings, key_file):
    merchant = merchant_create(name="Shop", webhook_url="", actor=Actor.system())
    old = keyring.key_file_lines()
    new = keyring.new_key()
    settings.FIELD_ENCRYPTION_KEYS = [new, *old]

    result = command("--reseal-only")

    assert result["added"] is None and result["resealed"][WEBHOOK]["resealed"] >= 1
    assert sealed.sealed_under_current(stored_secret(merchant))
    assert keyring.current().secret == keyring._parse(new, "test").secret


def _first_key(queue) -> None:
    queue.put(keyring.current().label)


@pytest.mark.django_db(databases=[])
def test_processes_starting_together_share_the_one_key_generated(settings, tmp_path):
    """`make run` starts web and workers at once, before any key file exists."""
    import multiprocessing

    settings.FIELD_ENCRYPTION_KEYS = []
    settings.FIELD_ENCRYPTION_KEY_FILE = tmp_path / "field_encryption_keys"
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_first_key, args=(queue,)) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=30)

    assert len({queue.get(timeout=5) for _ in processes}) == 1
    assert len(keyring.key_file_lines()) == 1
    assert [path.name for path in tmp_path.iterdir()] == ["field_encryption_keys"]
