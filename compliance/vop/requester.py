"""The payer's bank's side: ask the bank that serves an IBAN whether a name is its holder's
(this hub itself, without HTTP, for its own accounts).

A peer that does not answer within `VOP_HTTP_TIMEOUT`, answers anything but a 200 with a
result of the scheme, or cannot be reached gives NOAP ("not possible"): verification
informs the payer, it never blocks a payment by itself. Requests are signed as clearing's
messages are (keyid = this hub's BIC). A batch's distinct payees are asked concurrently, at
most `VOP_BATCH_CONCURRENCY` at a time, within `VOP_BATCH_SECONDS` in all; the threads only
sign and post (the peers, the key and the hub's own accounts are read before), so no
database connection is opened by them. Every request made is recorded (`PayeeVerification`,
direction out).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from accounts.models import Account, Merchant
from clearing import keys, signing, transport
from clearing.models import Peer
from clearing.services import active_peers, hub_bic, is_iban, normalise_iban, serving
from common.db import pgsql
from compliance.vop import matching, protocol
from compliance.vop.models import PayeeVerification
from compliance.vop.protocol import Verification

logger = logging.getLogger("compliance.vop")

Pair = tuple[str, str]  # (account number or IBAN as given, name as given)


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST once: (status, at most MAX_BODY_BYTES + 1 bytes of the answer). Raises OSError
    when the peer is not reached or does not answer in time."""
    status, data, _ = transport.exchange(
        url, body=body, headers=headers, timeout=timeout, limit=protocol.MAX_BODY_BYTES
    )
    return status, data


def ask_peer(
    *,
    peer_bic: str,
    peer_url: str,
    iban: str,
    name: str,
    sender_bic: str,
    private_key: Ed25519PrivateKey | None = None,
) -> tuple[Verification, uuid.UUID]:
    """One signed request to a peer; NOAP (with the reason in `error`) when there is no
    usable answer."""
    request_id = uuid.uuid4()
    body = json.dumps(
        protocol.request_body(
            name=name, iban=iban, party_agent=peer_bic, requesting_agent=sender_bic
        )
    ).encode()
    url = peer_url.rstrip("/") + protocol.PATH
    headers = signing.sign(url=url, body=body, key_id=sender_bic, private_key=private_key)
    headers["Content-Type"] = "application/json"
    headers["X-Request-ID"] = str(request_id)
    headers["X-Request-Timestamp"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    try:
        status, data = http_post(url, body, headers, settings.VOP_HTTP_TIMEOUT_SECONDS)
    except (OSError, TimeoutError) as error:
        return Verification("NOAP", None, peer_bic, f"not answered: {error}"[:300]), request_id
    if status != 200:
        detail = f"answered {status}: {data[:200]!r}"
        return Verification("NOAP", None, peer_bic, detail[:300]), request_id
    try:
        if len(data) > protocol.MAX_BODY_BYTES:
            raise ValueError("the answer is too large")
        answer = protocol.parse_answer(json.loads(data))
    except ValueError as error:
        return Verification("NOAP", None, peer_bic, f"no usable answer: {error}"[:300]), request_id
    return Verification(answer.result, answer.matched_name, peer_bic), request_id


def _record(
    pairs: dict[Pair, tuple[Verification, uuid.UUID | None]],
    *,
    peers: dict[str, Peer],
    merchant: Merchant | None,
    purpose: str,
) -> None:
    records = [
        PayeeVerification(
            direction=PayeeVerification.Direction.OUTBOUND,
            peer=peers.get(verification.peer_bic or ""),
            request_id=request_id,
            iban=number[:34],
            name=name[: protocol.NAME_LENGTH],
            result=verification.result,
            matched_name=(verification.matched_name or "")[: protocol.NAME_LENGTH],
            error=verification.error[:300],
            merchant=merchant,
            purpose=purpose,
        )
        for (number, name), (verification, request_id) in pairs.items()
    ]
    if len(records) == 1:  # an instant payment's one payee: a prepared INSERT
        pgsql.insert(records[0])
    else:
        PayeeVerification.objects.bulk_create(records, batch_size=1000)


def _held(numbers: set[str]) -> dict[str, Account]:
    """This hub's customer accounts among the numbers (as given, or as IBANs)."""
    by_candidate: dict[str, str] = {}
    for number in numbers:
        for candidate in {number.strip(), normalise_iban(number)} - {""}:
            by_candidate.setdefault(candidate, number)
    found: dict[str, Account] = {}
    candidates = sorted(by_candidate)
    for start in range(0, len(candidates), 5000):
        accounts = Account.objects.select_related("merchant").filter(
            number__in=candidates[start : start + 5000], kind=Account.Kind.CUSTOMER
        )
        for account in accounts:
            found[by_candidate[account.number]] = account
    return found


def verify_many(
    pairs: Iterable[Pair], *, merchant: Merchant | None = None, purpose: str = "batch"
) -> dict[Pair, Verification]:
    """Each distinct (account, name) verified once: this hub's own accounts here, the rest
    by the peers serving them, concurrently within a bound and a deadline."""
    wanted = {(number, name) for number, name in pairs if name.strip()}
    held = _held({number for number, _ in wanted})
    results: dict[Pair, tuple[Verification, uuid.UUID | None]] = {}
    remote: list[tuple[Pair, Peer, str]] = []
    peers = active_peers()
    for pair in sorted(wanted):
        number, name = pair
        if number in held:
            results[pair] = (matching.verify_account(held[number], name), None)
            continue
        iban = normalise_iban(number)
        peer = serving(iban, peers) if is_iban(iban) else None
        if peer is None:
            results[pair] = (Verification("NOAP", None, None, "no bank serves this IBAN"), None)
        else:
            remote.append((pair, peer, iban))
    if remote:
        results.update(_ask_all(remote))
    _record(results, peers={p.bic: p for p in peers}, merchant=merchant, purpose=purpose)
    return {pair: verification for pair, (verification, _id) in results.items()}


def _ask_all(
    remote: list[tuple[Pair, Peer, str]],
) -> dict[Pair, tuple[Verification, uuid.UUID | None]]:
    sender, private_key = hub_bic(), keys.private_key()
    deadline = time.monotonic() + settings.VOP_BATCH_SECONDS
    results: dict[Pair, tuple[Verification, uuid.UUID | None]] = {}
    executor = ThreadPoolExecutor(max_workers=settings.VOP_BATCH_CONCURRENCY)
    futures: dict[Future, tuple[Pair, str]] = {}
    try:
        for pair, peer, iban in remote:
            future = executor.submit(
                ask_peer,
                peer_bic=peer.bic,
                peer_url=peer.url,
                iban=iban,
                name=pair[1],
                sender_bic=sender,
                private_key=private_key,
            )
            futures[future] = (pair, peer.bic)
        pending = set(futures)
        while pending and (left := deadline - time.monotonic()) > 0:
            done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            for future in done:
                pair, bic = futures[future]
                try:
                    results[pair] = future.result()
                except Exception as error:  # noqa: BLE001 - one payee's trouble is its NOAP
                    logger.exception("VoP: asking %s failed", bic)
                    results[pair] = (Verification("NOAP", None, bic, str(error)[:300]), None)
        for future in pending:
            pair, bic = futures[future]
            results[pair] = (Verification("NOAP", None, bic, "not asked in time"), None)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return results


def verify(
    *, number: str, name: str, merchant: Merchant | None = None, purpose: str = "api"
) -> Verification:
    """One payee: this hub's own account, or the peer serving the IBAN; NOAP otherwise."""
    if not name.strip():
        return Verification("NOAP", None, None, "no name given")
    account = matching.held_account(number)
    request_id: uuid.UUID | None = None
    peer: Peer | None = None
    if account is not None:
        verification = matching.verify_account(account, name)
    else:
        iban = normalise_iban(number)
        peer = serving(iban, active_peers()) if is_iban(iban) else None
        if peer is None:
            verification = Verification("NOAP", None, None, "no bank serves this IBAN")
        else:
            verification, request_id = ask_peer(
                peer_bic=peer.bic, peer_url=peer.url, iban=iban, name=name, sender_bic=hub_bic()
            )
    if verification.error:
        logger.warning("VoP: %s for %s: %s", verification.result, number, verification.error)
    _record(
        {(number, name): (verification, request_id)},
        peers={peer.bic: peer} if peer else {},
        merchant=merchant,
        purpose=purpose,
    )
    return verification


def verify_for_payment(*, number: str, name: str, merchant: Merchant) -> dict:
    """payments/verification.py's hook: what an API payment carries."""
    return verify(number=number, name=name, merchant=merchant, purpose="payment").as_json()
