"""`manage.py bench_messages [--times N]`: what the checks every interbank message must pass
cost, in CPU milliseconds, one JSON line.

An RFC 9421 signature made and checked (clearing/signing.py, Ed25519 with
`http-message-signatures`), the Ed25519 signature alone, and the schema check of a pacs.008
and of a pacs.002 (clearing/iso/validation.py), each done N times in this process on a
typical transfer and its answer. An instant payment between two hubs signs and checks three
messages (the payee check, the pacs.008, the pacs.002) and checks four documents (each when
written and when received): BENCHMARKS.md sets these beside `bench_clearing`'s CPU per
payment. Nothing is written.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import CommandParser
from django.utils import timezone

from accounts.management.jsoncommand import JsonCommand
from clearing import signing
from clearing.iso import builders, validation

URL = "https://peer.example/clearing/v1/messages/"


def documents() -> tuple[bytes, bytes]:
    """A pacs.008 of one transfer with a structured address, and its pacs.002 (RJCT AC04)."""
    transfer = builders.Transfer(
        msg_id=builders.new_msg_id(),
        created_at=timezone.now(),
        uetr=uuid.uuid4(),
        end_to_end_id="E2E-1",
        instruction_id="INSTR-1",
        amount=1250,
        currency="EUR",
        debtor_agent="PYHBDEFFXXX",
        creditor_agent="PEERFRPPXXX",
        debtor_name="Shop",
        debtor_iban="DE89370400440532013000",
        creditor_name="Jean Dupont",
        creditor_iban="FR7630006000011234567890189",
        creditor_address={
            "street": "Rue de Rivoli",
            "building_number": "10",
            "postcode": "75001",
            "town": "Paris",
            "country": "FR",
        },
        remittance="invoice 42",
    )
    status = builders.Status(
        msg_id=builders.new_msg_id(),
        created_at=timezone.now(),
        sender="PEERFRPPXXX",
        receiver="PYHBDEFFXXX",
        original_msg_id=transfer.msg_id,
        original_kind=builders.PACS008,
        uetr=transfer.uetr,
        end_to_end_id=transfer.end_to_end_id,
        instruction_id=transfer.instruction_id,
        accepted=False,
        reason_code="AC04",
    )
    return builders.pacs008(transfer), builders.pacs002(status)


def _ms_each(work: Callable[[], object], times: int) -> float:
    work()  # the first call builds what later ones reuse
    started = time.process_time()
    for _ in range(times):
        work()
    return round(1000 * (time.process_time() - started) / times, 3)


class Command(JsonCommand):
    help = "CPU ms of a message's signature and schema checks; one JSON object."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--times", type=int, default=2000)

    def run(self, *, times: int, **_: Any) -> dict[str, Any]:
        key = Ed25519PrivateKey.generate()
        pacs008, pacs002 = documents()
        headers = signing.sign(url=URL, body=pacs008, key_id="PYHBDEFFXXX", private_key=key)
        public = {"PYHBDEFFXXX": key.public_key()}
        result = {
            "times": times,
            "sign_ms": _ms_each(
                lambda: signing.sign(url=URL, body=pacs008, key_id="PYHBDEFFXXX", private_key=key),
                times,
            ),
            "verify_ms": _ms_each(
                lambda: signing.verify(
                    method="POST",
                    url=URL,
                    headers=headers,
                    body=pacs008,
                    public_keys=public,
                    max_age_seconds=60,
                ),
                times,
            ),
            "ed25519_sign_only_ms": _ms_each(lambda: key.sign(pacs008), times),
            "schema_check_pacs008_ms": _ms_each(lambda: validation.validate(pacs008), times),
            "schema_check_pacs002_ms": _ms_each(lambda: validation.validate(pacs002), times),
        }
        # What one instant payment between two hubs needs of them: three signatures made and
        # checked, four documents checked (two of each kind).
        result["per_interbank_payment_ms"] = round(
            3 * (result["sign_ms"] + result["verify_ms"])
            + 2 * (result["schema_check_pacs008_ms"] + result["schema_check_pacs002_ms"]),
            2,
        )
        return result
