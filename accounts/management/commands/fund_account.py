from accounts.identity.audit import Actor
from accounts.ledger import money, services
from accounts.management.jsoncommand import JsonCommand
from accounts.models import Account


class Command(JsonCommand):
    help = "Credit an account from the hub's funding account (a ledger transaction)."

    def add_arguments(self, parser):
        parser.add_argument("--number", required=True)
        parser.add_argument("--amount", required=True, help='major units, e.g. "1000.00"')

    def run(self, *, number, amount, **_):
        services.account_fund(
            number=number, amount=amount, actor=Actor.system("manage.py fund_account")
        )
        account = Account.objects.get(number=number)
        return {
            "number": account.number,
            "balance": money.to_major(account.balance, account.currency),
        }
