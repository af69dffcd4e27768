from __future__ import annotations

import logging

from celery import current_app, shared_task
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.utils import timezone

from tenants.tasking import current_schema, for_each_tenant, send_in_tenant, tenant_task

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "worker:heartbeat"


@shared_task(ignore_result=True)
def fan_out(task_name: str) -> int:
    """Beat has no tenant: queue one `task_name` per client tenant, each in its own schema."""
    task = current_app.tasks[task_name]
    ok, _ = for_each_tenant(lambda tenant: send_in_tenant(tenant, task))
    return ok


@tenant_task()
def tenant_heartbeat(nonce: str = "") -> None:
    """Proves a worker serves this tenant in this tenant's schema. The cache key carries the schema
    (django_tenants.cache.make_key), so the sender reads back what ran where (`check_workers`)."""
    cache.set(
        HEARTBEAT_KEY,
        {"schema": current_schema(), "nonce": nonce, "at": timezone.now().isoformat()},
        timeout=60 * 60,
    )


@shared_task(ignore_result=True)
def purge_expired() -> int:
    """Public housekeeping: expired portal sessions."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    logger.info("purged %d expired sessions", deleted)
    return deleted
