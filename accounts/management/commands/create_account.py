import uuid

from django.core.management.base import CommandError

from accounts.identity.audit import Actor
from accounts.ledger import services
from accounts.management.jsoncommand import JsonCommand
from accounts.models import Merchant


class Command(JsonCommand):
    help = "Open an account for a merchant (or an owner-less customer account)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--merchant", default=None, help="merchant id; leave out for an owner-less account"
        )
        parser.add_argument("--currency", required=True)
        parser.add_argument("--number", default=None)
        parser.add_argument("--name", default="")

    def run(self, *, merchant, currency, number, name, **_):
        merchant_id = None
        if merchant:
            try:
                merchant_id = uuid.UUID(merchant)
            except ValueError:
                raise CommandError(f"merchant id {merchant!r} is not a UUID") from None
            if not Merchant.objects.filter(pk=merchant_id).exists():
                raise CommandError(f"no merchant has id {merchant}")
        account = services.account_open(
            currency=currency.upper(),
            merchant_id=merchant_id,
            number=number,
            name=name,
            actor=Actor.system("manage.py create_account"),
        )
        return {"id": str(account.id), "number": account.number, "currency": account.currency}
