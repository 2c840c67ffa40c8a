import json
import sys

from django.core.management.base import BaseCommand

from accounts.identity.audit import verify_chain


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; exit 1 naming any event edited, deleted or moved."

    def handle(self, *args, **options):
        result = verify_chain()
        for broken in result["broken"]:
            self.stderr.write(f"audit event {broken['id']}: {broken['problem']}")
        self.stdout.write(json.dumps(result, default=str))
        if not result["ok"]:
            sys.exit(1)
