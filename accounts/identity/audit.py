"""The audit trail: every decision, with who, when and from where.

Services call `record` inside their own transaction, so the trail row and the
change it describes commit or roll back together.
"""

from __future__ import annotations

import getpass
import hashlib
import ipaddress
import json
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.identity.actions import AuditAction
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


_request: ContextVar[Any] = ContextVar("audit_request", default=None)
_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


@contextmanager
def during_request(request: Any) -> Iterator[None]:
    """While a request is served, `current_actor` is its user (read when asked, after login)."""
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Within a service that was told its actor, changes seen by signals carry that actor."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    """Who is acting now: the service's actor, the request's user, or this process.

    Outside a request (a management command, a shell) the operating-system user,
    host and command line stand for the person: an auditor can still ask them.
    """
    actor = _actor.get()
    if actor is not None:
        return actor
    request = _request.get()
    if request is not None:
        return Actor.from_request(request)
    try:
        who = getpass.getuser()
    except Exception:  # no user name in this environment
        who = "unknown"
    command = " ".join(sys.argv[1:3])
    return Actor.system(f"system: {who}@{socket.gethostname()} {command}".strip())


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


# The chain's one writer at a time (pg_advisory_xact_lock's key, held until commit): two
# transactions recording at once cannot both append after the same event and fork it.
CHAIN_LOCK = 0x617564697400  # "audit"
GENESIS = "0" * 64


def record(
    *,
    actor: Actor,
    action: AuditAction,
    target: models.Model | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append one event to the trail, chained to the one before it, in the caller's transaction."""
    event = AuditEvent(
        at=timezone.now(),
        actor=actor.user,
        actor_label=actor.label[:200],
        ip=actor.ip,
        action=action,
        # No target when there is nothing to point at (a login with an unknown user name).
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        before=_jsonable(before),
        after=_jsonable(after),
        detail={key: _jsonable(value) for key, value in detail.items()},
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
        cursor.execute("SELECT hash FROM accounts_auditevent ORDER BY id DESC LIMIT 1")
        head = cursor.fetchone()
        cursor.execute("SELECT nextval(pg_get_serial_sequence('accounts_auditevent', 'id'))")
        (event.id,) = cursor.fetchone()
        event.prev_hash = head[0] if head else GENESIS
        event.hash = event_hash(event)
        event.save(force_insert=True)
    return event


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the event's fields and its predecessor's hash, as canonical JSON."""
    at = event.at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = {
        "id": event.id,
        "at": at,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "ip": event.ip,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "before": event.before,
        "after": event.after,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_chain(*, chunk: int = 5000) -> dict[str, Any]:
    """Walk the trail in id order: each event's hash, and its link to the one before.

    An edited event no longer matches its hash; a deleted one leaves the next event
    pointing at a hash that is not its predecessor's; two swapped ones do both.
    """
    broken: list[dict[str, Any]] = []
    checked = 0
    previous, previous_id = GENESIS, None
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk):
        checked += 1
        if event.prev_hash != previous:
            broken.append(
                {
                    "id": event.id,
                    "problem": "does not follow the event before it "
                    f"({previous_id or 'the start'}): an event was deleted or reordered",
                }
            )
        if event_hash(event) != event.hash:
            broken.append(
                {"id": event.id, "action": event.action, "problem": "edited after it was written"}
            )
        previous, previous_id = event.hash, event.id
    return {"ok": not broken, "events_checked": checked, "broken": broken}


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
