from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenants.backup import BackupError, tenant_backup


class Command(BaseCommand):
    help = (
        "Back up one tenant into one archive file: its schema (pg_dump) and its rows in the shared"
        " tables (tenant, domains, agency, members and their users, API tokens, audit events)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--output", required=True, help="the archive file to write")

    def handle(self, *args: object, **options: str) -> None:
        try:
            result = tenant_backup(slug=options["tenant"], output=Path(options["output"]))
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"{options['tenant']}: {result.tables} tables, {result.users} users,"
                f" {result.audit_events} audit events -> {result.path}"
            )
        )
