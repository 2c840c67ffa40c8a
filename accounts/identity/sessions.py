"""Sessions that a copy of the database cannot replay (SESSION_ENGINE).

Django's database sessions keep the cookie's value, the session key, in django_session: whoever
reads the table (a backup, a read-only role) can send it as a cookie and be that user. Here the
table keeps only an HMAC of the key under a server key that is not in the database
(common/keyring.py, purpose "session"): the cookie still carries the key, the row is found by
its HMAC, and the HMAC does not give the key back.

A session stored under an older master key is still found (every key of the keyring is tried,
in one query) and keeps the row it was found under, so rotating the keys logs no one out;
retiring the old key (`rotate_keys --retire`) ends those sessions.
"""

from __future__ import annotations

import base64
from typing import Any

from django.contrib.sessions.backends import db
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone

from common import keyring

PURPOSE = "session"


def stored_key(session_key: str, master: keyring.MasterKey | None = None) -> str:
    """What django_session.session_key holds for a cookie's key: 40 characters (240 bits)."""
    digest = keyring.mac(master or keyring.current(), PURPOSE, session_key.encode())
    return base64.urlsafe_b64encode(digest[:30]).decode()


def stored_keys(session_key: str) -> list[str]:
    return [stored_key(session_key, master) for master in keyring.master_keys()]


class SessionStore(db.SessionStore):
    _row_key: str | None = None  # the stored key of the row this session was read from

    def _get_session_from_db(self) -> Any:
        if not self.session_key:
            return None
        try:
            row = (
                self.model.objects.filter(
                    session_key__in=stored_keys(self.session_key), expire_date__gt=timezone.now()
                )
                .order_by("-expire_date")
                .first()
            )
        except SuspiciousOperation:  # pragma: no cover - Django's own guard
            row = None
        if row is None:
            self._session_key = None
            return None
        self._row_key = row.session_key
        return row

    async def _aget_session_from_db(self) -> Any:
        raise NotImplementedError("the hub's sessions are synchronous (WSGI)")

    def exists(self, session_key: str) -> bool:
        return self.model.objects.filter(session_key__in=stored_keys(session_key)).exists()

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        key = self._get_or_create_session_key()  # type: ignore[attr-defined]
        row_key = self._row_key or stored_key(key)
        return self.model(
            session_key=row_key, session_data=self.encode(data), expire_date=self.get_expiry_date()
        )

    def create(self) -> None:
        self._row_key = None
        super().create()

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(session_key__in=stored_keys(session_key)).delete()
