from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    """Audiences, segments, message and timing recommendations, scheduled posts."""

    name = "personalization"

    def ready(self) -> None:
        from ethics.personal_data import provider_register
        from ethics.retention import retention_register
        from personalization.records import PROVIDER, RETENTION

        provider_register(PROVIDER)
        retention_register(RETENTION)
