from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """Sanctions screening (and the name matcher that Verification of Payee uses).

    Sits above payments: imports payments, accounts and common; only batches and config
    import it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "compliance"

    def ready(self) -> None:
        # payments knows nothing of compliance: an API payment's payee is verified through
        # the hook this fills (payments/verification.py).
        from compliance.vop import requester
        from payments import verification

        verification.register(requester.verify_for_payment)
