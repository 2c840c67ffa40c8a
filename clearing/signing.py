"""RFC 9421 HTTP Message Signatures (Ed25519, keyid = the sender's BIC) over "@method",
"@target-uri" and an RFC 9530 `Content-Digest`, as CONTRACT.md fixes them; done by the
`http-message-signatures` package.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from clearing import keys

LABEL = "sig1"
COVERED = ("@method", "@target-uri", "content-digest")


@dataclass
class _Request:
    """What the package reads of a request: method, absolute URL and header fields."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class _SigningKey(HTTPSignatureKeyResolver):
    def __init__(self, private_key: Ed25519PrivateKey | None):
        self.private_key = private_key

    def resolve_private_key(self, key_id: str):
        return self.private_key or keys.private_key()


class _PeerKeys(HTTPSignatureKeyResolver):
    def __init__(self, public_keys: Mapping[str, Ed25519PublicKey]):
        self.public_keys = public_keys

    def resolve_public_key(self, key_id: str):
        key = self.public_keys.get(key_id)
        if key is None:
            raise SignatureRefused("unknown_key", f"no peer has the key id {key_id!r}")
        return key


class SignatureRefused(Exception):
    """A request whose signature does not prove who sent it, or when."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def sign(
    *,
    url: str,
    body: bytes,
    key_id: str,
    now: datetime.datetime | None = None,
    private_key: Ed25519PrivateKey | None = None,
) -> dict[str, str]:
    """The headers that sign a POST of `body` to `url` with the hub's key (or `private_key`):
    Content-Type, Content-Digest, Signature-Input, Signature."""
    request = _Request("POST", url, {"Content-Type": "application/xml"})
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_SigningKey(private_key)
    )
    signer.sign(
        request,
        key_id=key_id,
        label=LABEL,
        created=now or datetime.datetime.now(datetime.UTC),
        covered_component_ids=COVERED,
        body=body,
    )
    return request.headers


def key_id_of(headers: Mapping[str, str]) -> str | None:
    """The keyid a request claims, read before verifying (to find the peer's key)."""
    value = headers.get("Signature-Input")
    if not value:
        return None
    try:
        parsed: Any = http_sf.parse(value.encode(), tltype="dictionary")
        for _label, (_member, params) in parsed.items():
            keyid = params.get("keyid")
            if isinstance(keyid, str):
                return keyid
    except Exception:  # noqa: BLE001 - malformed: the verification refuses it
        return None
    return None


def verify(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    public_keys: Mapping[str, Ed25519PublicKey],
    max_age_seconds: int,
) -> tuple[str, str]:
    """(key id, SHA-256 of the signature) of a correctly signed request, else SignatureRefused."""
    if "Signature" not in headers or "Signature-Input" not in headers:
        raise SignatureRefused("unsigned", "the request carries no HTTP message signature")
    if "Content-Digest" not in headers:
        raise SignatureRefused("digest_missing", "the request carries no Content-Digest")
    claimed = key_id_of(headers)
    if claimed is None or claimed not in public_keys:
        raise SignatureRefused("unknown_key", f"no peer has the key id {claimed!r}")
    request = _Request(method, url, {name: value for name, value in headers.items()})
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_PeerKeys(public_keys)
    )
    try:
        results = verifier.verify(
            request,
            max_age=datetime.timedelta(seconds=max_age_seconds),
            require_components=COVERED,
            body=body,
        )
    except SignatureRefused:
        raise
    except HTTPMessageSignaturesException as error:
        text = str(error)
        code = "digest_mismatch" if "igest" in text else "bad_signature"
        raise SignatureRefused(code, f"the signature does not verify: {text}") from None
    if len(results) != 1:
        raise SignatureRefused("bad_signature", "exactly one signature is expected")
    params = results[0].parameters
    if params.get("alg") not in (None, "ed25519"):
        raise SignatureRefused("bad_signature", "the signature's alg must be ed25519")
    key_id = str(params["keyid"])
    digest = hashlib.sha256(headers["Signature"].encode()).hexdigest()
    return key_id, digest
