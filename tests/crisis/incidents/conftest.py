"""Fixtures of the incident tests: tenant A's schema, the callers' Access, an alert with evidence
mentions, publishing channels with scheduled posts, and a way to declare an incident."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from crisis import incident_services
from crisis.models import Incident
from listening.models import Alert, AlertEvidence, AlertKind, AlertRule, Mention, Source, SourceKind
from personalization import post_services
from personalization.models import Channel
from personalization.post_models import PostStatus, PublishingChannel, ScheduledPost
from tenants.access import Access, access_for

ACTOR = post_services.Actor(None, "test")


@pytest.fixture
def tenant(world):
    with tenant_context(world.a):
        yield world


@pytest.fixture
def access(tenant) -> Any:
    """access("a_analyst") is that member's standing in tenant A."""

    def make(user_key: str = "a_owner") -> Access:
        found = access_for(user=tenant.users[user_key], tenant=tenant.a)
        assert found is not None
        return found

    return make


def make_alert(
    *, texts: list[str], why: str = "Volume 240 against 30 expected", minutes_ago: int = 30
) -> Alert:
    rule = AlertRule.objects.create(name="Mentions spike", kind=AlertKind.VOLUME_SPIKE)
    now = timezone.now()
    alert = Alert.objects.create(
        rule=rule,
        kind=rule.kind,
        window_key=f"w{now.timestamp()}",
        window_start=now - timedelta(minutes=minutes_ago),
        window_end=now - timedelta(minutes=minutes_ago - 15),
        fired_at=now - timedelta(minutes=minutes_ago - 16),
        expected=30,
        observed=240,
        why=why,
        mention_count=len(texts),
    )
    source = Source.objects.get_or_create(name="Feed", kind=SourceKind.API)[0]
    for index, text in enumerate(texts):
        mention = Mention.objects.create(
            source=source, external_id=f"{alert.pk}-{index}", text=text, posted_at=now - timedelta(minutes=20)
        )
        AlertEvidence.objects.create(alert=alert, rule=rule, mention=mention, reach=1000 - index)
    return alert


def make_channel(name: str) -> PublishingChannel:
    # Test data written straight to the table: the connector's URL checks are personalization's tests.
    return PublishingChannel.objects.create(
        name=name,
        kind="webhook",
        url="https://hooks.example.com/x",
        webhook_secret="s" * 20,
        channel=Channel.objects.create(name=name, kind="webhook"),
    )


def make_scheduled(channel: PublishingChannel, text: str, hours: int = 2) -> ScheduledPost:
    post = post_services.scheduled_post_create(
        channel=channel, text=text, actor=ACTOR, scheduled_at=timezone.now() + timedelta(hours=hours)
    )
    post_services.scheduled_post_approve(post=post, actor=ACTOR)
    post = post_services.scheduled_post_schedule(post=post, actor=ACTOR)
    assert post.status == PostStatus.SCHEDULED
    return post


@pytest.fixture
def declare(access) -> Any:
    """declare(**overrides) declares an outage by hand as A's owner, pausing nothing."""

    def make(**overrides: Any) -> Incident:
        args: dict[str, Any] = {
            "access": access("a_owner"),
            "title": "Login outage",
            "scenario": "service_outage",
            "severity": 2,
            "pause": "none",
            **overrides,
        }
        return incident_services.incident_declare(**args).incident

    return make


@pytest.fixture
def declare_in_a(world, django_db_blocker) -> Any:
    """declare_in_a(**overrides) declares in tenant A from outside its schema (portal tests)."""

    def make(**overrides: Any) -> Incident:
        with tenant_context(world.a):
            found = access_for(user=world.users["a_owner"], tenant=world.a)
            args: dict[str, Any] = {
                "access": found,
                "title": "Login outage",
                "scenario": "service_outage",
                "pause": "none",
                **overrides,
            }
            return incident_services.incident_declare(**args).incident

    return make
