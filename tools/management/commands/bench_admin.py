"""`manage.py bench_admin`: how fast the back office answers on the database it runs on
(seeded with `seed_volume`), page by page, as a clerk uses it.

It signs in as a back-office user the way a browser does: the login form with its
CSRF token, then the authenticator code (computed from the user's TOTP device), through
Django's test client and so through every middleware of the real stack. Then it opens
each page ROUNDS times, each time with another payment, fragment or account picked at
random, and prints one JSON object: {"payments": N, "pages": [{"name", "p50_ms",
"p95_ms"}, ...]}.
"""

from __future__ import annotations

import json
import re
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account, LedgerEntry, User
from payments.models import Payment

USERNAME = "bench-admin"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def _random_payment() -> Payment:
    """A payment picked at random through the primary key's index (no ORDER BY random())."""
    found = Payment.objects.filter(pk__gte=uuid.uuid4()).order_by("pk").first()
    return found or Payment.objects.order_by("pk").first()  # type: ignore[return-value]


class Command(BaseCommand):
    help = "Time the back office's pages (admin and dashboard); prints one JSON object."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rounds", type=int, default=30, help="timed requests per page")

    def handle(self, *args, **options) -> None:
        rounds = options["rounds"]
        if not Payment.objects.exists():
            raise CommandError("no payments: run seed_volume first")
        client = self._sign_in()
        busy = self._busiest_account()
        payers = list(
            Account.objects.filter(merchant__isnull=False).values_list("number", flat=True)[:50]
        )
        month_ago = (timezone.localdate() - timedelta(days=30)).isoformat()

        def fragment() -> str:
            # The number at the end of an invoice reference, as a clerk pastes it.
            return _random_payment().reference.split("-")[-1]

        pages: list[tuple[str, Callable[[], str]]] = [
            ("admin payments list", lambda: reverse("admin:payments_payment_changelist")),
            (
                "admin payments search by reference fragment",
                lambda: reverse("admin:payments_payment_changelist") + f"?q={fragment()}",
            ),
            (
                "admin payments search by id prefix",
                lambda: (
                    reverse("admin:payments_payment_changelist")
                    + f"?q={str(_random_payment().pk)[:8]}"
                ),
            ),
            (
                "admin payments search by end-to-end id",
                lambda: (
                    reverse("admin:payments_payment_changelist")
                    + f"?q={_random_payment().end_to_end_id}"
                ),
            ),
            (
                "admin payment change page",
                lambda: reverse("admin:payments_payment_change", args=[_random_payment().pk]),
            ),
            (
                "admin ledger entries filtered by account",
                lambda: (
                    reverse("admin:accounts_ledgerentry_changelist")
                    + f"?account_number={secrets.choice(payers)}"
                ),
            ),
            (
                "dashboard payment search (reference fragment, last 30 days)",
                lambda: (
                    reverse("payments:search") + f"?reference={fragment()}&created_from={month_ago}"
                ),
            ),
            (
                "dashboard payment search (status and currency)",
                lambda: reverse("payments:search") + "?status=completed&currency=EUR",
            ),
            (
                f"dashboard statement of an account with {busy[1]:,} entries",
                lambda: reverse("ledger:account_detail", args=[busy[0]]),
            ),
        ]
        results = []
        for name, url_of in pages:
            for _ in range(2):  # warm the connection and the caches, untimed
                self._get(client, url_of())
            timings = []
            for _ in range(rounds):
                url = url_of()
                started = time.perf_counter()
                self._get(client, url)
                timings.append((time.perf_counter() - started) * 1000)
            results.append(
                {
                    "name": name,
                    "p50_ms": round(statistics.median(timings), 1),
                    "p95_ms": round(_percentile(timings, 0.95), 1),
                }
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM payments_payment")
            (payments,) = cursor.fetchone()
        self.stdout.write(json.dumps({"payments": payments, "pages": results}))

    def _get(self, client: Client, url: str) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise CommandError(f"{url} answered {response.status_code}")
        b"".join(response) if response.streaming else response.content  # noqa: B018

    def _busiest_account(self) -> tuple[uuid.UUID, int]:
        counts = [
            (account.pk, LedgerEntry.objects.filter(account=account).count())
            for account in Account.objects.filter(merchant__isnull=False)[:50]
        ]
        return max(counts, key=lambda pair: pair[1])

    def _sign_in(self) -> Client:
        """The login form, then the authenticator code, as a browser posts them."""
        password = secrets.token_urlsafe(16)
        user, _ = User.objects.get_or_create(
            username=USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        client = Client(enforce_csrf_checks=True, secure=True)
        login_url = reverse("login")
        page = client.get(login_url)
        token = CSRF.search(page.content.decode())
        if token is None:
            raise CommandError("the login page has no CSRF token")
        answer = client.post(
            login_url,
            {"username": USERNAME, "password": password, "csrfmiddlewaretoken": token.group(1)},
        )
        if answer.status_code != 302:
            raise CommandError(f"the login answered {answer.status_code}")
        verify_url = reverse("otp_verify")
        for _attempt in range(2):
            page = client.get(verify_url)
            token = CSRF.search(page.content.decode())
            if token is None:
                raise CommandError("the code page has no CSRF token")
            device.refresh_from_db()
            totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
            if totp.t() <= device.last_t:
                # This code was used already (an earlier run in the same 30 s): the next one.
                time.sleep(device.step - (time.time() - device.t0) % device.step + 0.5)
                totp.time = time.time()
            code = str(totp.token()).zfill(device.digits)
            answer = client.post(
                verify_url, {"otp_token": code, "csrfmiddlewaretoken": token.group(1)}
            )
            if answer.status_code == 302:
                break
        else:
            raise CommandError("the authenticator code was refused")
        if client.get(reverse("admin:index")).status_code != 200:
            raise CommandError("signed in, but the admin does not open")
        return client
