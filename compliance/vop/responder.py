"""`POST /vop/v1/payee-verifications`: a peer asks whether a name is the holder's of an IBAN
this hub holds (CONTRACT.md, EPC VOP scheme).

Refused with a 4xx JSON `{"code", "detail"}`, logged, and nothing recorded: a body too large
or not JSON, a request unsigned, signed by no active peer, signed wrongly or tampered with
(digest), signed too long ago or in the future (clearing/signing.py, as the clearing inbox),
without a UUID `X-Request-ID` or an `X-Request-Timestamp`, for another bank, or sent for
another requesting agent than the signer; and a peer over its rate
(`VOP_PEER_REQUESTS_PER_MINUTE` in a minute: a peer could otherwise mine the names behind
IBANs; every signed request counts, the refused ones too).

The answer never names the holder except with CMTC, which the scheme requires; every
answer is recorded (`PayeeVerification`, direction in) for the back office. A signed request
replayed within its signature's age gets the same answer again and changes nothing, so
signatures are not kept here (the request body, fixed by the scheme, carries no id of its
own: two honest requests about the same payee in the same second sign the same bytes).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from clearing import doors, signing
from clearing.models import Peer
from clearing.services import hub_bic
from common import counters
from common.db import pgsql
from compliance.vop import matching, protocol
from compliance.vop.models import PayeeVerification

logger = logging.getLogger("compliance.vop")


def _refuse(
    request: HttpRequest, status: int, code: str, detail: str, peer: str = ""
) -> JsonResponse:
    logger.warning(
        "VoP request refused: %s (%s)",
        code,
        detail,
        extra={"peer": peer, "remote_addr": request.META.get("REMOTE_ADDR", "")},
    )
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _request_id(request: HttpRequest) -> uuid.UUID:
    try:
        return uuid.UUID(request.headers.get("X-Request-ID", ""))
    except ValueError:
        raise protocol.BadRequest(
            400, "invalid_request_id", "X-Request-ID must be a UUID"
        ) from None


def _check_timestamp(request: HttpRequest) -> None:
    stamp = request.headers.get("X-Request-Timestamp", "")
    try:
        parsed = parse_datetime(stamp)
    except ValueError:
        parsed = None
    if parsed is None:
        raise protocol.BadRequest(
            400, "invalid_timestamp", "X-Request-Timestamp must be an ISO 8601 date and time"
        )


def over_rate(peer: Peer, now=None) -> bool:
    """Whether the peer has used up its requests of this minute: a counter in Redis shared
    by every web process (one round trip), or, when Redis does not answer, the requests
    answered to it in the last minute counted in the database."""
    limit = settings.VOP_PEER_REQUESTS_PER_MINUTE
    now = now or timezone.now()
    count = counters.hit(f"vop-peer:{peer.bic}", 60, now.timestamp())
    if count is not None:
        return count > limit
    recent = PayeeVerification.objects.filter(
        peer=peer,
        direction=PayeeVerification.Direction.INBOUND,
        created_at__gte=now - timedelta(minutes=1),
    )
    return recent[:limit].count() >= limit


@csrf_exempt
@require_POST
def payee_verifications(request: HttpRequest) -> HttpResponse:
    limit = protocol.MAX_BODY_BYTES
    body = doors.body_within(request, limit)
    if body is None:
        return _refuse(request, 413, "request_too_large", f"the body is larger than {limit} bytes")
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _refuse(request, 415, "unsupported_media_type", "the body must be application/json")
    try:
        peer, _digest = doors.signer(request, body)
    except signing.SignatureRefused as refusal:
        status = 400 if refusal.code == "digest_mismatch" else 401
        return _refuse(request, status, refusal.code, refusal.detail)
    try:
        request_id = _request_id(request)
        _check_timestamp(request)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise protocol.BadRequest(400, "invalid_json", "the body is not JSON") from None
        asked = protocol.parse_request(data)
        if asked.requesting_agent != peer.bic:
            raise protocol.BadRequest(
                403, "agent_not_signer", "requestingAgent is not the bank that signed the request"
            )
        if asked.party_agent != hub_bic():
            raise protocol.BadRequest(
                400, "not_for_this_hub", f"the request is for {asked.party_agent}"
            )
    except protocol.BadRequest as bad:
        return _refuse(request, bad.status, bad.code, bad.detail, peer.bic)
    if over_rate(peer):
        return _refuse(
            request,
            429,
            "rate_limited",
            f"more than {settings.VOP_PEER_REQUESTS_PER_MINUTE} requests in a minute",
            peer.bic,
        )
    verification = matching.verify_account(matching.held_account(asked.iban), asked.name)
    pgsql.insert(
        PayeeVerification(
            direction=PayeeVerification.Direction.INBOUND,
            peer=peer,
            request_id=request_id,
            iban=asked.iban[:34],
            name=(asked.name or "")[: protocol.NAME_LENGTH],
            result=verification.result,
            matched_name=(verification.matched_name or "")[: protocol.NAME_LENGTH],
        )
    )
    response = JsonResponse(protocol.answer_body(verification))
    response["X-Request-ID"] = str(request_id)
    return response
