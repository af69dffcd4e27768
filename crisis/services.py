"""Writes of the crisis app. The timeline records itself: every service that changes an incident, a
task, a statement or the posts an incident holds writes its entry here, in the same transaction."""

from __future__ import annotations

from typing import Any

from crisis.models import Incident, TimelineEntry
from personalization.post_services import Actor


def timeline_record(
    *,
    incident: Incident,
    kind: str,
    text: str,
    actor: Actor | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Append one entry to the incident's timeline (`actor` None: the system)."""
    return TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        text=text,
        actor_id=actor.user_id if actor else None,
        actor_label=actor.label if actor else "system",
        data=data or {},
    )
