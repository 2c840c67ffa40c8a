"""Another bank on a real HTTP port, for the tests of a batch's rows sent through the network.

The hub posts to it through its real transport (clearing/transport.py, signed). It checks the
signature with the hub's published key and the pacs.008 against its schema, as a peer would,
and answers a pacs.002: ACSC, or RJCT with the reason set for the creditor's IBAN. It keeps
its first answer per UETR (a resend gets the same), can be down (503, no answer), and counts
the posts in flight at once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from accounts.identity.audit import Actor
from clearing import keys, services, signing
from clearing.iso import builders, readers, validation
from tests.clearing.conftest import iban, public_b64


class PeerServer:
    def __init__(self, *, bic: str, country: str, bank_code: str) -> None:
        self.bic, self.country, self.bank_code = bic, country, bank_code
        self.hub_bic = services.hub_bic()
        self.hub_key = keys.parse_public_key(keys.public_key_b64())
        self.rejects: dict[str, str] = {}  # creditor IBAN -> the reason it is refused for
        self.down = False
        self.delay = 0.0  # seconds each answer takes
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.received: Counter[uuid.UUID] = Counter()  # pacs.008 taken per UETR (resends too)
        self.answers: dict[uuid.UUID, bytes] = {}
        self.refused: list[str] = []  # what it refused to take (should stay empty)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.peer = services.peer_save(
            bic=bic,
            url=self.url,
            public_key=public_b64(Ed25519PrivateKey.generate()),
            iban_prefixes=[f"{country}{bank_code}"],
            actor=Actor.system("tests"),
        )

    def customer(self, n: int) -> str:
        return iban(self.country, f"{self.bank_code}00001{n:011d}89")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, headers, body: bytes) -> tuple[int, bytes]:
        if self.down:
            return 503, b""
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            return self._answer(path, headers, body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, path: str, headers, body: bytes) -> tuple[int, bytes]:
        try:
            signing.verify(
                method="POST",
                url=self.url + path,
                headers=headers,
                body=body,
                public_keys={self.hub_bic: self.hub_key},
                max_age_seconds=300,
            )
            _kind, root, _doc = validation.validate(body, expect=builders.PACS008)
        except Exception as error:  # noqa: BLE001 - a test peer says what it refused
            self.refused.append(repr(error))
            return 400, b""
        transfer = readers.pacs008(root)
        assert transfer.uetr is not None
        with self.lock:
            self.received[transfer.uetr] += 1
            if transfer.uetr not in self.answers:
                reason = self.rejects.get(transfer.creditor_iban, "")
                self.answers[transfer.uetr] = builders.pacs002(
                    builders.Status(
                        msg_id=builders.new_msg_id(),
                        created_at=timezone.now(),
                        sender=self.bic,
                        receiver=self.hub_bic,
                        original_msg_id=transfer.msg_id,
                        original_kind=builders.PACS008,
                        uetr=transfer.uetr,
                        end_to_end_id=transfer.end_to_end_id,
                        instruction_id=transfer.instruction_id,
                        accepted=not reason,
                        reason_code=reason,
                    )
                )
            return 200, self.answers[transfer.uetr]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bank = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = bank.answer(self.path, self.headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        return Handler
