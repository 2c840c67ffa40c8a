"""Peers changed by people: four eyes through the one gate.

A peer's public key decides whose messages this hub believes, its URL where the money's
documents go, its IBAN prefixes which payments leave for it. So a peer added or changed in
the admin is a proposal (`peer_propose`, by an admin, audited with before and after) that
takes effect only when another admin approves it with a fresh authenticator code
(`peer_change_approve`: role by grant, not the proposer, a Decision, audited). The command
`clearing_peer_add`, run by an operator who has the server, applies at once
(services.peer_save, audited).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.identity import audit, gate, roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger.errors import InvalidState
from clearing import services
from clearing.models import Peer, PeerChange

ROLE = roles.ADMIN
KIND = "clearing.peer_change"


def _staff(actor: Actor):
    if actor.user is None:
        raise gate.NotAllowed("a peer is changed in the back office by a member of staff")
    return actor.user


@transaction.atomic
def peer_propose(
    *, bic: str, url: str, public_key: str, iban_prefixes: list[str], actor: Actor
) -> PeerChange:
    """Propose a new peer, or new details for one; nothing changes until approved."""
    user = _staff(actor)
    gate.check(user=user, role=ROLE, initiators=set())
    prefixes = services.check_peer(
        bic=bic, url=url, public_key=public_key, iban_prefixes=iban_prefixes
    )
    bic = services.check_bic(bic)
    peer = Peer.objects.filter(bic=bic).first()
    before = services.snapshot(peer) if peer else None
    url = url.strip().rstrip("/")
    public_key = public_key.strip()
    after = {
        "bic": bic,
        "url": url,
        "public_key": public_key,
        "iban_prefixes": prefixes,
        "active": True,
    }
    if before == after:
        raise InvalidState("nothing to change: the peer has these details already")
    if PeerChange.objects.filter(bic=bic, status=PeerChange.Status.PENDING).exists():
        raise InvalidState(f"a change of {bic} already waits for approval")
    change = PeerChange.objects.create(
        bic=bic,
        url=url,
        public_key=public_key,
        iban_prefixes=prefixes,
        before=before,
        proposed_by=user,
    )
    audit.record(
        actor=actor,
        action=AuditAction.CLEARING_PEER_PROPOSE,
        target=change,
        before=before,
        after=after,
    )
    return change


def _pending(change_id: int) -> PeerChange:
    change = PeerChange.objects.select_for_update().get(pk=change_id)
    if change.status != PeerChange.Status.PENDING:
        raise InvalidState(f"this change is {change.get_status_display().lower()} already")
    return change


def peer_change_approve(*, change_id: int, actor: Actor, otp_token: str) -> Peer:
    """Another admin approves the proposal, signed: the peer changes now (audited)."""
    user = _staff(actor)
    proposal = PeerChange.objects.select_related("proposed_by").get(pk=change_id)
    proposer = gate.person_of(proposal.proposed_by)
    initiators = {proposer.pk} if proposer else set()
    signed = gate.pass_gate(
        user=user,
        role=ROLE,
        initiators=initiators,
        otp_token=otp_token,
        actor=actor,
        subject=proposal,
        kind=f"{KIND}.approve",
    )
    with transaction.atomic(durable=True):
        change = _pending(change_id)
        current = Peer.objects.select_for_update().filter(bic=change.bic).first()
        if (services.snapshot(current) if current else None) != change.before:
            raise InvalidState(
                "the peer changed since this was proposed: reject it and propose again"
            )
        gate.record(
            signed=signed,
            user=user,
            role=ROLE,
            kind=KIND,
            verdict="approve",
            subject=change,
            initiator=min(initiators) if initiators else None,
            initiators=initiators,
            actor=actor,
        )
        change.status = PeerChange.Status.APPROVED
        change.decided_by = user
        change.decided_at = timezone.now()
        change.save(update_fields=["status", "decided_by", "decided_at"])
        audit.record(
            actor=actor,
            action=AuditAction.CLEARING_PEER_APPROVE,
            target=change,
            proposed_by=change.proposed_by.get_username(),
            otp_time_step=signed.otp_time_step,
        )
        return services.peer_save(
            bic=change.bic,
            url=change.url,
            public_key=change.public_key,
            iban_prefixes=list(change.iban_prefixes),
            actor=actor,
        )


def peer_change_reject(*, change_id: int, actor: Actor, otp_token: str, reason: str) -> PeerChange:
    """An admin (the proposer too: a withdrawal) rejects the proposal, signed."""
    user = _staff(actor)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidState("say why the change is rejected")
    proposal = PeerChange.objects.get(pk=change_id)
    signed = gate.pass_gate(
        user=user,
        role=ROLE,
        initiators=set(),
        otp_token=otp_token,
        actor=actor,
        subject=proposal,
        kind=f"{KIND}.reject",
    )
    with transaction.atomic(durable=True):
        change = _pending(change_id)
        gate.record(
            signed=signed,
            user=user,
            role=ROLE,
            kind=KIND,
            verdict="reject",
            subject=change,
            initiator=None,
            initiators=set(),
            actor=actor,
        )
        change.status = PeerChange.Status.REJECTED
        change.decided_by = user
        change.decided_at = timezone.now()
        change.decision_reason = reason[:500]
        change.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit.record(
            actor=actor,
            action=AuditAction.CLEARING_PEER_REJECT,
            target=change,
            reason=reason,
            otp_time_step=signed.otp_time_step,
        )
        return change
