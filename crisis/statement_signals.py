"""The publisher records every status change of a post as a PostTransition; when a statement's post
is sent or fails, the incident's timeline says so (the work is in the service)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from crisis.statement_services import statement_post_outcome_record
from personalization.post_models import PostStatus, PostTransition


@receiver(post_save, sender=PostTransition, dispatch_uid="crisis.statement_post_outcome")
def statement_post_outcome(sender: Any, instance: PostTransition, created: bool, **kwargs: Any) -> None:
    if created and instance.to_status in (PostStatus.SENT, PostStatus.FAILED):
        statement_post_outcome_record(
            post_id=instance.post_id, to_status=instance.to_status, reason=instance.reason
        )
