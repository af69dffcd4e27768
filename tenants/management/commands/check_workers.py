import secrets
import time
from argparse import ArgumentParser

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from tenants.tasking import client_tenants, send_in_tenant
from tenants.tasks import HEARTBEAT_KEY, tenant_heartbeat


class Command(BaseCommand):
    help = "Send a heartbeat task in every tenant and check a worker ran each in that tenant's schema."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args: object, **options: float) -> None:
        nonce = secrets.token_hex(8)
        pending = {}
        for tenant in client_tenants():
            send_in_tenant(tenant, tenant_heartbeat, nonce)
            pending[tenant.schema_name] = tenant
        deadline = time.monotonic() + options["timeout"]
        while pending and time.monotonic() < deadline:
            for schema, tenant in list(pending.items()):
                with tenant_context(tenant):
                    beat = cache.get(HEARTBEAT_KEY)
                if beat and beat.get("nonce") == nonce:
                    if beat.get("schema") != schema:
                        raise CommandError(f"{schema}: task ran in schema {beat.get('schema')}")
                    self.stdout.write(f"{schema}: ok")
                    del pending[schema]
            time.sleep(0.2)
        if pending:
            raise CommandError(f"no worker answered for: {', '.join(sorted(pending))}")
        self.stdout.write(self.style.SUCCESS("every tenant's task ran in its own schema"))
