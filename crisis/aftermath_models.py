"""Crisis mode as the crisis section records it: each switch, its scope (the whole workspace or
chosen channels), what it held, and on the way out how each held post was reviewed.

Personalization keeps the tenant-wide flag (`CrisisModeChange`) and the pauses themselves; a
switch here links the flag's row when it set one. Imported by `crisis.models`.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class CrisisModeScope(models.TextChoices):
    TENANT = "tenant", "The whole workspace"
    CHANNELS = "channels", "Chosen channels"


class CrisisModeSwitch(models.Model):
    """One switch of crisis mode, append-only: the latest row is the current state. `held_post_ids`
    is what an `on` switch held; `review` is what an `off` switch decided for each held post."""

    on = models.BooleanField()
    scope = models.CharField(max_length=8, choices=CrisisModeScope.choices, default=CrisisModeScope.TENANT)
    channel_ids = models.JSONField(default=list, blank=True)  # PublishingChannel ids (scope channels)
    reason = models.TextField()
    actor_id = models.BigIntegerField(null=True, blank=True)  # a public-schema user id; None: system
    actor_label = models.CharField(max_length=254, blank=True)
    # Set when an agency admin switched several clients at once (public-schema agency id and name).
    agency_id = models.BigIntegerField(null=True, blank=True)
    agency_label = models.CharField(max_length=200, blank=True)
    incident = models.ForeignKey(
        "crisis.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="mode_switches"
    )
    held_post_ids = models.JSONField(default=list, blank=True)
    # [{"post": id, "decision": "release" | "reschedule" | "draft", "scheduled_at": iso | null}]
    review = models.JSONField(default=list, blank=True)
    change = models.OneToOneField(
        "personalization.CrisisModeChange",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="crisis_switch",
    )
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"crisis mode {'on' if self.on else 'off'} ({self.scope}) at {self.changed_at:%Y-%m-%d %H:%M}"
