"""Reads of crisis mode: its current state (whoever switched it: this section, an incident, the
personalization API), what it holds now, what switching it on would hold, and its history."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from crisis.aftermath_models import CrisisModeScope, CrisisModeSwitch
from crisis.models import Incident
from personalization import post_services
from personalization.models import CrisisModeChange
from personalization.post_models import PauseScope, PostStatus, PublishingChannel, ScheduledPost

# "incident 12", "Incident #12", "#12": the reason names an incident of this tenant.
_INCIDENT_REF = re.compile(r"(?:\bincident\s*#?\s*|#)(\d{1,18})\b", re.IGNORECASE)
MAX_CHANNELS = 200


@dataclass(frozen=True)
class ModeState:
    on: bool
    scope: str = CrisisModeScope.TENANT
    channels: list[PublishingChannel] = field(default_factory=list)
    since: datetime | None = None
    reason: str = ""
    actor_label: str = ""
    agency_label: str = ""
    incident: Incident | None = None
    switch: CrisisModeSwitch | None = None


def incident_named(*, reason: str) -> Incident | None:
    """The first incident of this tenant the reason refers to, if any."""
    for match in _INCIDENT_REF.finditer(reason):
        incident = Incident.objects.filter(pk=int(match.group(1))).first()
        if incident is not None:
            return incident
    return None


def channels_by_ids(*, channel_ids: list[int]) -> list[PublishingChannel]:
    """The named publishing channels, in name order; an unknown id is a 400 naming it."""
    if len(channel_ids) > MAX_CHANNELS:
        raise ValidationError({"channel_ids": f"At most {MAX_CHANNELS} channels."})
    found = list(PublishingChannel.objects.filter(pk__in=set(channel_ids)).order_by("name"))
    missing = sorted(set(channel_ids) - {c.pk for c in found})
    if missing:
        raise ValidationError({"channel_ids": f"Unknown channels: {', '.join(map(str, missing))}."})
    return found


def crisis_mode_state() -> ModeState:
    """The latest switch, of this section or of personalization's flag (switched elsewhere)."""
    switch = CrisisModeSwitch.objects.select_related("incident", "change").first()
    change = CrisisModeChange.objects.order_by("-changed_at", "-id").first()
    outside = change is not None and (
        switch is None or (switch.change_id != change.pk and change.changed_at > switch.changed_at)
    )
    if outside and change is not None:
        return ModeState(
            on=change.on,
            since=change.changed_at,
            reason=change.reason,
            actor_label=change.actor_label,
            incident=incident_named(reason=change.reason),
        )
    if switch is None:
        return ModeState(on=False)
    channels = (
        list(PublishingChannel.objects.filter(pk__in=switch.channel_ids).order_by("name"))
        if switch.scope == CrisisModeScope.CHANNELS
        else []
    )
    return ModeState(
        on=switch.on,
        scope=switch.scope,
        channels=channels,
        since=switch.changed_at,
        reason=switch.reason,
        actor_label=switch.actor_label,
        agency_label=switch.agency_label,
        incident=switch.incident or incident_named(reason=switch.reason),
        switch=switch,
    )


def _merged(querysets: list[Any]) -> list[ScheduledPost]:
    posts = {post.pk: post for queryset in querysets for post in queryset}
    far = timezone.now().replace(year=9999)
    return sorted(posts.values(), key=lambda p: (p.scheduled_at or far, p.pk))


def crisis_mode_preview(*, scope: str, channels: list[PublishingChannel]) -> list[ScheduledPost]:
    """Exactly the posts switching crisis mode on at this scope would hold."""
    if scope == CrisisModeScope.TENANT:
        return list(
            post_services.posts_pause_preview(target=post_services.PauseTarget(scope=PauseScope.TENANT))
        )
    return _merged(
        [
            post_services.posts_pause_preview(
                target=post_services.PauseTarget(scope=PauseScope.CHANNEL, channel=channel)
            )
            for channel in channels
        ]
    )


def crisis_mode_held(*, state: ModeState) -> list[ScheduledPost]:
    """The posts crisis mode holds now (what switching it off frees), in time order."""
    if not state.on:
        return []
    if state.scope == CrisisModeScope.TENANT:
        return list(
            post_services.posts_resume_preview(target=post_services.PauseTarget(scope=PauseScope.TENANT))
        )
    return _merged(
        [
            post_services.posts_resume_preview(
                target=post_services.PauseTarget(scope=PauseScope.CHANNEL, channel=channel)
            )
            for channel in state.channels
        ]
    )


def post_time_passed(*, post: ScheduledPost, now: datetime | None = None) -> bool:
    """A held post whose time passed: released, it would go to `needs_reschedule` (a person must
    give it a new time, or keep it as a draft)."""
    now = now or timezone.now()
    return (
        post.paused_from in (PostStatus.SCHEDULED, PostStatus.SENDING)
        and post.scheduled_at is not None
        and post.scheduled_at <= now
    )


def held_by_channel(*, posts: list[ScheduledPost]) -> list[tuple[str, list[ScheduledPost]]]:
    groups: dict[str, list[ScheduledPost]] = {}
    for post in posts:
        groups.setdefault(post.channel.name, []).append(post)
    return sorted(groups.items())


def crisis_mode_history(*, limit: int = 50) -> list[dict[str, Any]]:
    """Every switch, newest first: this section's, and personalization's flag switched elsewhere."""
    rows: list[dict[str, Any]] = []
    switches = list(CrisisModeSwitch.objects.select_related("incident")[:limit])
    names = dict(
        PublishingChannel.objects.filter(
            pk__in={pk for s in switches for pk in s.channel_ids if isinstance(pk, int)}
        ).values_list("pk", "name")
    )
    for switch in switches:
        rows.append(
            {
                "on": switch.on,
                "scope": switch.scope,
                "channels": [names.get(pk, f"#{pk}") for pk in switch.channel_ids],
                "reason": switch.reason,
                "actor_label": switch.actor_label,
                "agency_label": switch.agency_label,
                "incident_id": switch.incident_id,
                "held": len(switch.held_post_ids),
                "review": switch.review,
                "changed_at": switch.changed_at,
                "origin": "crisis",
            }
        )
    for change in CrisisModeChange.objects.filter(crisis_switch__isnull=True).order_by("-changed_at", "-id")[
        :limit
    ]:
        rows.append(
            {
                "on": change.on,
                "scope": CrisisModeScope.TENANT,
                "channels": [],
                "reason": change.reason,
                "actor_label": change.actor_label,
                "agency_label": "",
                "incident_id": None,
                "held": None,
                "review": [],
                "changed_at": change.changed_at,
                "origin": "personalization",
            }
        )
    rows.sort(key=lambda row: row["changed_at"], reverse=True)
    return rows[:limit]
