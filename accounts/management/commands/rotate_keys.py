"""Rotate the keys that are not in the database (docs/operations.md, Keys)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.identity import keys
from accounts.identity.audit import current_actor


class Command(BaseCommand):
    help = (
        "Add a new current key (key file) and re-seal every secret and re-chain the audit trail "
        "under it; --status reports what is under which key; --retire drops the older keys."
    )

    def add_arguments(self, parser: Any) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--status", action="store_true", help="report, change nothing")
        group.add_argument(
            "--retire", action="store_true", help="drop the older keys (nothing left under them)"
        )
        group.add_argument(
            "--reseal-only",
            action="store_true",
            help="add no key: re-seal and re-chain under the current one "
            "(what FIELD_ENCRYPTION_KEYS deployments run after putting the new key first)",
        )

    def handle(self, *args: Any, status: bool, retire: bool, reseal_only: bool, **_: Any) -> None:
        actor = current_actor()
        try:
            if status:
                result = keys.keys_status()
            elif retire:
                result = keys.keys_retire(actor=actor)
            else:
                result = keys.keys_rotate(actor=actor, add_key=not reseal_only)
        except keys.KeysError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(result, default=str))
