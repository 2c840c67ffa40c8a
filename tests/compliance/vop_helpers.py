"""A peer bank asking this hub to verify payees, signing as CONTRACT.md says (the clearing
tests' PeerBank, over the VoP path)."""

from __future__ import annotations

import json
import threading
import uuid

from django.db import connection
from django.utils import timezone

from clearing.services import hub_bic
from tests.clearing.conftest import PeerBank, iban

PATH = "/vop/v1/payee-verifications"
URL = f"http://testserver{PATH}"

__all__ = ["PATH", "URL", "VopPeer", "iban"]


class VopPeer(PeerBank):
    def body(self, iban_: str, name: str | None, **override) -> bytes:
        party = {"name": name} if name is not None else {"identification": {"lei": "X"}}
        data = {
            "party": party,
            "partyAccount": {"iban": iban_},
            "partyAgent": hub_bic(),
            "requestingAgent": self.bic,
            **override,
        }
        return json.dumps(data).encode()

    def ask(
        self,
        iban_: str,
        name: str | None,
        *,
        body: bytes | None = None,
        tamper: bytes | None = None,
        extra: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
        **sign,
    ):
        body = body if body is not None else self.body(iban_, name)
        headers = self.headers(body, url=URL, **sign)
        headers.pop("Content-Type", None)
        headers["X-Request-ID"] = str(uuid.uuid4())
        headers["X-Request-Timestamp"] = timezone.now().isoformat()
        headers.update(extra or {})
        for name_ in drop:
            headers.pop(name_, None)
        return self.client.post(
            PATH, data=tamper if tamper is not None else body,
            content_type="application/json", headers=headers,
        )  # fmt: skip


class InProcessPeerHub:
    """The peer bank (PEERFRPPXXX, serving FR30006) played by this very process: the
    requester's signed request goes through the test client to the real responder, which
    answers as the peer (its BIC, and the FR30006 accounts as its own). This hub is the
    peer's peer: its BIC and its public key. `down` and `answer` make it misbehave."""

    bic = "PEERFRPPXXX"
    bank_code = "30006"

    def __init__(self, monkeypatch) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from django.conf import settings

        from accounts.identity.audit import Actor
        from clearing import keys, services
        from clearing.models import Peer
        from compliance.vop import matching, requester
        from tests.clearing.conftest import public_b64

        self.peer = services.peer_save(
            bic=self.bic,
            url="http://testserver",
            public_key=public_b64(Ed25519PrivateKey.generate()),
            iban_prefixes=[f"FR{self.bank_code}"],
            actor=Actor.system("tests"),
        )
        Peer.objects.create(
            bic=settings.HUB_BIC,
            url="http://hub.test",
            public_key=keys.public_key_b64(),
            iban_prefixes=["DE"],
        )
        self.answering = False
        self.posts: list[dict] = []
        self.down = False
        self.answer: tuple[int, bytes] | None = None
        real_account, real_held = matching.held_account, requester._held

        def held_account(number: str):
            return real_account(number) if self.answering or not self._theirs(number) else None

        def held(numbers: set[str]):
            return {n: a for n, a in real_held(numbers).items() if not self._theirs(n)}

        monkeypatch.setattr(matching, "held_account", held_account)
        monkeypatch.setattr(requester, "_held", held)
        monkeypatch.setattr(requester, "http_post", self.post)

    def _theirs(self, number: str) -> bool:
        return (
            number.replace(" ", "").upper()[4:].startswith(self.bank_code)
            and number[:2].upper() == "FR"
        )

    def customer_iban(self, n: int) -> str:
        return iban("FR", f"{self.bank_code}00001{n:011d}89")

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float):
        from django.test import Client, override_settings

        assert url == f"http://testserver{PATH}"
        self.posts.append({"body": json.loads(body), "headers": dict(headers)})
        if self.down:
            raise OSError("timed out")
        if self.answer is not None:
            return self.answer
        headers = dict(headers)
        content_type = headers.pop("Content-Type")
        self.answering = True
        try:
            with override_settings(HUB_BIC=self.bic):
                response = Client().post(
                    PATH, data=body, content_type=content_type, headers=headers
                )
        finally:
            self.answering = False
            if threading.current_thread() is not threading.main_thread():
                connection.close()  # a batch's requests come from threads of their own
        return response.status_code, response.content
