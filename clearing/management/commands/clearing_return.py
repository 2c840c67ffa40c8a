import uuid

from django.core.management.base import CommandError

from accounts.identity.audit import Actor
from accounts.ledger.errors import LedgerError
from accounts.management.jsoncommand import JsonCommand
from clearing import returns, services
from payments.api.serializers import PaymentSerializer


class Command(JsonCommand):
    help = "Return a payment received from another bank to that bank (a pacs.004)."

    def add_arguments(self, parser):
        parser.add_argument("--payment", required=True, help="the received payment's id")
        parser.add_argument("--reason", required=True, help="an ISO return reason, e.g. AC04")

    def run(self, *, payment, reason, **_):
        try:
            payment_id = uuid.UUID(payment)
        except ValueError:
            raise CommandError(f"{payment!r} is not a payment id") from None
        try:
            returned = returns.clearing_return_send(
                payment_id=payment_id,
                reason=reason,
                actor=Actor.system("manage.py clearing_return"),
            )
        except services.ClearingError as error:
            raise CommandError(error.detail) from error
        except LedgerError as error:
            raise CommandError(f"cannot return it: {error.detail}") from error
        return PaymentSerializer(returned).data
