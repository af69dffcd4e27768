"""Recompute every client's agency-portfolio summary row (tenants.ClientRiskSummary) from its schema.

python manage.py portfolio_rebuild
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crisis.portfolio_services import portfolio_rebuild


class Command(BaseCommand):
    help = "Recompute the agency portfolio's summary row of every client tenant."

    def handle(self, *args: Any, **options: Any) -> None:
        ok, failed = portfolio_rebuild()
        self.stdout.write(f"{ok} client summaries rebuilt, {failed} failed")
        if failed:
            raise CommandError(f"{failed} clients failed (see the log)")
