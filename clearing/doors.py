"""What each door other banks knock at checks first, the same way: the clearing inbox
(clearing/inbox.py) and the VoP responder (compliance/vop/responder.py) take a body only
within their bound, and a request only from the active peer whose signature it carries."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from clearing import keys, services, signing
from clearing.models import Peer


def body_within(request: HttpRequest, limit: int) -> bytes | None:
    """The request's body, or None when it says or turns out to be larger than `limit`
    (nothing past `limit` + 1 bytes is read)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def signer(request: HttpRequest, body: bytes) -> tuple[Peer, str]:
    """The active peer whose signature the request carries, and the signature's SHA-256
    (for replay protection); else signing.SignatureRefused."""
    headers = dict(request.headers)
    key_id = signing.key_id_of(headers)
    # The active peers are read once per request (services.active_peers), not per door.
    peer = next((p for p in services.active_peers() if p.bic == key_id), None) if key_id else None
    public_keys = {}
    if peer is not None:
        try:
            public_keys[peer.bic] = keys.parse_public_key(peer.public_key)
        except ValueError:
            pass  # a key that does not parse verifies nothing: refused as unknown below
    _key_id, digest = signing.verify(
        method=request.method or "POST",
        url=request.build_absolute_uri(),
        headers=headers,
        body=body,
        public_keys=public_keys,
        max_age_seconds=settings.CLEARING_SIGNATURE_MAX_AGE_SECONDS,
    )
    assert peer is not None  # the key resolved, so the peer exists
    return peer, digest
