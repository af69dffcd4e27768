from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import current_app, shared_task
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from tenants.demo import replay
from tenants.demo.mentions import Company
from tenants.demo.story import cast_for
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


@tenant_task()
def demo_replay_step(started_at: str, speed: float, step: int, company: dict[str, Any]) -> int:
    """One step of the demo's outage replay; queues the next one a step's (compressed) time later."""
    run = replay.Replay(started_at=datetime.fromisoformat(started_at), speed=speed)
    about = Company(
        name=company["name"],
        handle=company["handle"],
        products=tuple(company["products"]),
        competitors=tuple(company["competitors"]),
        status_url=company["status_url"],
    )
    if step + 1 < replay.STEPS:
        # Queued first: a step whose story action fails must not end the replay (the next step
        # tries it again: the first action due and not done is the one carried out).
        demo_replay_step.apply_async((started_at, speed, step + 1, company), countdown=run.step_seconds)
    replay.replay_alive(replay=run, step=step)
    try:
        stored = replay.replay_step(replay=run, step=step, company=about)
        try:
            done = replay.replay_act(replay=run, step=step, company=about, cast=cast_for(connection.tenant))  # type: ignore[attr-defined]
        except (ValidationError, PermissionDenied):
            logger.exception("demo replay %s, step %d: a story action was refused", started_at, step)
        else:
            if done:
                logger.info("demo replay %s, step %d: %s", started_at, step, done)
    finally:
        if step + 1 == replay.STEPS:
            replay.replay_finished()
    return stored


@shared_task(ignore_result=True)
def purge_expired() -> int:
    """Public housekeeping: expired portal sessions."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    logger.info("purged %d expired sessions", deleted)
    return deleted
