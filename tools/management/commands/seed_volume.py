"""`manage.py seed_volume --payments N`: N payments over 120 days, with refunds, holds,
batches and their rows and a balanced ledger, written with COPY (see `tools.volume`).

Prints one JSON object: {"payments", "entries", "batches", "seconds"}. Meant for a
database of its own (benchmarks, searches at scale), never for one with real money.
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandParser

from tools import volume


class Command(BaseCommand):
    help = "Seed N payments with their ledger, refunds and batches, straight into PostgreSQL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--payments", type=int, required=True)
        parser.add_argument("--seed", type=int, default=13, help="random seed (repeatable data)")

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        done = volume.seed(payments=options["payments"], seed_value=options["seed"])
        self.stdout.write(
            json.dumps(
                {
                    "payments": done.payments,
                    "entries": done.entries,
                    "batches": done.batches,
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
        )
