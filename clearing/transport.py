"""Posting a signed document to a peer: a timeout, no redirects, no proxies from the
environment, and the answer's size bounded."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings

from clearing import signing
from clearing.models import Peer

INBOX_PATH = "/clearing/v1/messages/"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, "redirects are not followed", headers, fp)


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


class TransportError(Exception):
    """No usable answer: the peer was not reached, timed out, or answered 5xx."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str


def inbox_url(peer: Peer) -> str:
    return peer.url.rstrip("/") + INBOX_PATH


def exchange(
    url: str, *, body: bytes, headers: dict[str, str], timeout: float, limit: int
) -> tuple[int, bytes, str]:
    """POST once to a peer, no redirect followed and no proxy: (status, at most `limit` + 1
    bytes of the answer, its content type). Raises OSError when the peer is not reached or
    does not answer in time, or answers something that is not HTTP. The clearing inbox and the
    VoP requester both post through it."""
    # http(s) only: peer_save refuses any other scheme for a peer's URL.
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as response:
            data = response.read(limit + 1)
            return response.status, data, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        data = error.read(limit + 1) if error.fp else b""
        return error.code, data, error.headers.get("Content-Type", "")
    except urllib.error.URLError as error:
        raise OSError(str(error.reason)) from error
    except http.client.HTTPException as error:  # no HTTP answer: a bad status line, cut short
        raise OSError(f"no HTTP answer: {error!r}") from error


def post(*, peer: Peer, body: bytes, sender_bic: str) -> Answer:
    url = inbox_url(peer)
    headers = signing.sign(url=url, body=body, key_id=sender_bic)
    limit = settings.CLEARING_MAX_BODY_BYTES
    try:
        status, data, content_type = exchange(
            url,
            body=body,
            headers=headers,
            timeout=settings.CLEARING_HTTP_TIMEOUT_SECONDS,
            limit=limit,
        )
    except (OSError, TimeoutError) as error:
        raise TransportError(f"{peer.bic} not reached: {error}") from error
    if len(data) > limit:
        raise TransportError(f"{peer.bic} answered more than {limit} bytes")
    if status >= 500:
        raise TransportError(f"{peer.bic} answered {status}")
    return Answer(status=status, body=data, content_type=content_type)
