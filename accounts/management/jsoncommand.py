"""A management command whose last line of output is one JSON object (CONTRACT.md)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.ledger.errors import LedgerError


class JsonCommand(BaseCommand):
    # With *args, a command may name the options it takes: `run(self, *, name, **_)`.
    def run(self, *args: Any, **options: Any) -> dict[str, Any]:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = self.run(**options)
        except LedgerError as error:
            raise CommandError(error.detail) from error
        self.stdout.write(json.dumps(result, default=str))
