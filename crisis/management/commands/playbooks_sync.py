"""Bring every tenant's playbooks in step with the ones Candor ships.

    python manage.py playbooks_sync

Adds the shipped playbooks a tenant lacks and updates the shipped ones it never edited; a playbook
the tenant edited, duplicated or wrote is left exactly as it is. A release that ships a new
playbook also adds a data migration calling the same service, which covers the template schema
(so tenants cloned later start with it); this command re-runs it on the tenants at any time.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crisis.playbook_services import playbooks_sync
from tenants.models import Tenant
from tenants.tasking import for_each_tenant


class Command(BaseCommand):
    help = "Add newly shipped playbooks to every tenant without overwriting the tenants' edits."

    def handle(self, *args: Any, **options: Any) -> None:
        def sync(tenant: Tenant) -> None:
            result = playbooks_sync()
            self.stdout.write(
                f"{tenant.slug}: added {len(result.added)}, updated {len(result.refreshed)}, "
                f"kept {len(result.kept)} edited"
            )

        ok, failed = for_each_tenant(sync)
        self.stdout.write(f"{ok} tenant(s) synced, {failed} failed")
        if failed:
            raise CommandError(f"{failed} tenant(s) failed; see the log")
