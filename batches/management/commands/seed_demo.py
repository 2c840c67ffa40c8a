"""Demo data for `make run`: staff with passwords and authenticators, a merchant,
funded accounts and a morning of its payments. Running it again changes nothing and
prints the same.
"""

from __future__ import annotations

import base64

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_api_key.crypto import KeyGenerator, concatenate

from accounts.identity import grants, roles
from accounts.identity.audit import Actor
from accounts.ledger import money, posting, services
from accounts.management.jsoncommand import JsonCommand
from accounts.models import Account, Merchant, User
from payments import services as payment_services
from payments.models import MerchantAPIKey, Payment

DEMO_STAFF = [
    # role, username, password, groups, superuser
    ("maker", "maker", "maker-demo-2026", [roles.OPERATOR], False),
    ("approver", "checker", "checker-demo-2026", [roles.OPERATOR, roles.APPROVER], False),
    ("approver", "checker2", "checker2-demo-2026", [roles.OPERATOR, roles.APPROVER], False),
    ("admin", "admin", "admin-demo-2026", [roles.ADMIN], True),
]
DEMO_MERCHANT = "Demo Shop Ltd"
DEMO_API_KEY = "demokey1.payhub-demo-key-not-for-production"
DEMO_ACCOUNTS = [
    # number, currency, owned by the demo merchant, name, funding
    ("DEMOEUR0001", "EUR", True, "Demo Shop Ltd EUR", "250000.00"),
    ("DEMOUSD0001", "USD", True, "Demo Shop Ltd USD", "50000.00"),
    ("DEMOEUR1001", "EUR", False, "Anna Schmidt", ""),
    ("DEMOEUR1002", "EUR", False, "Bruno Rossi", ""),
    ("DEMOEUR1003", "EUR", False, "Chloé Martin", ""),
    ("DEMOEUR1004", "EUR", False, "Dmitri Ivanov", ""),
    ("DEMOUSD1001", "USD", False, "Evelyn Carter", ""),
]
DEMO_PARTLY_REFUNDED = "order 1002"
DEMO_PAYMENTS = [
    # debtor, creditor, amount, currency, reference, capture
    ("DEMOEUR0001", "DEMOEUR1001", "120.00", "EUR", "order 1001", True),
    ("DEMOEUR0001", "DEMOEUR1002", "89.90", "EUR", DEMO_PARTLY_REFUNDED, True),
    ("DEMOEUR0001", "DEMOEUR1003", "1450.00", "EUR", "invoice 2026-114", True),
    ("DEMOEUR0001", "DEMOEUR1004", "35.50", "EUR", "order 1003", True),
    ("DEMOEUR0001", "DEMOEUR1001", "249.99", "EUR", "order 1004", True),
    ("DEMOEUR0001", "DEMOEUR1002", "75.00", "EUR", "order 1005 (to capture)", False),
    ("DEMOUSD0001", "DEMOUSD1001", "1200.00", "USD", "invoice 2026-115", True),
    ("DEMOUSD0001", "DEMOUSD1001", "75000.00", "USD", "invoice 2026-116", True),  # refused
]


def credentials_block(demo: dict, *, base_url: str = "http://127.0.0.1:8000") -> str:
    """The demo's users as `make run` prints them (CONTRACT.md): a line
    `ROLE  USERNAME  password PASSWORD` per user, then its `TOTP secret (...): SECRET`."""
    lines = [
        f"  Payments hub on {base_url}/",
        f"  Dashboard login: {base_url}/accounts/login/",
        f"  Admin:           {base_url}/admin/",
        f"  API docs:        {base_url}/api/docs/",
    ]
    for user in demo.get("users", []):
        lines.append(f"  {user['role']:<9} {user['username']:<10} password {user['password']}")
        if user.get("totp_secret"):
            lines.append(
                f"            TOTP secret (for an authenticator app): {user['totp_secret']}"
            )
    if demo.get("api_key"):
        merchant = demo.get("merchant", {}).get("name", "the demo merchant")
        lines.append(f"  API key of {merchant}: {demo['api_key']}")
    return "\n".join(lines)


def demo_user(role: str, username: str, password: str) -> dict | None:
    """A demo user's credentials as seeded, or None when the demo has no such user."""
    user = User.objects.filter(username=username).first()
    device = TOTPDevice.objects.filter(user=user).first() if user else None
    if user is None or device is None:
        return None
    return {
        "role": role,
        "username": username,
        "password": password,
        "totp_uri": device.config_url,
        "totp_secret": base64.b32encode(device.bin_key).decode(),
    }


class Command(JsonCommand):
    help = "Seed the demo (idempotent) and print its credentials."

    def run(self, **_):
        actor = Actor.system("manage.py seed_demo")
        with transaction.atomic():
            users = [
                self._staff(role, name, password, groups, superuser)
                for role, name, password, groups, superuser in DEMO_STAFF
            ]
            merchant = Merchant.objects.filter(
                name=DEMO_MERCHANT
            ).first() or services.merchant_create(name=DEMO_MERCHANT, actor=actor)
            for number, currency, owned, name, funding in DEMO_ACCOUNTS:
                account = Account.objects.filter(number=number).first()
                if account is None:
                    account = services.account_open(
                        currency=currency,
                        merchant_id=merchant.id if owned else None,
                        number=number,
                        name=name,
                        actor=actor,
                    )
                    if funding:
                        services.account_fund(
                            number=number, amount=funding, actor=actor, reference="demo funding"
                        )
            if not Payment.objects.filter(merchant=merchant).exists():
                self._demo_payments(merchant)
            accounts = []
            for number, _currency, owned, _name, _funding in DEMO_ACCOUNTS:
                account = Account.objects.get(number=number)
                accounts.append(
                    {
                        "number": account.number,
                        "currency": account.currency,
                        "owner": DEMO_MERCHANT if owned else "",
                        "balance": money.to_major(account.balance, account.currency),
                    }
                )
            posting.funding_account("EUR")
            api_key = self._demo_api_key(merchant)
        return {
            "users": users,
            "merchant": {"id": str(merchant.id), "name": merchant.name},
            "accounts": accounts,
            "api_key": api_key,
        }

    def _demo_payments(self, merchant: Merchant) -> None:
        """A morning of the demo shop's payments, made through the services like any
        other: completed, one refunded in part, one only authorized, one refused."""
        by_number = {account.number: account for account in Account.objects.all()}
        for debtor, creditor, amount, currency, reference, capture in DEMO_PAYMENTS:
            payment = payment_services.payment_authorize(
                merchant=merchant,
                debtor=by_number[debtor],
                creditor=by_number[creditor],
                amount=money.to_minor(amount, currency),
                currency=currency,
                reference=reference,
                capture=capture,
            )
            if reference == DEMO_PARTLY_REFUNDED:
                payment_services.payment_refund(
                    payment_id=payment.id,
                    amount=money.to_minor("20.00", currency),
                    reason="one item returned",
                )

    def _demo_api_key(self, merchant: Merchant) -> str:
        """A fixed, documented key for the demo merchant (like the demo passwords: never
        for production). Stored hashed like any other key."""
        if not MerchantAPIKey.objects.filter(prefix=DEMO_API_KEY.split(".")[0]).exists():
            generator = KeyGenerator()
            prefix = DEMO_API_KEY.split(".")[0]
            hashed = generator.hash(DEMO_API_KEY)
            MerchantAPIKey.objects.create(
                id=concatenate(prefix, hashed),
                prefix=prefix,
                hashed_key=hashed,
                merchant=merchant,
                name="demo",
                approved_at=timezone.now(),  # made by a command on the server: in use at once
            )
        return DEMO_API_KEY

    def _staff(
        self, role: str, username: str, password: str, groups: list[str], superuser: bool
    ) -> dict:
        user = User.objects.filter(username=username).first()
        created = user is None
        if user is None:
            user = User(username=username, is_staff=superuser, is_superuser=superuser)
            user.set_password(password)
            user.save()
            for group in groups:
                grants.role_grant_bootstrap(user=user, role=group, actor=Actor.system("seed_demo"))
        if not TOTPDevice.objects.filter(user=user).exists():
            TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        if created:
            # The demo's people exist to be tried at once: no cool-off (never outside the demo).
            User.objects.filter(pk=user.pk).update(approval_barred_until=None)
        found = demo_user(role, username, password)
        assert found is not None  # made above
        return found
