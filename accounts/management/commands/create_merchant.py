from accounts.identity.audit import Actor
from accounts.ledger import services
from accounts.management.jsoncommand import JsonCommand


class Command(JsonCommand):
    help = "Create a merchant; prints its id and webhook secret."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--webhook-url", default="")

    def run(self, *, name, webhook_url, **_):
        merchant = services.merchant_create(
            name=name, webhook_url=webhook_url, actor=Actor.system("manage.py create_merchant")
        )
        return {
            "id": str(merchant.id),
            "name": merchant.name,
            "webhook_secret": merchant.webhook_secret,
        }
