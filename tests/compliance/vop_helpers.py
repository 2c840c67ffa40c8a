"""A peer bank asking this hub to verify payees, signing as CONTRACT.md says (the clearing
tests' PeerBank, over the VoP path)."""

from __future__ import annotations

import json
import uuid

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
