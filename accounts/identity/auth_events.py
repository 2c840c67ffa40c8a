"""Logins, logouts, failed logins and lock-outs in the audit trail.

Django and django-axes announce these with signals, wherever they happen (the
dashboard's login, the admin's logout, a locked-out attempt), so the trail
listens to the signals rather than to one view. The second factor is recorded
by `accounts.identity.views`, which is the one place that checks it.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor, client_ip
from accounts.identity.models import User


def _actor(request: HttpRequest | None) -> Actor:
    if request is None:
        return Actor(label="anonymous")
    return Actor.from_request(request)


def _user_named(username: str | None) -> User | None:
    if not username:
        return None
    return User.objects.filter(**{User.USERNAME_FIELD: username}).first()


def _user_actor(request: HttpRequest | None, user: User) -> Actor:
    # request.user may not be (or no longer be) this user while the signal runs.
    return Actor.for_user(user, ip=client_ip(request) if request is not None else None)


def on_logged_in(sender: Any, request: HttpRequest | None, user: User, **_: Any) -> None:
    # The password step only; the login is complete at "auth.login", after the code.
    audit.record(
        actor=_user_actor(request, user), action=AuditAction.AUTH_PASSWORD_ACCEPTED, target=user
    )


def on_logged_out(sender: Any, request: HttpRequest | None, user: User | None, **_: Any) -> None:
    if user is None:
        return  # the session had no user: nothing to record
    audit.record(actor=_user_actor(request, user), action=AuditAction.AUTH_LOGOUT, target=user)


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    username = credentials.get(User.USERNAME_FIELD) or credentials.get("username") or ""
    audit.record(
        actor=_actor(request),
        action=AuditAction.AUTH_LOGIN_FAILED,
        target=_user_named(username),
        username=str(username)[:150],
    )


def on_locked_out(sender: Any, request: HttpRequest | None, username: str | None, **_: Any) -> None:
    audit.record(
        actor=_actor(request),
        action=AuditAction.AUTH_LOCKED_OUT,
        target=_user_named(username),
        username=(username or "")[:150],
    )


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="accounts.identity.audit.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="accounts.identity.audit.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="accounts.identity.audit.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="accounts.identity.audit.locked_out")
