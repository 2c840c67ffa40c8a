"""`manage.py sanctions_import --format eu|un|ofac PATH [PATH ...]` (CONTRACT.md, Compliance)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser

from accounts.identity.audit import current_actor
from accounts.management.jsoncommand import JsonCommand
from compliance import services


class Command(JsonCommand):
    help = (
        "Import a consolidated sanctions list from its published file(s): the EU financial "
        "sanctions XML, the UN Security Council XML, or OFAC's sdn.csv with alt.csv and add.csv "
        "(gzip-compressed files are read as well). Prints {list, version, entries}, then screens "
        "every merchant, account holder and stored payee against the current lists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=["eu", "un", "ofac"])
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--no-screen", action="store_true", help="import only; the next screening will see it"
        )

    def run(self, *, format: str, paths: list[str], no_screen: bool, **_: Any) -> dict[str, Any]:
        actor = current_actor()
        imported, created = services.sanctions_list_import(
            source=format, paths=paths, actor=actor, schedule_screening=False
        )
        result = {
            "list": imported.source,
            "version": imported.version,
            "entries": imported.entry_count,
        }
        if not no_screen:
            # The import's JSON first (CONTRACT.md), then the screening's on the last line.
            self.stdout.write(json.dumps(result))
            screening = services.sanctions_screen(actor=actor)
            return {**result, "created": created, **screening}
        return {**result, "created": created}
