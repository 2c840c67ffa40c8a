import uuid

from django.core.management.base import CommandError

from accounts.identity.audit import Actor
from accounts.management.jsoncommand import JsonCommand
from accounts.models import Merchant
from payments import api_keys


class Command(JsonCommand):
    help = "Create an API key for a merchant; the key is printed this once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="merchant id")
        parser.add_argument("--name", default="API key")

    def run(self, *, merchant, name, **_):
        try:
            merchant_obj = Merchant.objects.get(pk=uuid.UUID(merchant))
        except (ValueError, Merchant.DoesNotExist):
            raise CommandError(f"no merchant has id {merchant!r}") from None
        api_key, key = api_keys.api_key_create(
            merchant=merchant_obj, name=name, actor=Actor.system("manage.py create_api_key")
        )
        return {"key": key, "prefix": api_key.prefix}
