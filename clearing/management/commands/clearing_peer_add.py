from django.core.management.base import CommandError

from accounts.identity.audit import Actor
from accounts.management.jsoncommand import JsonCommand
from clearing import services


class Command(JsonCommand):
    help = "Add another bank as a peer, or update the one with this BIC."

    def add_arguments(self, parser):
        parser.add_argument("--bic", required=True)
        parser.add_argument("--url", required=True, help="the peer's base URL")
        parser.add_argument("--public-key", required=True, help="base64 of the raw 32 bytes")
        parser.add_argument(
            "--iban-prefix",
            action="append",
            required=True,
            dest="iban_prefixes",
            help="country code + start of the BBAN (e.g. DE37040044); repeat for more",
        )

    def run(self, *, bic, url, public_key, iban_prefixes, **_):
        try:
            peer = services.peer_save(
                bic=bic,
                url=url,
                public_key=public_key,
                iban_prefixes=iban_prefixes,
                actor=Actor.system("manage.py clearing_peer_add"),
            )
        except services.ClearingError as error:
            raise CommandError(error.detail) from error
        return {"bic": peer.bic, "url": peer.url, "iban_prefixes": list(peer.iban_prefixes)}
