"""manage.py statement_export --account NUMBER --date YYYY-MM-DD [--format camt.053|csv]

Writes the account's statement of that day to standard output, for end-of-day runs:
camt.053.001.08 by default (--camt-version camt.053.001.02 for older readers), streamed.
"""

from __future__ import annotations

import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from statements import camt053, exports, selectors


class Command(BaseCommand):
    help = "Write an account's statement of one day to standard output (camt.053 or CSV)."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="the account number")
        parser.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
        parser.add_argument("--format", default="camt.053", choices=["camt.053", "csv"])
        parser.add_argument(
            "--camt-version", default=camt053.DEFAULT_VERSION, choices=camt053.VERSIONS
        )

    def handle(self, *args, **options):
        account = Account.objects.filter(number=options["account"]).first()
        if account is None:
            raise CommandError(f"no account has number {options['account']!r}")
        try:
            day = date.fromisoformat(options["date"])
        except ValueError:
            raise CommandError(f"{options['date']!r} is not a date (YYYY-MM-DD)") from None
        span = selectors.period(day, day)
        out = sys.stdout.buffer
        if options["format"] == "csv":
            for line in exports.statement_csv(account=account, span=span):
                out.write(line.encode())
        else:
            exports.write_camt(out, account=account, span=span, version=options["camt_version"])
        out.flush()
