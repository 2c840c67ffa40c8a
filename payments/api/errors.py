"""One error shape for every API failure: {"code", "detail"} plus "errors" for fields.

Covers DRF's exceptions, the ledger's errors, Django's 404, a lost database connection
(a 503 to retry with the Idempotency-Key) and anything unhandled (a 500 that never shows
a traceback).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from accounts.ledger.errors import LedgerError

logger = logging.getLogger("payments.api")

CODES = {
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


class APIError(exceptions.APIException):
    """An error with its own stable code, e.g. 409 idempotency_key_reused."""

    def __init__(self, *, status_code: int, code: str, detail: str, errors: dict | None = None):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.error_code = code
        self.errors = errors


def error_body(code: str, detail: str, errors: dict | None = None) -> dict:
    body: dict[str, Any] = {"code": code, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def exception_handler(exc, context):
    headers = {}
    if isinstance(exc, RequestDataTooBig):
        # Django's own refusal of a body past DATA_UPLOAD_MAX_MEMORY_SIZE (a 400 there).
        return Response(
            error_body("request_too_large", "the request body is too large"), status=413
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, APIError):
        return Response(
            error_body(exc.error_code, str(exc.detail), exc.errors), status=exc.status_code
        )
    if isinstance(exc, LedgerError):
        return Response(error_body(exc.code, exc.detail), status=exc.status)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            errors = {
                field: [
                    str(message)
                    for message in (messages if isinstance(messages, list) else [messages])
                ]
                for field, messages in detail.items()
            }
            non_field = errors.pop("non_field_errors", None)
            summary = non_field[0] if non_field else "the request has invalid fields"
            return Response(error_body("invalid", summary, errors or None), status=400)
        messages = detail if isinstance(detail, list) else [detail]
        return Response(error_body("invalid", "; ".join(str(m) for m in messages)), status=400)
    if isinstance(exc, exceptions.APIException):
        if auth_header := getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = auth_header
        if wait := getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(wait))
        code = next((c for cls, c in CODES.items() if isinstance(exc, cls)), None)
        if not code:
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else "error"
        return Response(error_body(code, str(exc.detail)), status=exc.status_code, headers=headers)

    if isinstance(exc, OperationalError | InterfaceError):
        # The connection was lost (the primary died, a failover is under way) or the
        # transaction was rolled back by the server: nothing of it was applied, unless the
        # connection broke during the COMMIT itself. A retry with the same Idempotency-Key
        # is answered from the first attempt if that one committed, and is made if not.
        logger.warning("the database failed a request", exc_info=exc)
        return Response(
            error_body(
                "database_unavailable",
                "the database could not complete the request (it may be failing over); "
                "retry it with the same Idempotency-Key, which makes the payment at most once",
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    logger.exception("unhandled error in the API", exc_info=exc)
    return Response(
        error_body("server_error", "something went wrong on our side; the request may be retried"),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
