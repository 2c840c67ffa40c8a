"""Four eyes on peers: a peer added or changed by a person takes effect only when another
admin approves it through the gate; the command on the server applies at once. Every change
is audited with before and after."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command

from accounts.identity import gate, roles
from accounts.identity.audit import Actor
from accounts.identity.models import AuditEvent, Decision
from accounts.ledger.errors import InvalidState
from clearing import peers
from clearing.iso import builders
from clearing.models import Peer, PeerChange
from tests.clearing.conftest import public_b64
from tests.helpers import fresh_code, make_operator, otp_login, signed


@pytest.fixture
def admins(db):
    return (
        make_operator(roles.ADMIN, username="first-admin", is_staff=True, is_superuser=True),
        make_operator(roles.ADMIN, username="second-admin", is_staff=True, is_superuser=True),
    )


def _propose(user, peer, **details):
    return peers.peer_propose(
        bic=details.get("bic", peer.bic),
        url=details.get("url", "http://peer.test"),
        public_key=details.get("public_key", public_b64(peer.key)),
        iban_prefixes=details.get("iban_prefixes", [f"FR{peer.bank_code}"]),
        actor=Actor.for_user(user),
    )


def test_a_new_key_is_believed_only_after_a_second_admin_approves(peer, shop, admins):
    first, second = admins
    new_key = Ed25519PrivateKey.generate()
    change = _propose(first, peer, public_key=public_b64(new_key))
    assert change.before["public_key"] == public_b64(peer.key)

    # Still the old key: a document signed with the proposed one is refused, nothing changes.
    body = builders.pacs008(peer.transfer(shop.account.number))
    assert peer.post(body, key=new_key).status_code == 401

    with pytest.raises(gate.NotAllowed, match="you initiated this"):
        peers.peer_change_approve(
            change_id=change.pk, actor=Actor.for_user(first), otp_token=fresh_code(first)
        )
    assert Peer.objects.get(bic=peer.bic).public_key == public_b64(peer.key)

    peers.peer_change_approve(
        change_id=change.pk, actor=Actor.for_user(second), otp_token=fresh_code(second)
    )
    assert Peer.objects.get(bic=peer.bic).public_key == public_b64(new_key)
    assert PeerChange.objects.get(pk=change.pk).status == "approved"
    assert Decision.objects.get(subject_id=str(change.pk)).user == second
    update = AuditEvent.objects.get(action="clearing.peer_update", actor=second)
    assert update.before["public_key"] == public_b64(peer.key)
    assert update.after["public_key"] == public_b64(new_key)
    assert (
        peer.post(builders.pacs008(peer.transfer(shop.account.number)), key=new_key).status_code
        == 200
    )

    with pytest.raises(InvalidState):  # approved once
        peers.peer_change_approve(
            change_id=change.pk, actor=Actor.for_user(second), otp_token=fresh_code(second)
        )


def test_a_new_peer_waits_too_and_a_rejection_changes_nothing(peer, admins):
    first, second = admins
    change = _propose(first, peer, bic="NEWBDEFFXXX", iban_prefixes=["DE50010517"])
    assert change.before is None and not Peer.objects.filter(bic="NEWBDEFFXXX").exists()
    with pytest.raises(InvalidState, match="already waits"):
        _propose(second, peer, bic="NEWBDEFFXXX", iban_prefixes=["DE50010518"])
    with pytest.raises(InvalidState, match="say why"):
        peers.peer_change_reject(
            change_id=change.pk, actor=Actor.for_user(first), otp_token="", reason=" "
        )
    peers.peer_change_reject(
        change_id=change.pk,
        actor=Actor.for_user(first),
        otp_token=fresh_code(first),
        reason="wrong prefix",
    )
    assert PeerChange.objects.get(pk=change.pk).status == "rejected"
    assert not Peer.objects.filter(bic="NEWBDEFFXXX").exists()
    with pytest.raises(InvalidState):
        peers.peer_change_approve(
            change_id=change.pk, actor=Actor.for_user(second), otp_token=fresh_code(second)
        )
    assert not Peer.objects.filter(bic="NEWBDEFFXXX").exists()


def test_who_may_propose_and_what(peer, admins):
    clerk = make_operator(roles.OPERATOR, username="clerk")
    with pytest.raises(gate.NotAllowed):
        _propose(clerk, peer, url="http://evil.test")
    with pytest.raises(InvalidState, match="nothing to change"):
        _propose(admins[0], peer)
    assert not PeerChange.objects.exists()


def test_a_proposal_overtaken_by_another_change_is_not_applied(peer, admins):
    first, second = admins
    change = _propose(first, peer, url="http://new.peer.test")
    call_command(
        "clearing_peer_add",
        "--bic",
        peer.bic,
        "--url",
        "http://cmd.peer.test",
        "--public-key",
        public_b64(peer.key),
        "--iban-prefix",
        f"FR{peer.bank_code}",
    )
    with pytest.raises(InvalidState, match="changed since"):
        peers.peer_change_approve(
            change_id=change.pk, actor=Actor.for_user(second), otp_token=fresh_code(second)
        )
    assert Peer.objects.get(bic=peer.bic).url == "http://cmd.peer.test"
    # The command applies at once, audited with before and after, by the operator's door.
    event = AuditEvent.objects.filter(action="clearing.peer_update").latest("id")
    assert (event.before["url"], event.after["url"]) == ("http://peer.test", "http://cmd.peer.test")


def test_the_second_admin_approves_in_the_admin(peer, admins, client):
    first, second = admins
    change = _propose(first, peer, url="http://moved.peer.test")
    otp_login(client, second)
    response = client.post(
        f"/admin/clearing/peerchange/{change.pk}/decide/", signed(second, decision="approve")
    )
    assert response.status_code == 302
    assert Peer.objects.get(bic=peer.bic).url == "http://moved.peer.test"
