"""Staff roles: explicit grants to persons (`RoleGrant`, accounts/identity/grants.py), and
the Django groups of the same names that carry each role's admin permissions.

A group only opens screens; what a person may decide is read from their grants alone.
Permissions are named as strings so that this app need not import the apps that define
them; `sync_role_permissions` runs after every migrate.
"""

from __future__ import annotations

from typing import Any

OPERATOR = "operator"
APPROVER = "approver"
ADMIN = "admin"
STAFF_ROLES = (OPERATOR, APPROVER, ADMIN)

ROLE_PERMISSIONS: dict[str, list[str]] = {
    OPERATOR: ["batches.view_batch", "batches.add_batch"],
    APPROVER: ["batches.view_batch", "batches.approve_batch"],
    ADMIN: [
        "accounts.view_account",
        "accounts.change_account",
        "accounts.view_merchant",
        "accounts.change_merchant",
        "accounts.view_ledgertransaction",
        "accounts.view_ledgerentry",
        "accounts.view_hold",
        "accounts.view_auditevent",
        # Instant limits: see the changes asked for, confirm a higher one (four eyes).
        "accounts.view_instantlimitchange",
        # Sanctions screening: see lists and alerts, import a list, decide an alert (four eyes).
        "compliance.view_sanctionslist",
        "compliance.add_sanctionslist",
        "compliance.view_sanctionsentry",
        "compliance.view_screeningalert",
        "compliance.change_screeningalert",
        # Verification of Payee: the requests answered and made.
        "compliance.view_payeeverification",
    ],
}


def sync_role_permissions(**_: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:
                wanted.append(permission)
        group.permissions.add(*wanted)


def has_role(user: Any, role: str) -> bool:
    """Whether the person behind `user` holds `role` by a live grant (`RoleGrant`).

    Only a grant counts: renaming a group, joining one, or a superuser flag confers nothing.
    """
    from accounts.identity.models import RoleGrant

    if not user.is_authenticated or not user.is_active or user.person_id is None:
        return False
    return RoleGrant.objects.filter(
        person_id=user.person_id, role=role, approved_at__isnull=False, revoked_at__isnull=True
    ).exists()


def may_use_dashboard(user: Any) -> bool:
    """The hub's own staff: a superuser or a member of one of the staff roles."""
    if not user.is_authenticated or getattr(user, "merchant_id", None) is not None:
        return False
    return bool(user.is_superuser or user.groups.filter(name__in=STAFF_ROLES).exists())
