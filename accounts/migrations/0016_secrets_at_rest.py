"""Secrets at rest (issue 18): what a copy of the database yields no longer opens anything.

- merchants' webhook secrets and django-otp's TOTP keys are sealed (common/sealed.py) with a
  key that is not in the database (common/keyring.py);
- every session ends: the table held their keys in clear, and from now on it holds only an
  HMAC of each (accounts/identity/sessions.py), so everyone logs in again;
- the audit chain, plain SHA-256 until now, is made again as an HMAC chain; the event that
  records it carries what verifying the old chain found and the head hash it replaced.
Reversing unseals the secrets (the sessions stay ended, the chain stays keyed).
"""

from binascii import hexlify

from django.db import migrations

import common.sealed

WEBHOOK = "accounts.Merchant.webhook_secret"


def seal_secrets(apps, schema_editor):
    from accounts.identity.otp_keys import seal_key
    from common import sealed

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, webhook_secret FROM accounts_merchant")
        for pk, secret in cursor.fetchall():
            if secret and not sealed.is_sealed(secret):
                cursor.execute(
                    "UPDATE accounts_merchant SET webhook_secret = %s WHERE id = %s",
                    [sealed.seal(secret, purpose=WEBHOOK), pk],
                )
        cursor.execute("SELECT id, key FROM otp_totp_totpdevice")
        for pk, key in cursor.fetchall():
            if key and not sealed.is_sealed(key):
                cursor.execute(
                    "UPDATE otp_totp_totpdevice SET key = %s WHERE id = %s", [seal_key(key), pk]
                )


def unseal_secrets(apps, schema_editor):
    from accounts.identity.otp_keys import PURPOSE as TOTP
    from common import sealed

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, webhook_secret FROM accounts_merchant")
        for pk, secret in cursor.fetchall():
            if sealed.is_sealed(secret):
                cursor.execute(
                    "UPDATE accounts_merchant SET webhook_secret = %s WHERE id = %s",
                    [sealed.unseal(secret, purpose=WEBHOOK), pk],
                )
        cursor.execute("SELECT id, key FROM otp_totp_totpdevice")
        for pk, key in cursor.fetchall():
            if sealed.is_sealed(key):
                clear = hexlify(sealed.unseal_bytes(key, purpose=TOTP)).decode()
                cursor.execute(
                    "UPDATE otp_totp_totpdevice SET key = %s WHERE id = %s", [clear, pk]
                )


def end_sessions(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_session")


def key_audit_chain(apps, schema_editor):
    from accounts.identity import audit

    audit.rechain(
        actor=audit.Actor.system("migration accounts.0016_secrets_at_rest"),
        unkeyed=True,
        model=apps.get_model("accounts", "AuditEvent"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0015_a_person_per_user_and_grants_from_groups"),
        ("otp_totp", "0003_add_timestamps"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="merchant",
            name="webhook_secret",
            field=common.sealed.SealedTextField(editable=False),
        ),
        migrations.RunPython(seal_secrets, unseal_secrets),
        migrations.RunPython(end_sessions, migrations.RunPython.noop),
        migrations.RunPython(key_audit_chain, migrations.RunPython.noop),
    ]
