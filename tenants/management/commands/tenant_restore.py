from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenants.backup import BackupError, tenant_restore
from tenants.services import tenant_url


class Command(BaseCommand):
    help = (
        "Restore a tenant archive (made by tenant_backup) into this database, which must be migrated."
        " Refuses an existing tenant unless --replace; --as restores it under another slug."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", required=True, help="the archive file")
        parser.add_argument("--as", dest="slug", help="restore under this slug instead of the archive's")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="drop the existing tenant of that slug (schema and shared rows) and restore over it",
        )

    def handle(self, *args: object, **options: str | bool | None) -> None:
        try:
            result = tenant_restore(
                path=Path(str(options["input"])),
                slug=str(options["slug"]) if options["slug"] else None,
                replace=bool(options["replace"]),
            )
        except BackupError as error:
            raise CommandError(str(error)) from error
        tenant = result.tenant
        self.stdout.write(
            self.style.SUCCESS(
                f"{tenant.name}: {tenant_url(tenant)} (schema {tenant.schema_name});"
                f" users {result.users_created} created, {result.users_reused} already here;"
                f" {result.tokens} API tokens, {result.audit_events} audit events"
            )
        )
