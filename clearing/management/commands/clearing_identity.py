from accounts.management.jsoncommand import JsonCommand
from clearing import services


class Command(JsonCommand):
    help = "Print this hub's BIC, Ed25519 public key (made on first use) and URL for peers."

    def run(self, **_):
        return services.identity()
