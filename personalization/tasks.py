"""Personalization's worker jobs: the two trainings (queue `ml`), message embeddings (queue `nlp`)
and publishing (queue `publish`). Each takes ids, runs inside the sender's tenant, and calls one
service."""

from __future__ import annotations

# The contact import runs records management, which only admin screens and their own worker module
# may call (tests/ethics/test_gate.py); imported here so the worker registers its task.
from personalization import (
    publishing,
    records_tasks,  # noqa: F401
    services,
)
from tenants.tasking import tenant_task


@tenant_task()
def train_segments() -> int | None:
    """Nightly per tenant (and on demand): retrain segments; the version's id, or None."""
    version = services.segments_retrain()
    return version.pk if version is not None else None


@tenant_task()
def train_engagement() -> int | None:
    """Nightly per tenant, after the segments: retrain the engagement model."""
    version = services.engagement_retrain()
    return version.pk if version is not None else None


@tenant_task()
def embed_messages(message_ids: list[int]) -> int:
    return services.messages_embed(message_ids=message_ids)


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


@tenant_task()
def fetch_post_metrics() -> int:
    """Hourly per tenant (publish queue): favourites, boosts and replies of recent Mastodon posts,
    recorded as engagement of their channel."""
    return publishing.post_metrics_fetch()
