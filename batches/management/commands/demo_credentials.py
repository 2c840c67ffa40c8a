"""`manage.py demo_credentials`: the demo's users, passwords and TOTP secrets again, as
`make run` printed them when it started (its console moves on). Reads only: it seeds
nothing, and says so when the demo was never seeded (`make run` or `manage.py seed_demo`).
Last line: `{"users": [...], "api_key": ...}` like seed_demo's (CONTRACT.md).
"""

from __future__ import annotations

import os

from django.core.management.base import CommandError

from accounts.management.jsoncommand import JsonCommand
from accounts.models import Merchant
from batches.management.commands.seed_demo import (
    DEMO_API_KEY,
    DEMO_MERCHANT,
    DEMO_STAFF,
    credentials_block,
    demo_user,
)
from payments.models import MerchantAPIKey


class Command(JsonCommand):
    help = "Print the demo's users, passwords and TOTP secrets again (seeds nothing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url",
            default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
            help="where the hub answers, for the links (default: http://127.0.0.1:$PORT)",
        )

    def run(self, *, base_url: str, **_) -> dict:
        users = [
            found
            for role, username, password, _groups, _superuser in DEMO_STAFF
            if (found := demo_user(role, username, password)) is not None
        ]
        if not users:
            raise CommandError(
                "no demo users in this database: `make run` seeds them (or manage.py seed_demo)"
            )
        merchant = Merchant.objects.filter(name=DEMO_MERCHANT).first()
        has_key = MerchantAPIKey.objects.filter(prefix=DEMO_API_KEY.split(".")[0]).exists()
        demo = {
            "users": users,
            "merchant": {"id": str(merchant.pk), "name": merchant.name} if merchant else {},
            "api_key": DEMO_API_KEY if has_key else None,
        }
        self.stdout.write(credentials_block(demo, base_url=base_url.rstrip("/")))
        return demo
