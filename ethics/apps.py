from django.apps import AppConfig


class EthicsConfig(AppConfig):
    """Consent ledger, data-subject requests, bias audits and model cards."""

    name = "ethics"

    def ready(self) -> None:
        from ethics.personal_data import provider_register
        from ethics.provider import PROVIDER

        provider_register(PROVIDER)
