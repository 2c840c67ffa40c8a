import uuid

from django.core.management.base import CommandError

from accounts.identity.audit import Actor
from accounts.ledger.errors import LedgerError
from accounts.management.jsoncommand import JsonCommand
from clearing import recalls, services
from payments.api.serializers import PaymentSerializer


class Command(JsonCommand):
    help = "Answer another bank's recall of a payment received: accept (pacs.004) or refuse (camt.029)."

    def add_arguments(self, parser):
        parser.add_argument("--payment", required=True, help="the received payment's id")
        answer = parser.add_mutually_exclusive_group(required=True)
        answer.add_argument("--accept", action="store_true")
        answer.add_argument("--refuse", metavar="REASON", help="e.g. CUST, LEGL, AC04, NOAS")

    def run(self, *, payment, accept, refuse, **_):
        try:
            payment_id = uuid.UUID(payment)
        except ValueError:
            raise CommandError(f"{payment!r} is not a payment id") from None
        try:
            answered = recalls.clearing_recall_answer(
                payment_id=payment_id,
                accept=bool(accept),
                reason=refuse or "",
                actor=Actor.system("manage.py clearing_recall_answer"),
            )
        except services.ClearingError as error:
            raise CommandError(error.detail) from error
        except LedgerError as error:
            raise CommandError(f"cannot answer it so: {error.detail}") from error
        return PaymentSerializer(answered).data
