"""Recount the metric buckets of a date range from the stored mentions (recovery, e.g. after a
restore or a bug fix). Runs in one tenant, through django-tenants' `tenant_command`:

    python manage.py tenant_command metrics_rebuild --schema=acme --since 2026-01-01 --until 2026-02-01

The range is widened to whole UTC days; the buckets of those days are replaced by a recount that
equals what the incremental updates give.
"""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import UTC, date, datetime, time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from listening.services.metrics import metrics_rebuild
from tenants.tasking import current_schema


def _moment(value: str, name: str) -> datetime:
    parsed: datetime | date | None = parse_datetime(value) or parse_date(value)
    if parsed is None:
        raise CommandError(f"--{name}: not a date or ISO datetime: {value!r}")
    if not isinstance(parsed, datetime):
        return datetime.combine(parsed, time(0), tzinfo=UTC)
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Rebuild the metric buckets of [--since, --until) from the mentions (whole UTC days)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--since", required=True, help="date or ISO datetime (UTC unless it says)")
        parser.add_argument("--until", required=True, help="date or ISO datetime, exclusive")

    def handle(self, *args: Any, **options: Any) -> None:
        if current_schema() == settings.PUBLIC_SCHEMA_NAME:
            raise CommandError("run it in a tenant: manage.py tenant_command metrics_rebuild --schema=...")
        since = _moment(options["since"], "since")
        until = _moment(options["until"], "until")
        if until <= since:
            raise CommandError("--until must be after --since")
        low, high = metrics_rebuild(start=since, end=until)
        self.stdout.write(f"{current_schema()}: metric buckets rebuilt for {low:%Y-%m-%d} .. {high:%Y-%m-%d}")
