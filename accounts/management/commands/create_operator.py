from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from accounts.identity import services
from accounts.identity.audit import Actor
from accounts.management.jsoncommand import JsonCommand


class Command(JsonCommand):
    help = "Create a dashboard operator with a TOTP device; prints the otpauth:// URI."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--approver", action="store_true", help="may approve batches")

    def run(self, *, username, password, email, approver, **_):
        try:
            user, device = services.operator_create(
                username=username,
                password=password,
                email=email,
                approver=approver,
                actor=Actor.system("manage.py create_operator"),
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        return {"username": user.username, "totp_uri": device.config_url}
