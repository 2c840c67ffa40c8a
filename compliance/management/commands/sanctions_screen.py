"""`manage.py sanctions_screen`: screen everyone now; prints {screened, alerts}."""

from __future__ import annotations

from typing import Any

from accounts.identity.audit import current_actor
from accounts.management.jsoncommand import JsonCommand
from compliance import services


class Command(JsonCommand):
    help = (
        "Screen every merchant, account holder and stored payee against the current sanctions "
        "lists; prints {screened, alerts} (alerts: the ones this run opened)."
    )

    def run(self, **_: Any) -> dict[str, Any]:
        return services.sanctions_screen(actor=current_actor())
