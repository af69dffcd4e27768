from django.apps import AppConfig


class EthicsConfig(AppConfig):
    """Consent ledger, data-subject requests, bias audits and model cards."""

    name = "ethics"
