from django.apps import AppConfig


class CrisisConfig(AppConfig):
    """Crisis-risk score, incidents, playbooks, statements and crisis mode."""

    name = "crisis"

    def ready(self) -> None:
        from crisis import risk_receivers, risk_tasks  # noqa: F401 - registers the receivers and tasks
