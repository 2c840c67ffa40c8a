import json
import sys

from django.core.management.base import BaseCommand

from accounts.ledger.selectors import ledger_verify


class Command(BaseCommand):
    help = "Recompute every balance from the ledger entries; exit 1 when anything disagrees."

    def handle(self, *args, **options):
        result = ledger_verify()
        for mismatch in result["mismatches"]:
            self.stderr.write(
                f"account {mismatch['account']}: balance {mismatch['balance']} but entries sum to "
                f"{mismatch['entries_sum']}; held {mismatch['held']} but active holds sum to "
                f"{mismatch['active_holds_sum']}"
            )
        for txn in result["unbalanced_transactions"]:
            self.stderr.write(f"ledger transaction {txn} does not sum to zero")
        self.stdout.write(json.dumps(result, default=str))
        if not result["ok"]:
            sys.exit(1)
