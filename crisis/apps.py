from django.apps import AppConfig


class CrisisConfig(AppConfig):
    """Crisis-risk score, incidents, playbooks, statements and crisis mode."""

    name = "crisis"
