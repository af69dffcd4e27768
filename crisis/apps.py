from django.apps import AppConfig


class CrisisConfig(AppConfig):
    """Crisis-risk score, incidents, playbooks, statements and crisis mode."""

    name = "crisis"

    def ready(self) -> None:
        from crisis import statement_signals  # noqa: F401  (connects the post outcome receiver)

        # The agency portfolio's summary rows follow snapshots, incidents and crisis-mode switches.
        from crisis.portfolio_services import receivers_connect

        receivers_connect()
        from crisis import (  # noqa: F401 - registers the receivers and tasks
            incident_signals,
            risk_receivers,
            risk_tasks,
        )
