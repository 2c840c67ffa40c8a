"""Roles given to persons, under four eyes: one member of staff asks, a holder of the admin
role who is neither the asker nor the person approves through the gate (a fresh code), and
the grant of a money role starts the person's cool-off. Revoking takes effect at once.

A command on the server (create_operator, seed_demo) bootstraps a grant without a second
person: whoever runs commands there already holds the keys; it is audited as a bootstrap.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.identity import audit, gate, roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.models import RoleGrant, User
from accounts.identity.people import bar_from_approving
from common.errors import DomainError

GRANTING_ROLE = roles.ADMIN  # who may approve a grant
MONEY_ROLES = {roles.APPROVER}  # a grant of these starts the cool-off


class GrantRefused(DomainError):
    code = "grant_refused"
    status = 409


def _check_role(role: str) -> None:
    if role not in roles.STAFF_ROLES:
        raise GrantRefused(f"no such role: {role!r} (one of {', '.join(roles.STAFF_ROLES)})")


def _sync_group(user_ids: list[int], role: str, *, member: bool) -> None:
    """The role's group opens its screens; it follows the grant, it never makes one."""
    group, _ = Group.objects.get_or_create(name=role)
    for user in User.objects.filter(pk__in=user_ids):
        if member:
            user.groups.add(group)
        else:
            user.groups.remove(group)


@transaction.atomic
def role_grant_request(*, user: User, role: str, actor: Actor, reason: str = "") -> RoleGrant:
    """Ask for `role` for the person behind `user`; it waits for a second person."""
    _check_role(role)
    person = gate.person_of(user)
    asker = gate.person_of(actor.user)
    if person is None or asker is None:
        raise GrantRefused("a grant is asked for by a member of staff, for a person")
    if RoleGrant.objects.filter(person=person, role=role, revoked_at__isnull=True).exists():
        raise GrantRefused(f"{person} already holds or waits for the {role} role")
    grant = RoleGrant.objects.create(person=person, role=role, requested_by=asker, reason=reason)
    audit.record(
        actor=actor, action=AuditAction.ROLE_GRANT_REQUEST, target=user, role=role, reason=reason
    )
    return grant


def role_grant_approve(*, grant_id: int, actor: Actor, otp_token: str) -> RoleGrant:
    """A holder of the admin role, neither the asker nor the grantee, approves: signed."""
    approver = actor.user
    if approver is None:
        raise gate.NotAllowed("a grant is approved by a member of staff")
    pending = RoleGrant.objects.get(pk=grant_id)
    initiators = {
        pending.person_id,
        *([pending.requested_by_id] if pending.requested_by_id else []),
    }
    signed = gate.pass_gate(
        user=approver,
        role=GRANTING_ROLE,
        initiators=initiators,
        otp_token=otp_token,
        actor=actor,
        subject=pending,
        kind="role_grant",
    )
    with transaction.atomic(durable=True):
        grant = RoleGrant.objects.select_for_update().get(pk=grant_id)
        if grant.approved_at is not None or grant.revoked_at is not None:
            raise GrantRefused("this grant is decided already")
        gate.record(
            signed=signed,
            user=approver,
            role=GRANTING_ROLE,
            kind="role_grant",
            verdict="approve",
            subject=grant,
            initiator=grant.requested_by_id,
            initiators=initiators,
            actor=actor,
            role_granted=grant.role,
        )
        grant.approved_by = signed.person
        grant.approved_at = timezone.now()
        grant.save(update_fields=["approved_by", "approved_at"])
        user_ids = list(grant.person.users.values_list("pk", flat=True))
        _sync_group(user_ids, grant.role, member=True)
        audit.record(
            actor=actor,
            action=AuditAction.ROLE_GRANT_APPROVE,
            target=grant.person.users.order_by("pk").first(),
            role=grant.role,
            otp_time_step=signed.otp_time_step,
        )
        if grant.role in MONEY_ROLES:
            for user_id in user_ids:
                bar_from_approving(user_id, why=f"{grant.role} role granted")
    return grant


@transaction.atomic
def role_grant_revoke(*, grant_id: int, actor: Actor, reason: str = "") -> RoleGrant:
    """Taking a role away needs no second person: it can only reduce what one may do."""
    grant = RoleGrant.objects.select_for_update().get(pk=grant_id)
    if grant.revoked_at is None:
        grant.revoked_at = timezone.now()
        grant.save(update_fields=["revoked_at"])
        _sync_group(list(grant.person.users.values_list("pk", flat=True)), grant.role, member=False)
        audit.record(
            actor=actor,
            action=AuditAction.ROLE_GRANT_REVOKE,
            target=grant.person.users.order_by("pk").first(),
            role=grant.role,
            reason=reason,
        )
    return grant


@transaction.atomic
def role_grant_bootstrap(*, user: User, role: str, actor: Actor) -> RoleGrant:
    """A grant made by a command on the server (no request from the web): audited as such."""
    _check_role(role)
    if actor.user is not None:
        raise GrantRefused("only a command on the server bootstraps a grant; ask for it instead")
    person = gate.person_of(user)
    assert person is not None
    grant, created = RoleGrant.objects.get_or_create(
        person=person,
        role=role,
        revoked_at=None,
        defaults={"approved_at": timezone.now(), "reason": f"bootstrap by {actor.label}"},
    )
    if created:
        _sync_group([user.pk], role, member=True)
        audit.record(actor=actor, action=AuditAction.ROLE_GRANT_BOOTSTRAP, target=user, role=role)
    return grant
