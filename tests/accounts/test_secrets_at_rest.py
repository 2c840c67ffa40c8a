"""A database reader borrows no one (issue 18, point 9).

Written from the side of whoever holds a copy of the database (a backup, a read-only role):
every table is read with SQL, as they would, and what they find is tried against the hub.
"""

from __future__ import annotations

import base64
import json
from binascii import hexlify

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accounts.identity import audit, otp_keys
from accounts.identity.audit import Actor
from accounts.ledger.services import merchant_create
from accounts.models import AuditEvent, Merchant
from common import keyring, sealed
from tests.factories import UserFactory
from tests.helpers import make_operator, otp_login, totp_code

pytestmark = pytest.mark.django_db


def every_text_in_the_database() -> str:
    """What a reader with SELECT on every table sees: all of it, as text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [name for (name,) in cursor.fetchall()]
        dump = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            dump.extend(row for (row,) in cursor.fetchall())
    return "\n".join(dump)


def sql_rows(query: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return list(cursor.fetchall())


def test_a_database_reader_finds_no_totp_key_webhook_secret_or_session_key(client):
    merchant = merchant_create(
        name="Shop", webhook_url="https://shop.example/hooks", actor=Actor.system()
    )
    secret = Merchant.objects.get(pk=merchant.pk).webhook_secret
    operator = make_operator()
    device = otp_login(client, operator)
    session_cookie = client.cookies["sessionid"].value
    totp_hex = hexlify(device.bin_key).decode()
    totp_b32 = base64.b32encode(device.bin_key).decode()

    dump = every_text_in_the_database()

    assert secret.startswith("whsec_") and secret not in dump
    assert secret.removeprefix("whsec_") not in dump
    assert totp_hex not in dump.lower() and totp_b32 not in dump
    assert session_cookie not in dump
    # ...and what the session table does hold logs no one in when sent as a cookie.
    for (stored,) in sql_rows("SELECT session_key FROM django_session"):
        reader = type(client)()
        reader.cookies["sessionid"] = stored
        assert reader.get(reverse("home")).status_code == 302  # to the login page
    # The operator's own cookie still works: the hub finds the session by its HMAC.
    assert client.get(reverse("home")).status_code == 200


def test_the_sealed_values_are_what_the_hub_uses():
    merchant = merchant_create(name="Shop", webhook_url="", actor=Actor.system())
    (stored,) = sql_rows(
        "SELECT webhook_secret FROM accounts_merchant WHERE id = %s", [merchant.pk]
    )[0]
    assert sealed.is_sealed(stored)
    assert Merchant.objects.get(pk=merchant.pk).webhook_secret == merchant.webhook_secret


def test_a_clear_secret_written_into_the_table_by_hand_is_refused():
    merchant = merchant_create(name="Shop", webhook_url="", actor=Actor.system())
    sql_rows(
        "UPDATE accounts_merchant SET webhook_secret = 'whsec_Y2hvc2VuYnl0aGVhdHRhY2tlcg==' "
        "WHERE id = %s RETURNING id",
        [merchant.pk],
    )
    with pytest.raises(sealed.SealedError, match="not sealed"):
        Merchant.objects.get(pk=merchant.pk)


def test_a_sealed_value_moved_to_another_column_does_not_open(client):
    """The column is GCM's associated data: an operator's sealed TOTP key (whose clear value
    that operator knows) copied over a merchant's webhook secret does not open there."""
    merchant = merchant_create(name="Shop", webhook_url="", actor=Actor.system())
    device = otp_login(client, UserFactory(username="clerk", is_staff=True))
    ((stored,),) = sql_rows("SELECT key FROM otp_totp_totpdevice WHERE id = %s", [device.pk])
    sql_rows(
        "UPDATE accounts_merchant SET webhook_secret = %s WHERE id = %s RETURNING id",
        [stored, merchant.pk],
    )
    with pytest.raises(sealed.SealedError, match="does not open"):
        Merchant.objects.get(pk=merchant.pk)


def test_a_totp_key_written_in_clear_by_hand_is_not_a_second_factor(client):
    """A writer who puts a key of their own choosing in clear does not get codes accepted."""
    operator = UserFactory(username="clerk", is_staff=True)
    device = otp_login(client, operator)
    chosen = "3132333435363738393031323334353637383930"
    sql_rows(
        "UPDATE otp_totp_totpdevice SET key = %s WHERE id = %s RETURNING id", [chosen, device.pk]
    )
    device.refresh_from_db()
    with pytest.raises(sealed.SealedError):
        device.bin_key  # noqa: B018


def test_a_new_device_is_sealed_from_its_first_save():
    operator = UserFactory(username="clerk", is_staff=True)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=operator, name="authenticator", confirmed=False)
    ((stored,),) = sql_rows("SELECT key FROM otp_totp_totpdevice WHERE id = %s", [device.pk])
    assert sealed.is_sealed(stored) and len(stored) <= otp_keys.COLUMN_LENGTH
    assert len(device.bin_key) == 20


def test_an_audit_chain_recomputed_without_the_key_is_caught(capsys):
    """Someone who can write the table deletes an event and recomputes the chain after it
    with plain SHA-256 (last round's chain): verify_audit names every recomputed event."""
    made = [audit.record(actor=Actor.system(), action=f"test.{i}", target=None) for i in range(4)]
    victim = made[1]
    AuditEvent.objects.filter(pk=victim.pk).delete()
    previous = made[0].hash
    for event in AuditEvent.objects.filter(id__gt=made[0].id).order_by("id"):
        event.prev_hash = previous
        event.hash = audit.unkeyed_hash(event)
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=event.prev_hash, hash=event.hash)
        previous = event.hash

    with pytest.raises(SystemExit):
        call_command("verify_audit")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert not result["ok"]
    assert {b["id"] for b in result["broken"]} >= {made[2].id, made[3].id}


def test_an_audit_chain_recomputed_under_a_guessed_key_is_caught():
    made = [audit.record(actor=Actor.system(), action=f"test.{i}", target=None) for i in range(3)]
    guessed = keyring.MasterKey(b"\x00" * 32)
    AuditEvent.objects.filter(pk=made[2].pk).update(action="test.nothing-happened")
    event = AuditEvent.objects.get(pk=made[2].pk)
    AuditEvent.objects.filter(pk=event.pk).update(hash=audit.event_hash(event, guessed))

    result = audit.verify_chain()

    assert not result["ok"] and [b["id"] for b in result["broken"]] == [made[2].id]


def test_totp_codes_still_work_with_the_sealed_key(client):
    operator = UserFactory(username="clerk", is_staff=True)
    device = otp_login(client, operator)
    assert len(totp_code(device)) == 6
