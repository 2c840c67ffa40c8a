from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """Sanctions screening (and the name matcher that Verification of Payee uses).

    Sits above payments: imports payments, accounts and common; only batches and config
    import it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "compliance"
