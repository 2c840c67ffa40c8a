"""`Idempotency-Key` for POST requests, safe under concurrency.

The key's record is inserted in the same database transaction as the work it
guards. A concurrent request with the same key blocks on the unique index
until the first commits, then replays its response; if the first rolls back,
the second proceeds as if it were first. So one key can never do the work twice.

A response may carry `after_commit`, a callable giving the final response once that
transaction has committed (a payment to another bank is posted only then): the record
then keeps that final response, so a replay answers what the first client was told.

What must not run inside that transaction (a request to another bank: the payee check of a
payment to one of its IBANs) is the action's `before` part: it runs first, once the key is
known to be new (a repeat is answered from the record without running it again), and its
result reaches the action as `prepared`. Two concurrent first requests with one key may both
run `before`; only one does the work.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from functools import cache, wraps

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from common.db import pgsql
from payments.api.errors import APIError
from payments.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
AFTER_COMMIT = "after_commit"


def fingerprint(request) -> str:
    """SHA-256 of the method, the path and the parsed body (files by their content)."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    data = request.data
    items = (
        data.lists()
        if hasattr(data, "lists")
        else (data.items() if isinstance(data, dict) else [("", data)])
    )
    for name, value in sorted(items, key=lambda item: item[0]):
        values = value if isinstance(value, list) else [value]
        for one in values:
            if isinstance(one, UploadedFile):
                file_digest = hashlib.sha256()
                for chunk in one.chunks():
                    file_digest.update(chunk)
                one.seek(0)
                rendered = f"file:{file_digest.hexdigest()}"
            else:
                rendered = json.dumps(one, sort_keys=True, default=str)
            digest.update(f"{name}={rendered}\n".encode())
    return digest.hexdigest()


def idempotent(view_method=None, *, before=None):
    """Wrap a POST action of a viewset so that `Idempotency-Key` replays its first response.

    `@idempotent(before=f)`: `f(self, request)` runs outside the action's transaction (see the
    module's docstring) and the action is called with `prepared=` its result."""
    if view_method is None:
        return lambda method: idempotent(method, before=before)

    @wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            if before is not None:
                kwargs["prepared"] = before(self, request)
            response = view_method(self, request, *args, **kwargs)
            after_commit = getattr(response, AFTER_COMMIT, None)
            return after_commit() if after_commit is not None else response
        if not key.strip() or len(key) > 255:
            raise APIError(
                status_code=400,
                code="invalid_idempotency_key",
                detail="Idempotency-Key must be 1 to 255 characters",
            )
        merchant = request.user.merchant
        print_ = fingerprint(request)
        if before is not None:
            existing = _recorded(merchant.pk, key)
            if existing is not None:
                return _replay(existing, print_)
            kwargs["prepared"] = before(self, request)
        try:
            with transaction.atomic():
                # Prepared statements (common/db/pgsql.py): on every keyed payment request.
                record = pgsql.insert(
                    IdempotencyRecord(
                        merchant=merchant,
                        key=key,
                        fingerprint=print_,
                        response_status=0,
                        response_body={},
                    )
                )
                response = view_method(self, request, *args, **kwargs)
                _keep(record, response)
        except IntegrityError:
            existing = _recorded(merchant.pk, key)
            if existing is None:
                raise
        else:
            after_commit = getattr(response, AFTER_COMMIT, None)
            if after_commit is None:
                return response
            response = after_commit()
            _keep(record, response)
            return response
        return _replay(existing, print_)

    return wrapper


def _recorded(merchant_id, key: str) -> IdempotencyRecord | None:
    """The key's record if a first request with it has committed (a prepared statement)."""
    rows = pgsql.execute(_recorded_sql(), [merchant_id, key])
    return pgsql.from_row(IdempotencyRecord, rows[0]) if rows else None


@cache
def _recorded_sql() -> str:
    table = connection.ops.quote_name(IdempotencyRecord._meta.db_table)
    return (
        f"SELECT {pgsql.columns(IdempotencyRecord)} FROM {table}"  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
        " WHERE merchant_id = %s AND key = %s"
    )


def _replay(existing: IdempotencyRecord, print_: str) -> Response:
    """The first response to the key, or 409 when it came with another request."""
    if existing.fingerprint != print_:
        raise APIError(
            status_code=409,
            code="idempotency_key_reused",
            detail="this Idempotency-Key was used with another request; use a new key",
        )
    return Response(
        existing.response_body, status=existing.response_status, headers={REPLAY_HEADER: "true"}
    )


def _keep(record: IdempotencyRecord, response) -> None:
    record.response_status = response.status_code
    record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
    pgsql.update(record, ["response_status", "response_body"])


def purge_expired(*, now: datetime | None = None) -> int:
    """Forget keys older than IDEMPOTENCY_KEY_TTL (24 hours by default)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
