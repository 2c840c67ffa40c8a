"""Merchant API keys: made (by a command, or by a member of staff, then waiting for a second
person's signed approval through the one gate), approved, revoked; each change audited.
A key moves its merchant's money, so it is a door like any other (docs/architecture.md)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from django.db import transaction
from django.utils import timezone

from accounts.identity import audit, gate, roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger.errors import InvalidState
from accounts.models import Merchant
from payments.models import MerchantAPIKey


@transaction.atomic
def api_key_create(
    *, merchant: Merchant, name: str, actor: Actor, expiry_date: datetime | None = None
) -> tuple[MerchantAPIKey, str]:
    """A new key for the merchant; the key itself is returned this once and stored hashed."""
    # The key is its creator's: a batch uploaded with it is that person's to initiate, and
    # never theirs to approve (the gate compares persons through every channel).
    creator = gate.person_of(actor.user)
    api_key, key = MerchantAPIKey.objects.create_key(
        merchant=merchant,
        name=name[:50] or "API key",
        expiry_date=expiry_date,
        created_by=creator,
        # Made by a command on the server: in use at once. Made by a person: it waits for a
        # second person's signed approval (`api_key_approve`), as any door to money does.
        approved_at=timezone.now() if creator is None else None,
    )
    audit.record(
        actor=actor,
        action=AuditAction.API_KEY_CREATE,
        target=api_key,
        merchant=str(merchant.pk),
        created_by=str(creator) if creator else actor.label,
    )
    # create_key is typed for AbstractAPIKey; MerchantAPIKey's manager makes a MerchantAPIKey.
    return cast(MerchantAPIKey, api_key), key


API_KEY_APPROVER = roles.ADMIN


def api_key_approve(*, prefix: str, actor: Actor, otp_token: str) -> MerchantAPIKey:
    """A second person (the admin role, not the key's creator) approves a key, signed."""
    if actor.user is None:
        raise gate.NotAllowed("a key is approved by a member of staff")
    pending = MerchantAPIKey.objects.get(prefix=prefix)
    initiators = {pending.created_by_id} if pending.created_by_id else set()
    signed = gate.pass_gate(
        user=actor.user,
        role=API_KEY_APPROVER,
        initiators=initiators,
        otp_token=otp_token,
        actor=actor,
        subject=pending,
        kind="api_key.approve",
    )
    with transaction.atomic(durable=True):
        api_key = MerchantAPIKey.objects.select_for_update().get(pk=pending.pk)
        if api_key.approved_at is not None or api_key.revoked:
            raise InvalidState("this key is approved or revoked already")
        gate.record(
            signed=signed,
            user=actor.user,
            role=API_KEY_APPROVER,
            kind="api_key",
            verdict="approve",
            subject=api_key,
            initiator=api_key.created_by_id,
            initiators=initiators,
            actor=actor,
        )
        api_key.approved_by = signed.person
        api_key.approved_at = timezone.now()
        api_key.save(update_fields=["approved_by", "approved_at"])
        audit.record(
            actor=actor,
            action=AuditAction.API_KEY_APPROVE,
            target=api_key,
            otp_time_step=signed.otp_time_step,
        )
    return api_key


@transaction.atomic
def api_key_revoke(*, prefix: str, actor: Actor) -> MerchantAPIKey:
    api_key = MerchantAPIKey.objects.select_for_update().get(prefix=prefix)
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
        audit.record(actor=actor, action=AuditAction.API_KEY_REVOKE, target=api_key)
    return api_key
