"""`manage.py sanctions_alerts`: prints {alerts: [{id, subject, name, list, entry, score, status}]}."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from accounts.management.jsoncommand import JsonCommand
from compliance import services
from compliance.models import ScreeningAlert


class Command(JsonCommand):
    help = "List the sanctions screening alerts (newest first), optionally of one status."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--status", choices=[s.value for s in ScreeningAlert.Status])

    def run(self, *, status: str | None = None, **_: Any) -> dict[str, Any]:
        alerts = ScreeningAlert.objects.all()
        if status:
            alerts = alerts.filter(status=status)
        return {"alerts": services.alerts_json(alerts.iterator())}
