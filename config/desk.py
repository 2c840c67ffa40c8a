"""What the desk's menu needs on every page: which section is current, and how many
decisions wait for the signed-in person (batches and back-office actions), shown as a
count beside "Approvals". Both are computed only when a template reads them."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.identity.roles import APPROVER, has_role
from accounts.ledger import limits as instant_limits
from accounts.models import User
from batches import selectors as batch_selectors
from payments import actions as payment_actions
from payments.models import BackOfficeAction

# Menu sections by path prefix, the longest first: /payments/actions/ is Approvals, not Payments.
SECTIONS = (
    ("/payments/actions/", "approvals"),
    ("/approvals/", "approvals"),
    ("/batches/", "batches"),
    ("/payments/", "payments"),
    ("/ledger/", "accounts"),
)


def section_of(path: str) -> str:
    if path == "/":
        return "home"
    return next((name for prefix, name in SECTIONS if path.startswith(prefix)), "")


def batches_waiting_for(user: User):
    """Batches this person may approve now, or none for someone who never approves."""
    if not has_role(user, APPROVER):
        return batch_selectors.waiting_for(user=user).none()
    return batch_selectors.waiting_for(user=user)


def actions_waiting_for(user: User):
    """Back-office actions this person may decide: pending, asked by someone else."""
    if not payment_actions.may_approve(user):
        return BackOfficeAction.objects.none()
    return BackOfficeAction.objects.filter(status=BackOfficeAction.Status.PENDING).exclude(
        requested_by=user
    )


def waiting_count(user: User) -> int:
    return (
        batches_waiting_for(user).count()
        + actions_waiting_for(user).count()
        + instant_limits.changes_waiting_for(user).count()
    )


def desk(request: HttpRequest) -> dict[str, object]:
    """The template context processor (settings.TEMPLATES)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_section": section_of(request.path)}
    return {
        "nav_section": section_of(request.path),
        "waiting_count": SimpleLazyObject(lambda: waiting_count(user)),
    }
