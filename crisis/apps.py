from django.apps import AppConfig


class CrisisConfig(AppConfig):
    """Crisis-risk score, incidents, playbooks, statements and crisis mode."""

    name = "crisis"

    def ready(self) -> None:
        from crisis import statement_signals  # noqa: F401  (connects the post outcome receiver)
