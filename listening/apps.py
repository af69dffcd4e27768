from django.apps import AppConfig


class ListeningConfig(AppConfig):
    """Mentions from social and news sources, matched by boolean queries and enriched."""

    name = "listening"

    def ready(self) -> None:
        from ethics.personal_data import provider_register
        from ethics.retention import retention_register
        from listening.personal_data import PROVIDER, RETENTION

        provider_register(PROVIDER)
        retention_register(RETENTION)
