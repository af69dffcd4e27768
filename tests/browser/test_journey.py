"""The demo's whole journey as a person clicks through it (issue 8): an admin of a demo workspace
opens its overview (the onboarding checklist, the demo panel), replays the outage at the fastest
pace, follows the story's progress while the real worker ingests the mentions and plays the team's
part through the crisis services, then reads what it left: the resolved incident and its timeline,
the published statement past the tone check, crisis mode switched on and off, and the report.

The tenant has no alert rules here, so the team declares by hand at the story's deadline (the
timeline says so); with the demo's rules the pipeline's first alert starts it (tests/tenants/
test_demo_story.py covers both). The statement goes to an email channel nobody in this tenant
consented to, so nothing is sent."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from crisis.aftermath_models import CrisisModeSwitch
from crisis.models import Incident
from listening.models import Mention, Source, SourceKind
from listening.services.metrics import metrics_rebuild
from listening.services.sources import source_create
from personalization.models import Channel, CrisisModeChange
from personalization.post_models import ConnectorKind, PublishingChannel, PublishingState, ScheduledPost
from personalization.post_services import publishing_channel_create
from tenants.demo.audience import STATUS_EMAIL
from tenants.demo.companies import LISTENING
from tenants.demo.listening import PRESS_SOURCE, SOCIAL_SOURCE, ListeningSeed
from tenants.demo.replay import LAST_KEY, RUNNING_KEY, replay_latest, replay_running, replay_story
from tenants.demo.story import REPORT_NOTE
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World, wait_for
from tests.tenants.test_demo import ACME

pytestmark = [pytest.mark.browser, pytest.mark.worker]

STORY_TIMEOUT_S = 240  # 24 s of story at 300x, on a worker that also loads the models


def _await_report(page: Page, overview: str) -> None:
    """Reload the overview, as a person watching would, until the story's last milestone is done."""
    deadline = time.monotonic() + STORY_TIMEOUT_S
    last = page.get_by_test_id("demo-progress").locator("li").last
    while time.monotonic() < deadline:
        page.goto(overview)
        if "(done)" in (last.text_content() or ""):
            return
        time.sleep(2)
    raise AssertionError(f"the story did not finish: {page.get_by_test_id('demo-progress').inner_text()}")


def test_the_demo_journey(page: Page, live: LiveServer, celery_worker, committed: World, monkeypatch):
    world = committed
    monkeypatch.setitem(LISTENING, world.a.slug, ListeningSeed(ACME, days=0, per_day=0))
    with tenant_context(world.a):
        sources = [
            source_create(name=name, kind=SourceKind.API).source for name in (SOCIAL_SOURCE, PRESS_SOURCE)
        ]
        publishing_channel_create(name=STATUS_EMAIL, kind=ConnectorKind.EMAIL, consent_purpose="outreach")
    tenant = live.tenant(world.a.slug)
    try:
        sign_in(page, live, world.users["a_admin"].email)
        open_workspace(page, world.a.slug)
        expect(page.get_by_test_id("onboarding")).to_be_visible()
        demo = page.get_by_test_id("demo-replay")
        demo.get_by_label("Pace").select_option("300")
        demo.get_by_role("button", name="Replay the outage").click()
        expect(page.get_by_text("two hours of the story in 24 seconds")).to_be_visible()
        page.goto(f"{tenant}/")
        expect(page.get_by_test_id("demo-replay")).to_contain_text("A replay is running now.")

        _await_report(page, f"{tenant}/")
        progress = page.get_by_test_id("demo-progress")
        expect(progress.locator("li", has_text="(done)")).to_have_count(9)  # all but the alert
        with tenant_context(world.a):  # the story's last steps, after the report, end the replay
            assert wait_for(lambda: not replay_running(), 60)
        page.reload()
        expect(page.get_by_role("button", name="Replay the outage")).to_be_visible()  # may run again
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shoot(page, "demo-journey")

        page.goto(f"{tenant}/crisis/incidents/")
        page.get_by_test_id("incidents").get_by_role("link").first.click()
        expect(page.get_by_test_id("incident-status")).to_have_text("Resolved")
        timeline = page.get_by_test_id("timeline")
        expect(timeline).to_contain_text("No alert had fired by story minute 45")
        expect(timeline).to_contain_text("The tone check flags")
        expect(timeline).to_contain_text(REPORT_NOTE)

        page.get_by_test_id("statements").get_by_role("link").first.click()
        expect(page.get_by_test_id("statement-status")).to_have_text("Published")
        expect(page.get_by_test_id("no-flags")).to_be_visible()
        expect(page.get_by_test_id("publications")).to_contain_text(STATUS_EMAIL)

        page.goto(f"{tenant}/crisis/mode/")
        expect(page.get_by_test_id("mode-state")).to_contain_text("Crisis mode is off")
        expect(page.get_by_test_id("history").locator("tbody tr")).to_have_count(2)  # on, then off

        page.goto(f"{tenant}/crisis/incidents/")
        page.get_by_test_id("incidents").get_by_role("link").first.click()
        page.get_by_role("link", name="Incident report").click()
        expect(page.get_by_test_id("key-times")).to_contain_text("Time to first statement")
        expect(page.get_by_test_id("reach")).to_contain_text("holding statement")
        with tenant_context(world.a):
            story = replay_story(replay=replay_latest(), company=ACME)
            assert Mention.objects.filter(source__in=sources).count() == len(story)
    finally:
        # A chain still running when this fails stops at its last step.
        with tenant_context(world.a):
            wait_for(lambda: not replay_running(), 120)
            Mention.objects.filter(source__in=sources).delete()
            Source.objects.filter(pk__in=[s.pk for s in sources]).delete()
            now = timezone.now()
            metrics_rebuild(start=now - timedelta(days=1), end=now + timedelta(days=1))
            CrisisModeSwitch.objects.all().delete()
            CrisisModeChange.objects.all().delete()
            Incident.objects.all().delete()
            ScheduledPost.objects.all().delete()
            PublishingChannel.objects.all().delete()
            Channel.objects.filter(name=STATUS_EMAIL).delete()
            PublishingState.objects.all().delete()
            cache.delete(RUNNING_KEY)
            cache.delete(LAST_KEY)
