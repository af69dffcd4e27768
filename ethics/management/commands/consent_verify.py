from argparse import ArgumentParser

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from ethics.selectors import consent_verify
from tenants.tasking import client_tenants


class Command(BaseCommand):
    help = "Recompute every tenant's consent-ledger hash chain and report the first broken link."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", help="the slug of one tenant (default: every client tenant)")

    def handle(self, *args: object, **options: str | None) -> None:
        broken = []
        tenants = [t for t in client_tenants() if not options["tenant"] or t.slug == options["tenant"]]
        if not tenants:
            raise CommandError(f"no client tenant {options['tenant']!r}")
        for tenant in tenants:
            with tenant_context(tenant):
                result = consent_verify()
            if result.ok:
                self.stdout.write(f"{tenant.slug}: ok, {result.checked} events, head {result.head_hash[:16]}")
            else:
                broken.append(tenant.slug)
                self.stdout.write(
                    f"{tenant.slug}: BROKEN at event #{result.broken_seq} (id {result.broken_event_id}): "
                    f"{result.reason}; {result.checked} events before it verify"
                )
        if broken:
            raise CommandError(f"consent ledger broken in: {', '.join(broken)}")
