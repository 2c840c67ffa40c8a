"""The back office's clearing screens: peers saved through the audited service, documents
read-only and found by MsgId or UETR."""

from __future__ import annotations

from accounts.identity import roles
from accounts.identity.models import AuditEvent, User
from clearing.iso import builders
from clearing.models import Message, Peer, PeerChange
from tests.clearing.conftest import public_b64
from tests.helpers import grant


def test_messages_are_listed_found_and_read_only(peer, shop, admin_client):
    transfer = peer.transfer(shop.account.number)
    assert peer.post(builders.pacs008(transfer)).status_code == 200
    listing = admin_client.get("/admin/clearing/message/")
    assert listing.status_code == 200
    found = admin_client.get(f"/admin/clearing/message/?q={transfer.uetr}")
    assert found.content.count(b"pacs.00") >= 2
    message = Message.objects.filter(kind="pacs.008.001.08").get()
    page = admin_client.get(f"/admin/clearing/message/{message.pk}/change/")
    assert page.status_code == 200 and b"FIToFICstmrCdtTrf" in page.content
    assert admin_client.get("/admin/clearing/message/add/").status_code == 403
    assert admin_client.get("/admin/clearing/clearingaccount/").status_code == 200


def test_a_peer_saved_in_the_admin_is_only_proposed(peer, admin_client):
    form = {
        "bic": "ADMNDEFFXXX",
        "url": "http://10.1.1.1:8000",
        "public_key": public_b64(peer.key),
        "iban_prefixes": "DE12345678",
    }
    # A superuser flag confers nothing: the admin role is granted to the person.
    admin_client.post("/admin/clearing/peer/add/", form)
    assert not PeerChange.objects.exists()
    grant(User.objects.get(username="admin"), roles.ADMIN)
    response = admin_client.post("/admin/clearing/peer/add/", form)
    assert response.status_code == 302, response.content[:2000]
    assert response["Location"] == "/admin/clearing/peerchange/"
    assert not Peer.objects.filter(bic="ADMNDEFFXXX").exists()  # not before a second admin
    change = PeerChange.objects.get(bic="ADMNDEFFXXX")
    assert change.status == "pending" and change.iban_prefixes == ["DE12345678"]
    event = AuditEvent.objects.get(action="clearing.peer_propose", target_id=str(change.pk))
    assert event.before is None and event.after["url"] == "http://10.1.1.1:8000"
    listing = admin_client.get("/admin/clearing/peerchange/")
    assert b"Approve or reject" in listing.content
    page = admin_client.get(f"/admin/clearing/peerchange/{change.pk}/decide/")
    assert page.status_code == 200 and b"10.1.1.1" in page.content


def test_a_peer_the_service_refuses_is_shown_on_the_form(peer, admin_client):
    response = admin_client.post(
        "/admin/clearing/peer/add/",
        {"bic": "ADMNDEFFXXX", "url": "ftp://x", "public_key": "bad", "iban_prefixes": "DE1"},
    )
    assert response.status_code == 200
    assert b"errornote" in response.content or b"errorlist" in response.content
    assert not Peer.objects.filter(bic="ADMNDEFFXXX").exists()
