"""A peer bank as the tests play it: its own Ed25519 key, registered with this hub, signing
the documents it sends exactly as CONTRACT.md says."""

from __future__ import annotations

import base64
import datetime
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client
from django.utils import timezone

from accounts.identity.audit import Actor
from clearing import services, signing
from clearing.iso import builders
from tests.factories import AccountFactory
from tests.payments.conftest import Merchant

INBOX = "/clearing/v1/messages/"
URL = f"http://testserver{INBOX}"


def iban(country: str, bban: str) -> str:
    """An IBAN with the right check digits (ISO 13616)."""
    digits = "".join(str(int(char, 36)) for char in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


class PeerBank:
    bic = "PEERFRPPXXX"
    bank_code = "30006"

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.peer = services.peer_save(
            bic=self.bic,
            url="http://peer.test",
            public_key=public_b64(self.key),
            iban_prefixes=[f"FR{self.bank_code}"],
            actor=Actor.system("tests"),
        )
        self.client = Client()
        self.sent = 0
        self.started = datetime.datetime.now(datetime.UTC)

    def _created(self) -> datetime.datetime:
        # Ed25519 signs deterministically and `created` counts seconds: two sends of one
        # document within a second would be the same signed request (a replay). A real
        # resend comes later; here each signature is dated a second apart, into the past.
        self.sent += 1
        return self.started - datetime.timedelta(seconds=self.sent)

    def customer_iban(self, n: int = 1) -> str:
        return iban("FR", f"{self.bank_code}00001{n:011d}89")

    def headers(self, body: bytes, *, key=None, key_id=None, now=None, url=URL) -> dict[str, str]:
        return signing.sign(
            url=url,
            body=body,
            key_id=key_id or self.bic,
            now=now or self._created(),
            private_key=key or self.key,
        )

    def post(self, body: bytes, headers: dict[str, str] | None = None, **sign):
        headers = headers if headers is not None else self.headers(body, **sign)
        content_type = headers.pop("Content-Type", "application/xml")
        return self.client.post(INBOX, data=body, content_type=content_type, headers=headers)

    def transfer(
        self,
        creditor_iban: str,
        *,
        amount: int = 2500,
        currency: str = "EUR",
        accepted_at: datetime.datetime | None = None,
        uetr: uuid.UUID | None = None,
        msg_id: str | None = None,
    ) -> builders.Transfer:
        return builders.Transfer(
            msg_id=msg_id or builders.new_msg_id(),
            created_at=accepted_at or timezone.now(),
            uetr=uetr or uuid.uuid4(),
            end_to_end_id="E2E-PEER-1",
            instruction_id="INSTR-1",
            amount=amount,
            currency=currency,
            debtor_agent=self.bic,
            creditor_agent=services.hub_bic(),
            debtor_name="Marie Curie",
            debtor_iban=self.customer_iban(),
            creditor_name="Shop",
            creditor_iban=creditor_iban,
            creditor_address={"town": "Berlin", "country": "DE"},
            remittance="invoice 7",
        )


@pytest.fixture
def peer(db):
    return PeerBank()


@pytest.fixture
def shop(db):
    merchant = Merchant("Shop")
    merchant.account.number = iban("DE", "370400440532013000")
    merchant.account.save(update_fields=["number"])
    return merchant


@pytest.fixture
def local_account(shop):
    return shop.account


@pytest.fixture
def other_account(db):
    return AccountFactory(merchant=None, currency="EUR", number=iban("DE", "370400440532099999"))
