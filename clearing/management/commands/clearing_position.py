from django.core.management.base import CommandError

from accounts.ledger import money
from accounts.management.jsoncommand import JsonCommand
from clearing.models import Peer
from clearing.services import position


class Command(JsonCommand):
    help = "Print the net position with a peer: what it owes this hub (positive) or is owed."

    def add_arguments(self, parser):
        parser.add_argument("--bic", required=True)
        parser.add_argument("--currency", default="EUR")

    def run(self, *, bic, currency, **_):
        peer = Peer.objects.filter(bic=bic.strip().upper()).first()
        if peer is None:
            raise CommandError(f"no peer has BIC {bic}")
        currency = currency.upper()
        return {
            "bic": peer.bic,
            "currency": currency,
            "position": money.to_major(position(peer=peer, currency=currency), currency),
        }
