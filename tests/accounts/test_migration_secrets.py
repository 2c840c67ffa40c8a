"""Migration accounts/0016: what a database from before holds in clear is sealed, its sessions
end, and its plain SHA-256 audit chain becomes an HMAC chain, recorded."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.identity import audit
from accounts.identity.otp_keys import PURPOSE as TOTP
from common import sealed

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("accounts", "0015_a_person_per_user_and_grants_from_groups")]
CLEAR_KEY = "3132333435363738393031323334353637383930"


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def sql(query: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return list(cursor.fetchall()) if cursor.description else []


def test_migration_seals_ends_sessions_and_keys_the_chain():
    migrate(BEFORE)
    try:
        sql(
            "INSERT INTO accounts_merchant (id, name, webhook_url, webhook_secret, created_at) "
            "VALUES (gen_random_uuid(), 'Old shop', '', 'whsec_b2xkc2VjcmV0', now())"
        )
        (user_id,) = sql(
            "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined) VALUES"
            " ('!', false, 'old-clerk', '', '', '', true, true, now()) RETURNING id"
        )[0]
        sql(
            "INSERT INTO otp_totp_totpdevice (name, confirmed, user_id, key, step, t0, digits,"
            " tolerance, drift, last_t, throttling_failure_count, created_at)"
            " VALUES ('a', true, %s, %s, 30, 0, 6, 1, 0, -1, 0, now())",
            [user_id, CLEAR_KEY],
        )
        sql(
            "INSERT INTO django_session VALUES ('live0session0key0in0clear0000000', 'x', "
            "now() + interval '1 day')"
        )
        previous = audit.GENESIS
        for n in range(3):  # the chain as last round wrote it: plain SHA-256
            event = type("E", (), {})()
            (event.id,) = sql("SELECT nextval(pg_get_serial_sequence('accounts_auditevent','id'))")[
                0
            ]
            event.at = sql("SELECT now()")[0][0]
            event.actor_id, event.actor_label, event.ip = None, "old", None
            event.action, event.target_type, event.target_id = f"old.{n}", "", ""
            event.before = event.after = None
            event.detail, event.prev_hash = {}, previous
            event.hash = audit.unkeyed_hash(event)
            sql(
                "INSERT INTO accounts_auditevent (id, at, actor_label, action, target_type,"
                " target_id, detail, prev_hash, hash) VALUES (%s, %s, 'old', %s, '', '', '{}', %s, %s)",
                [event.id, event.at, event.action, event.prev_hash, event.hash],
            )
            previous = event.hash
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    ((secret,),) = sql("SELECT webhook_secret FROM accounts_merchant WHERE name = 'Old shop'")
    ((key,),) = sql("SELECT key FROM otp_totp_totpdevice WHERE user_id = %s", [user_id])
    assert sealed.unseal(secret, purpose="accounts.Merchant.webhook_secret") == "whsec_b2xkc2VjcmV0"
    assert sealed.unseal_bytes(key, purpose=TOTP) == bytes.fromhex(CLEAR_KEY)
    assert sql("SELECT count(*) FROM django_session") == [(0,)]
    result = audit.verify_chain()
    assert result["ok"], result["broken"]
    ((detail,),) = sql(
        "SELECT detail FROM accounts_auditevent WHERE action = 'audit.rechain' ORDER BY id DESC LIMIT 1"
    )
    detail = json.loads(detail) if isinstance(detail, str) else detail
    assert detail["old_head"] == previous and detail["events"] >= 3
