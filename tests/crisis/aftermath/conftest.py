"""Fixtures of the crisis-mode, report and portfolio tests: tenant A's schema with two publishing
channels, and posts taken through the personalization services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from crisis.models import Incident
from personalization import post_services
from personalization.post_models import PublishingChannel, ScheduledPost

ACTOR = post_services.Actor(None, "test")


@pytest.fixture
def in_a(world: Any) -> Iterator[Any]:
    with tenant_context(world.a):
        yield world


@pytest.fixture
def channels(in_a: Any) -> dict[str, PublishingChannel]:
    return {
        name: post_services.publishing_channel_create(name=name, kind="email", consent_purpose="outreach")
        for name in ("Newsletter", "Status updates")
    }


def post(
    channel: PublishingChannel,
    *,
    hours: float = 2,
    steps: tuple[str, ...] = ("approve", "schedule"),
    text: str = "",
) -> ScheduledPost:
    """A post `hours` from now, taken through the named steps (draft without any)."""
    made = post_services.scheduled_post_create(
        channel=channel,
        text=text or f"{channel.name} post in {hours} h",
        actor=ACTOR,
        scheduled_at=timezone.now() + timedelta(hours=hours),
    )
    if "approve" in steps:
        made = post_services.scheduled_post_approve(post=made, actor=ACTOR)
    if "schedule" in steps:
        made = post_services.scheduled_post_schedule(post=made, actor=ACTOR)
    return made


def pass_time(item: ScheduledPost, minutes: int = 10) -> None:
    """As if the post's time came while it was held."""
    ScheduledPost.objects.filter(pk=item.pk).update(scheduled_at=timezone.now() - timedelta(minutes=minutes))


def incident(title: str = "EU outage", **extra: Any) -> Incident:
    return Incident.objects.create(title=title, scenario="service_outage", **extra)


def iso(moment: datetime) -> str:
    return moment.isoformat()
