"""Rotating the keys that are not in the database (common/keyring.py): `manage.py rotate_keys`.

`keys_rotate` makes the current key the one everything is under: with the key file, it first
adds a new key in front (with FIELD_ENCRYPTION_KEYS the operator has put the new key first and
restarted); then it seals every secret again (each row under its lock, so a secret changed
meanwhile is not overwritten with its old value) and re-chains the audit trail. Sessions need
nothing: they are found under every key of the keyring. `keys_retire` drops the older keys once
nothing is left under them; the sessions stored under them end then.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import models, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit, otp_keys
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from common import keyring, sealed

CHUNK = 500


class KeysError(Exception):
    pass


def _sealed_columns() -> Iterator[tuple[type[models.Model], str, str]]:
    """(model, column's attribute, purpose) of every sealed value the hub keeps."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, sealed.SealedTextField):
                yield model, field.attname, field.purpose
    yield TOTPDevice, "key", otp_keys.PURPOSE


def _columns(model: type[models.Model], attname: str) -> tuple[str, str, str]:
    """The table, the sealed column and the primary key's column, quoted (from the models)."""
    field = model._meta.get_field(attname)
    assert isinstance(field, models.Field) and model._meta.pk is not None
    quote = transaction.get_connection().ops.quote_name
    return quote(model._meta.db_table), quote(field.column), quote(model._meta.pk.column)


def _raw_values(model: type[models.Model], attname: str, pks: list[Any]) -> list[tuple[Any, str]]:
    """The stored (sealed) values, not the ones the field opens."""
    table, column, pk_column = _columns(model, attname)
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT {pk_column}, {column} FROM {table} WHERE {pk_column} = ANY(%s) "  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
            f"ORDER BY {pk_column} FOR UPDATE",
            [pks],
        )
        return list(cursor.fetchall())


def _reseal_column(model: type[models.Model], attname: str, purpose: str) -> dict[str, int]:
    """Seal again, under the current key, what is sealed under another one."""
    counts = {"resealed": 0, "current": 0}
    table, column, pk_column = _columns(model, attname)
    pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), CHUNK):
        with transaction.atomic(), transaction.get_connection().cursor() as cursor:
            for pk, value in _raw_values(model, attname, pks[start : start + CHUNK]):
                if not value:
                    continue
                if sealed.sealed_under_current(value):
                    counts["current"] += 1
                    continue
                cursor.execute(
                    f"UPDATE {table} SET {column} = %s WHERE {pk_column} = %s",  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
                    [sealed.reseal(value, purpose=purpose), pk],
                )
                counts["resealed"] += 1
    return counts


def keys_status() -> dict[str, Any]:
    """Which key each sealed value and audit event is under; the keyring's key ids."""
    current = keyring.current()
    older: dict[str, int] = {}
    for model, attname, _purpose in _sealed_columns():
        label = f"{model._meta.label}.{attname}"
        for value in _stored(model, attname):
            if value and not sealed.sealed_under_current(value):
                older[label] = older.get(label, 0) + 1
    for rekeyer in keyring.rekeyers():
        if count := rekeyer.older():
            older[rekeyer.name] = count
    chain = audit.verify_chain()
    return {
        "current": current.label,
        "keys": [master.label for master in keyring.master_keys()],
        "source": "FIELD_ENCRYPTION_KEYS"
        if keyring.from_environment()
        else str(keyring.key_file()),
        "sealed_under_older_keys": older,
        "audit_chain_keys": chain["keys"],
        "audit_chain_ok": chain["ok"],
    }


def _stored(model: type[models.Model], attname: str) -> Iterator[str]:
    table, column, _pk = _columns(model, attname)
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608 - identifiers from model metadata, quoted
        for (value,) in cursor.fetchall():
            yield value


def keys_rotate(*, actor: Actor, add_key: bool = True) -> dict[str, Any]:
    """Add a new current key (key file only), re-seal every secret under it, re-chain the
    audit trail under it; recorded in the audit trail."""
    added = None
    if add_key and not keyring.from_environment():
        keyring.write_key_file([keyring.new_key(), *keyring.key_file_lines()])
        added = keyring.current().label
    resealed = {
        f"{model._meta.label}.{attname}": _reseal_column(model, attname, purpose)
        for model, attname, purpose in _sealed_columns()
    }
    for rekeyer in keyring.rekeyers():
        resealed[rekeyer.name] = rekeyer.rekey()
    chain = audit.rechain(actor=actor)
    with transaction.atomic():
        audit.record(
            actor=actor,
            action=AuditAction.KEYS_ROTATE,
            target=None,
            added=added,
            current=keyring.current().label,
            resealed=resealed,
            rechain_event=chain.pk,
        )
    return {
        "added": added,
        **(
            {
                "note": "keys come from FIELD_ENCRYPTION_KEYS: put the new key first, restart, run this"
            }
            if keyring.from_environment()
            else {}
        ),
        "current": keyring.current().label,
        "resealed": resealed,
        "audit_rechained": chain.detail["events"],
        "audit_was_ok": chain.detail["was_ok"],
    }


def keys_retire(*, actor: Actor) -> dict[str, Any]:
    """Drop every key but the current one, once nothing is sealed or chained under them."""
    status = keys_status()
    others = [label for label in status["keys"] if label != status["current"]]
    left = status["sealed_under_older_keys"]
    chained = {k: n for k, n in status["audit_chain_keys"].items() if k != status["current"]}
    if left or chained or not status["audit_chain_ok"]:
        raise KeysError(
            "older keys still in use, run rotate_keys first: "
            f"sealed values {left or 'none'}, audit events {chained or 'none'}, "
            f"audit chain {'ok' if status['audit_chain_ok'] else 'broken (see verify_audit)'}"
        )
    if keyring.from_environment():
        return {"retired": [], "remove_from_FIELD_ENCRYPTION_KEYS": others, **status}
    keyring.write_key_file(keyring.key_file_lines()[:1])
    with transaction.atomic():
        audit.record(actor=actor, action=AuditAction.KEYS_RETIRE, target=None, retired=others)
    return {"retired": others, "current": status["current"]}


@checks.register(checks.Tags.security, deploy=True)
def check_keys_configured(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """`check --deploy`: keys from a file generated on this host are this host's alone."""
    if keyring.from_environment():
        return []
    return [
        checks.Warning(
            "FIELD_ENCRYPTION_KEYS is not set: the keys are in a file generated under DATA_DIR "
            f"({keyring.key_file()}).",
            hint="Give every web and worker host the same keys (the setting, or one shared "
            "file), and back them up apart from the database (docs/operations.md, Keys).",
            id="payhub.W001",
        )
    ]
