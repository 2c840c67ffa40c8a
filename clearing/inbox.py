"""`POST /clearing/v1/messages/`: the door other banks knock at (CONTRACT.md).

Refused with a 4xx JSON error, logged, and nothing changed: a body too large or not XML, an
unsigned request, an unknown key id, a bad signature, a Content-Digest that does not match,
a `created` older than CLEARING_SIGNATURE_MAX_AGE or in the future, a signature seen before
(a replay), and a document that is not valid against its schema (DTDs and entities refused
before parsing). Served behind the API's short middleware chain (config/wsgi.py): no
session, no CSRF, no login.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from clearing import doors, inbound, rows, signing
from clearing.iso import validation

logger = logging.getLogger("clearing.inbox")

XML_TYPES = ("application/xml", "text/xml")


def _refuse(
    request: HttpRequest, status: int, code: str, detail: str, peer: str = ""
) -> JsonResponse:
    logger.warning(
        "clearing message refused: %s (%s)",
        code,
        detail,
        extra={"peer": peer, "remote_addr": request.META.get("REMOTE_ADDR", "")},
    )
    return JsonResponse({"code": code, "detail": detail}, status=status)


@csrf_exempt
@require_POST
def messages(request: HttpRequest) -> HttpResponse:
    limit = settings.CLEARING_MAX_BODY_BYTES
    body = doors.body_within(request, limit)
    if body is None:
        return _refuse(request, 413, "request_too_large", f"the body is larger than {limit} bytes")
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type not in XML_TYPES:
        return _refuse(request, 415, "unsupported_media_type", "the body must be application/xml")
    try:
        peer, digest = doors.signer(request, body)
    except signing.SignatureRefused as refusal:
        status = 400 if refusal.code == "digest_mismatch" else 401
        claimed = signing.key_id_of(request.headers) or ""
        return _refuse(request, status, refusal.code, refusal.detail, claimed)
    try:
        kind, root, _document = validation.validate(body)
    except validation.InvalidDocument as error:
        return _refuse(request, 400, "invalid_document", error.detail, peer.bic)
    if not rows.signature_first_seen(digest=digest, peer_id=peer.pk):
        return _refuse(
            request, 409, "replayed", "this signed request was received before", peer.bic
        )
    try:
        status, answer = inbound.receive(peer=peer, kind=kind, root=root, body=body)
    except inbound.Refusal as refusal:
        return _refuse(request, refusal.status, refusal.code, refusal.detail, peer.bic)
    if answer is None:
        return HttpResponse(status=status)
    return HttpResponse(answer, status=status, content_type="application/xml")
