from django.apps import AppConfig


class CrisisConfig(AppConfig):
    """Crisis-risk score, incidents, playbooks, statements and crisis mode."""

    name = "crisis"

    def ready(self) -> None:
        from crisis import incident_signals  # noqa: F401  (connects the receivers)
