from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and ledger"

    def ready(self) -> None:
        from accounts.identity import auth_events, keys, otp_keys, people  # noqa: F401 - keys registers its deploy check
        from accounts.identity.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="accounts.sync_role_permissions")
        auth_events.connect()
        people.connect()
        otp_keys.connect()
