"""The audit trail: every decision, with who, when and from where.

Services call `record` inside their own transaction, so the trail row and the
change it describes commit or roll back together.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Model

from accounts.identity.models import AuditEvent, User


@dataclass(frozen=True)
class Actor:
    """Whoever causes a change: a user, a merchant's API key, or the system."""

    label: str
    user: User | None = None
    ip: str | None = None

    @classmethod
    def system(cls, what: str = "system") -> Actor:
        return cls(label=what)

    @classmethod
    def for_user(cls, user: User, ip: str | None = None) -> Actor:
        return cls(label=user.get_username(), user=user, ip=ip)

    @classmethod
    def from_request(cls, request: Any) -> Actor:
        user = getattr(request, "user", None)
        user = user if user is not None and user.is_authenticated else None
        label = user.get_username() if user else "anonymous"
        return cls(label=label, user=user, ip=client_ip(request))


def client_ip(request: Any) -> str | None:
    """The client's address as far as it can be trusted; the audit trail and the login
    lock-out (AXES_CLIENT_IP_CALLABLE) both use it.

    With no proxy in front (TRUSTED_PROXY_COUNT=0, the default) it is the peer's
    address: X-Forwarded-For is whatever the client chose to send. Behind N proxies
    that each append the address they saw, it is the N-th address from the right,
    the one written by the outermost proxy of ours; anything left of it is the
    client's own say. An address that does not parse is not recorded.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    address = request.META.get("REMOTE_ADDR", "")
    if proxies:
        forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [hop for hop in forwarded if hop]
        address = forwarded[-proxies] if len(forwarded) >= proxies else ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **detail: Any,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor.user,
        actor_label=actor.label[:200],
        ip=actor.ip,
        action=action,
        # No target when there is nothing to point at (a login with an unknown user name).
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        before=before,
        after=after,
        detail={key: _jsonable(value) for key, value in detail.items()},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | bool | float | type(None)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def audit_events_of(*, target: Model, limit: int = 50) -> list[AuditEvent]:
    """The audit trail of one object, newest first."""
    return list(
        AuditEvent.objects.filter(target_type=target._meta.label, target_id=str(target.pk))
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
