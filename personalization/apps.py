from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    """Audiences, segments, message and timing recommendations, scheduled posts."""

    name = "personalization"
