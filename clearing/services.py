"""State changes of the clearing set-up: peers and their clearing accounts. Transfers are in
outbound.py (sent) and inbound.py (received)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger import money
from accounts.ledger.posting import FUNDING_OVERDRAFT
from accounts.models import Account
from clearing import keys, rows
from clearing.models import ClearingAccount, Peer
from common import request_memo

BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
PREFIX = re.compile(r"[A-Z]{2}[A-Z0-9]{1,28}")


class ClearingError(ValueError):
    """A refusal of a clearing operation, with a stable code."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def check_bic(bic: str) -> str:
    bic = bic.strip().upper()
    if not BIC.fullmatch(bic):
        raise ClearingError("invalid_bic", f"{bic!r} is not a BIC (8 or 11 characters)")
    return bic


def hub_bic() -> str:
    return check_bic(settings.HUB_BIC)


def identity() -> dict[str, str]:
    """What peers need to know of this hub (CONTRACT.md `clearing_identity`)."""
    return {"bic": hub_bic(), "public_key": keys.public_key_b64(), "url": settings.PUBLIC_URL}


def normalise_iban(text: str) -> str:
    return re.sub(r"\s+", "", text or "").upper()


def is_iban(text: str) -> bool:
    """ISO 13616: two letters, two check digits, up to 30 letters and digits, mod 97 = 1."""
    iban = normalise_iban(text)
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return False
    digits = "".join(str(int(char, 36)) for char in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def prefix_matches(prefix: str, iban: str) -> bool:
    """CONTRACT.md: a prefix is the country code and the start of the BBAN, the IBAN's two
    check digits left out (`DE37040044` matches `DE89 3704 0044 0532 0130 00`)."""
    return (iban[:2] + iban[4:]).startswith(prefix)


def check_peer(*, bic: str, url: str, public_key: str, iban_prefixes: list[str]) -> list[str]:
    """The refusal of a peer's details, if any; the normalised prefixes."""
    bic = check_bic(bic)
    if bic == hub_bic():
        raise ClearingError("own_bic", "a hub cannot be its own peer")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url or ""):
        raise ClearingError("invalid_url", f"{url!r} is not an http(s) base URL")
    try:
        keys.parse_public_key(public_key)
    except ValueError as error:
        raise ClearingError("invalid_public_key", str(error)) from None
    prefixes = sorted({prefix.replace(" ", "").upper() for prefix in iban_prefixes})
    if not prefixes or not all(PREFIX.fullmatch(prefix) for prefix in prefixes):
        raise ClearingError(
            "invalid_iban_prefix", "give at least one prefix: a country code and a bank code"
        )
    return prefixes


@transaction.atomic
def peer_save(
    *, bic: str, url: str, public_key: str, iban_prefixes: list[str], actor: Actor
) -> Peer:
    """Add a peer, or update the one with this BIC (audited with before and after)."""
    prefixes = check_peer(bic=bic, url=url, public_key=public_key, iban_prefixes=iban_prefixes)
    bic = check_bic(bic)
    peer = Peer.objects.select_for_update().filter(bic=bic).first()
    before = snapshot(peer) if peer else None
    if peer is None:
        try:
            with transaction.atomic():
                peer = Peer.objects.create(
                    bic=bic,
                    url=url.rstrip("/"),
                    public_key=public_key.strip(),
                    iban_prefixes=prefixes,
                )
        except IntegrityError:
            peer = Peer.objects.select_for_update().get(bic=bic)
            before = snapshot(peer)
    peer.url = url.rstrip("/")
    peer.public_key = public_key.strip()
    peer.iban_prefixes = prefixes
    peer.active = True
    peer.save()
    request_memo.forget("clearing.active_peers")
    audit.record(
        actor=actor,
        action=AuditAction.CLEARING_PEER_ADD
        if before is None
        else AuditAction.CLEARING_PEER_UPDATE,
        target=peer,
        before=before,
        after=snapshot(peer),
    )
    return peer


def snapshot(peer: Peer) -> dict[str, object]:
    return {
        "bic": peer.bic,
        "url": peer.url,
        "public_key": peer.public_key,
        "iban_prefixes": list(peer.iban_prefixes),
        "active": peer.active,
    }


def active_peers() -> list[Peer]:
    """The active peers, read once per request (common/request_memo.py)."""
    return request_memo.memo("clearing.active_peers", rows.active_peers)


def peer_for_iban(iban: str) -> Peer | None:
    """The active peer serving the IBAN: the longest matching prefix wins."""
    return serving(normalise_iban(iban), active_peers())


def peers_for_ibans(ibans: Iterable[str]) -> dict[str, Peer]:
    """`peer_for_iban` for many at once (a batch's rows), with one query: each text that is
    an IBAN some active peer serves, as given, to its peer."""
    peers = active_peers()
    found = {}
    for text in ibans:
        iban = normalise_iban(text)
        peer = serving(iban, peers) if peers and is_iban(iban) else None
        if peer is not None:
            found[text] = peer
    return found


def serving(iban: str, peers: list[Peer]) -> Peer | None:
    """Of `peers`, the one serving the (normalised) IBAN: the longest matching prefix."""
    best: tuple[int, Peer] | None = None
    for peer in peers:
        for prefix in peer.iban_prefixes:
            if prefix_matches(prefix, iban) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), peer)
    return best[1] if best else None


def clearing_account(*, peer: Peer, currency: str) -> Account:
    """The peer's clearing account in the currency, opened on first use (a system account:
    it goes below zero by what the peer's transfers credited here)."""
    money.check_currency(currency)
    opened = rows.clearing_account(peer.pk, currency)
    if opened is not None:
        return opened
    found = ClearingAccount.objects.select_related("account").filter(peer=peer, currency=currency)
    try:
        with transaction.atomic():
            account = Account.objects.create(
                number=f"SYS-CLEARING-{peer.bic}-{currency}",
                name=f"Clearing with {peer.bic} ({currency})",
                currency=currency,
                kind=Account.Kind.SYSTEM,
                overdraft_limit=FUNDING_OVERDRAFT,
            )
            ClearingAccount.objects.create(peer=peer, currency=currency, account=account)
            return account
    except IntegrityError:
        return found.get().account


def position(*, peer: Peer, currency: str) -> int:
    """What the peer owes this hub (positive) or this hub owes it (negative), minor units.

    The clearing account is credited when this hub pays the peer's customers (a debt to the
    peer) and debited when the peer's transfers are credited here: the position is its
    balance with the sign turned."""
    row = ClearingAccount.objects.select_related("account").filter(peer=peer, currency=currency)
    account = row.first()
    return -account.account.balance if account else 0
