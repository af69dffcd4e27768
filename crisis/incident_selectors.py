"""Reads of incidents and playbooks: lists with their filters, one object (404 when absent), the
people of the tenant (owners and role holders must be members), and what declaring would hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.http import Http404

from crisis.models import (
    Incident,
    IncidentStatus,
    IncidentTask,
    Playbook,
    RiskSnapshot,
    RiskTrigger,
    TimelineEntry,
)
from personalization import post_selectors
from personalization.post_models import PauseScope, PublishingChannel, ScheduledPost
from personalization.post_services import PauseTarget, posts_pause_preview
from tenants.models import Tenant, User

# How far back an alerting run of risk snapshots is followed to its first one (a day of buckets).
EPISODE_LOOKBACK = timedelta(hours=24)


class PauseMode:
    TENANT = "tenant"
    CHANNELS = "channels"
    NONE = "none"
    CHOICES = (
        (TENANT, "Pause every scheduled post of the workspace"),
        (CHANNELS, "Pause only the chosen channels"),
        (NONE, "Do not pause posts"),
    )
    VALUES = (TENANT, CHANNELS, NONE)


# Playbooks -----------------------------------------------------------------------------------------


def playbook_list(*, scenario: str = "", active_only: bool = False) -> QuerySet[Playbook]:
    playbooks = Playbook.objects.all()
    if scenario:
        playbooks = playbooks.filter(scenario=scenario)
    if active_only:
        playbooks = playbooks.filter(is_active=True)
    return playbooks.order_by("scenario", "name", "id")


def playbook_get(*, playbook_id: int) -> Playbook:
    playbook = Playbook.objects.filter(pk=playbook_id).first()
    if playbook is None:
        raise Http404("No such playbook")
    return playbook


def playbook_for_scenario(*, scenario: str) -> Playbook | None:
    """The active playbook suggested for a scenario: the tenant's own adaptation before the shipped
    one, the most recently edited first."""
    return (
        playbook_list(scenario=scenario, active_only=True)
        .order_by(
            # custom < shipped alphabetically: the tenant's own comes first
            "origin",
            "-updated_at",
            "-id",
        )
        .first()
    )


# Incidents -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentFilters:
    status: str = ""  # "open" (declared), "resolved", "closed", or "" for all
    scenario: str = ""
    severity: int | None = None


def incident_list(*, filters: IncidentFilters | None = None) -> QuerySet[Incident]:
    filters = filters or IncidentFilters()
    incidents = Incident.objects.select_related("playbook")
    status = IncidentStatus.DECLARED if filters.status == "open" else filters.status
    if status:
        incidents = incidents.filter(status=status)
    if filters.scenario:
        incidents = incidents.filter(scenario=filters.scenario)
    if filters.severity is not None:
        incidents = incidents.filter(severity=filters.severity)
    return incidents.order_by("-declared_at", "-id")


def incident_get(*, incident_id: int) -> Incident:
    incident = (
        Incident.objects.select_related("playbook", "alert", "alert__rule").filter(pk=incident_id).first()
    )
    if incident is None:
        raise Http404("No such incident")
    return incident


def task_list(*, incident: Incident | None = None) -> QuerySet[IncidentTask]:
    tasks = IncidentTask.objects.select_related("incident")
    if incident is not None:
        tasks = tasks.filter(incident=incident)
    return tasks.order_by("incident_id", "position", "id")


def task_get(*, task_id: int) -> IncidentTask:
    task = task_list().filter(pk=task_id).first()
    if task is None:
        raise Http404("No such task")
    return task


def timeline_list(*, incident: Incident) -> QuerySet[TimelineEntry]:
    return TimelineEntry.objects.filter(incident=incident).order_by("at", "id")


# People --------------------------------------------------------------------------------------------


def member_list(*, tenant: Tenant) -> QuerySet[User]:
    """Everyone with a role in the tenant, directly or through its agency."""
    reach = Q(memberships__tenant=tenant)
    if tenant.agency_id is not None:
        reach |= Q(agency_memberships__agency_id=tenant.agency_id)
    return User.objects.filter(reach, is_active=True).distinct().order_by("email")


def people_by_id(*, ids: set[int]) -> dict[int, User]:
    return User.objects.in_bulk([i for i in ids if i is not None]) if ids else {}


# Risk ----------------------------------------------------------------------------------------------


def risk_episode_start(*, until: datetime) -> RiskSnapshot | None:
    """The first snapshot of the run of alerting scheduled snapshots that reaches `until` (the
    episode the alert belongs to), or None when the score was not alerting then."""
    snapshots = (
        RiskSnapshot.objects.filter(
            trigger=RiskTrigger.SCHEDULE, bucket_start__lte=until, bucket_start__gte=until - EPISODE_LOOKBACK
        )
        .order_by("-bucket_start")
        .only("id", "bucket_start", "computed_at", "alert", "score")
    )
    first = None
    for snapshot in snapshots:
        if not snapshot.alert:
            break
        first = snapshot
    return first


def risk_latest() -> RiskSnapshot | None:
    return RiskSnapshot.objects.order_by("-computed_at", "-id").first()


# Crisis mode at declaration ------------------------------------------------------------------------


def publishing_channel_list() -> QuerySet[PublishingChannel]:
    return post_selectors.publishing_channel_list()


def pause_targets(*, mode: str, channels: list[PublishingChannel]) -> list[PauseTarget]:
    if mode == PauseMode.TENANT:
        return [PauseTarget(scope=PauseScope.TENANT)]
    if mode == PauseMode.CHANNELS:
        return [PauseTarget(scope=PauseScope.CHANNEL, channel=channel) for channel in channels]
    return []


def incident_pause_preview(*, mode: str, channels: list[PublishingChannel]) -> list[ScheduledPost]:
    """The scheduled posts declaring would hold, in time order: what the confirmation shows."""
    held: dict[int, ScheduledPost] = {}
    for target in pause_targets(mode=mode, channels=channels):
        for post in posts_pause_preview(target=target):
            held.setdefault(post.pk, post)
    return sorted(held.values(), key=lambda p: (p.scheduled_at is None, p.scheduled_at, p.pk))
