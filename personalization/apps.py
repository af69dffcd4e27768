from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    """Audiences, segments, message and timing recommendations, scheduled posts."""

    name = "personalization"

    def ready(self) -> None:
        from ethics.personal_data import provider_register
        from ethics.retention import retention_register
        from ethics.withdrawal import withdrawal_handler_register
        from personalization.publishing import pending_sends_drop_withdrawn
        from personalization.records import ENGAGEMENT_RETENTION, PROVIDER, RETENTION
        from personalization.services import segment_memberships_withdraw

        provider_register(PROVIDER)
        retention_register(RETENTION)
        retention_register(ENGAGEMENT_RETENTION)
        withdrawal_handler_register("personalization.segments", segment_memberships_withdraw)
        withdrawal_handler_register("scheduled-post-sends", pending_sends_drop_withdrawn)
