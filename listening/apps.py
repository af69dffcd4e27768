from django.apps import AppConfig


class ListeningConfig(AppConfig):
    """Mentions from social and news sources, matched by boolean queries and enriched."""

    name = "listening"
