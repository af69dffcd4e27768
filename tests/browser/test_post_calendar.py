"""The post calendar: a week of posts per channel with their status, the tenant-wide pause with its
preview, and resuming it (an approver, through the page as a person would)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from personalization import post_services
from personalization.post_models import PostStatus, PublishingChannel, PublishingState, ScheduledPost
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World
from tests.personalization.audience import audience_clean

pytestmark = pytest.mark.browser

ACTOR = post_services.Actor(None, "browser test")


def _post(
    channel: PublishingChannel, text: str, at: datetime, steps: tuple[str, ...], **extra: object
) -> None:
    post = post_services.scheduled_post_create(
        channel=channel, text=text, actor=ACTOR, scheduled_at=at, **extra
    )
    if "approve" in steps:
        post_services.scheduled_post_approve(post=post, actor=ACTOR)
    if "schedule" in steps:
        post_services.scheduled_post_schedule(post=post, actor=ACTOR)


@pytest.fixture
def week_of_posts(committed: World) -> Iterator[str]:
    """Four posts on two channels, one coming day (committed; removed after). Yields the day."""
    with tenant_context(committed.a):
        news = post_services.publishing_channel_create(
            name="Newsletter", kind="email", consent_purpose="outreach"
        )
        status = post_services.publishing_channel_create(
            name="Status updates", kind="email", consent_purpose="outreach"
        )
        today = timezone.localdate()
        base = datetime.combine(today, time(9), tzinfo=timezone.get_current_timezone())
        if base <= timezone.now():
            base += timedelta(days=1)
        _post(news, "December product update: faster exports", base, ("approve", "schedule"), tone="upbeat")
        _post(status, "Planned maintenance Sunday 02:00-04:00 UTC", base + timedelta(hours=5), ("approve",))
        _post(news, "Customer story: how Acme cut incident time", base + timedelta(hours=7), ())
        _post(
            status,
            "Security advisory follow-up",
            base + timedelta(hours=9),
            ("approve", "schedule"),
            recommendation={"start": base.isoformat(), "score": 0.3},
        )
    try:
        yield base.date().isoformat()
    finally:
        with tenant_context(committed.a):
            PublishingState.objects.all().delete()
        audience_clean(committed.a)  # the posts, connectors and the audience channels they made


def test_calendar_shows_the_week_and_pauses_all_publishing(
    page: Page, live: LiveServer, committed: World, week_of_posts: str
) -> None:
    sign_in(page, live, committed.users["a_admin"].email)
    open_workspace(page, committed.a.slug)
    page.goto(f"{live.tenant(committed.a.slug)}/audience/calendar/?view=week&date={week_of_posts}")
    calendar = page.get_by_test_id("calendar")
    expect(calendar.get_by_test_id("post")).to_have_count(4)
    expect(calendar).to_contain_text("December product update")
    expect(calendar).to_contain_text("Scheduled")
    expect(page.get_by_test_id("pause-preview")).to_contain_text("Would hold 3 posts")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "calendar")

    page.get_by_label("Why").fill("Incident: EU outage")
    page.get_by_role("button", name="Pause all").click()
    banner = page.get_by_test_id("paused-banner")
    expect(banner).to_contain_text("Incident: EU outage")
    expect(banner).to_contain_text("3 posts held")
    expect(calendar.locator(".post-paused")).to_have_count(3)
    with tenant_context(committed.a):
        assert ScheduledPost.objects.filter(status=PostStatus.PAUSED).count() == 3

    page.get_by_role("button", name="Resume publishing").click()
    expect(page.get_by_text("Publishing resumed: 3 posts freed, 0 of them need a new time.")).to_be_visible()
    with tenant_context(committed.a):
        assert ScheduledPost.objects.filter(status=PostStatus.PAUSED).count() == 0
