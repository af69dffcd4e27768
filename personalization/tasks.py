"""Personalization's Celery tasks: thin, tenant-bound, retried; the work is in the services."""

from __future__ import annotations

from personalization import publishing
from tenants.tasking import tenant_task


@tenant_task()
def publish_due() -> int:
    """Every minute per tenant: queue the sends of due posts, and again those lost or abandoned."""
    taken = publishing.posts_publish_due()
    publishing.sends_requeue_stale()
    return taken


@tenant_task()
def publish_send(send_id: int) -> str:
    """One send attempt (publish queue). Acknowledged late (settings), so a worker that dies mid-send
    has it redelivered; the send's claim makes the repeat safe (personalization.publishing)."""
    send = publishing.post_send_attempt(send_id=send_id)
    return send.status if send is not None else "skipped"
