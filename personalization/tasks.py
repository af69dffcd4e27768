"""Personalization's worker jobs: the two trainings (queue `ml`) and message embeddings (queue
`nlp`). Each takes ids, runs inside the sender's tenant, and calls one service."""

from __future__ import annotations

from personalization import services
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
