"""Crisis mode, the incident report and the agency portfolio in a real browser: switching crisis
mode on for chosen channels after a preview, then off with a review of each held post; reading a
report; the agency's portfolio."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from crisis.aftermath_models import CrisisModeSwitch
from crisis.models import Incident, IncidentTask, TaskStatus
from crisis.services import timeline_record
from listening.models import MetricBucket, MetricGrain
from personalization import post_services
from personalization.models import CrisisModeChange
from personalization.post_models import PostStatus, PublishingChannel, PublishingState, ScheduledPost
from tenants.models import ClientRiskSummary
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World
from tests.personalization.audience import audience_clean

pytestmark = pytest.mark.browser

ACTOR = post_services.Actor(None, "browser test")


def _scheduled(channel: PublishingChannel, text: str, hours: float) -> ScheduledPost:
    made = post_services.scheduled_post_create(
        channel=channel, text=text, actor=ACTOR, scheduled_at=timezone.now() + timedelta(hours=hours)
    )
    post_services.scheduled_post_approve(post=made, actor=ACTOR)
    return post_services.scheduled_post_schedule(post=made, actor=ACTOR)


@pytest.fixture
def crisis_rows(committed: World) -> Iterator[World]:
    """Everything these tests commit in tenant A (and its portfolio row) is removed after."""
    try:
        yield committed
    finally:
        with tenant_context(committed.a):
            CrisisModeSwitch.objects.all().delete()
            CrisisModeChange.objects.all().delete()
            Incident.objects.all().delete()
            MetricBucket.objects.all().delete()
            PublishingState.objects.all().delete()
        audience_clean(committed.a)  # the posts, connectors and the audience channels they made
        ClientRiskSummary.objects.all().delete()


def test_crisis_mode_switch_on_with_preview_and_resume_review(
    page: Page, live: LiveServer, crisis_rows: World
):
    world = crisis_rows
    with tenant_context(world.a):
        news = post_services.publishing_channel_create(
            name="Newsletter", kind="email", consent_purpose="outreach"
        )
        status = post_services.publishing_channel_create(
            name="Status", kind="email", consent_purpose="outreach"
        )
        late = _scheduled(news, "Black Friday offer: 40% off", 2)
        keep = _scheduled(news, "Webinar: scaling Postgres", 5)
        _scheduled(status, "Maintenance window Sunday", 3)
    sign_in(page, live, world.users["a_admin"].email)
    open_workspace(page, world.a.slug)
    page.goto(f"{live.tenant(world.a.slug)}/crisis/mode/")
    expect(page.get_by_test_id("mode-state")).to_contain_text("Crisis mode is off")
    page.get_by_label("Only these channels:").check()
    page.get_by_label("Newsletter").check()
    page.get_by_role("button", name="Preview what will be held").click()
    preview = page.get_by_test_id("preview")
    expect(preview).to_contain_text("Would hold 2 posts on Newsletter")
    expect(preview).to_contain_text("Black Friday offer")
    page.get_by_label("Why").fill("Incident: EU login outage")
    page.get_by_role("button", name="Switch crisis mode on").click()
    expect(page.get_by_test_id("mode-state")).to_contain_text("Crisis mode is on")
    expect(page.get_by_test_id("held")).to_contain_text("Newsletter")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "crisis-mode")

    with tenant_context(world.a):
        ScheduledPost.objects.filter(pk=late.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    page.reload()
    expect(page.get_by_test_id("review-row")).to_have_count(2)
    expect(page.get_by_test_id("review")).to_contain_text("time passed")
    new_time = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label(f"Decision for post {late.pk}").select_option("reschedule")
    page.get_by_label(f"New time for post {late.pk}").fill(new_time)
    page.get_by_label(f"Decision for post {keep.pk}").select_option("draft")
    page.get_by_label("Why switch off").fill("Logins restored")
    shoot(page, "crisis-mode-review")
    page.get_by_role("button", name="Switch crisis mode off").click()
    expect(
        page.get_by_text("Crisis mode is off: 0 released, 1 rescheduled, 1 kept as drafts.")
    ).to_be_visible()
    expect(page.get_by_test_id("history")).to_contain_text("Logins restored")
    with tenant_context(world.a):
        assert ScheduledPost.objects.get(pk=late.pk).status == PostStatus.SCHEDULED
        assert ScheduledPost.objects.get(pk=keep.pk).status == PostStatus.DRAFT


def test_incident_report_page(page: Page, live: LiveServer, crisis_rows: World):
    world = crisis_rows
    now = timezone.now()
    t0 = (now - timedelta(days=1, hours=8)).replace(minute=0, second=0, microsecond=0)
    with tenant_context(world.a):
        case = Incident.objects.create(
            title="EU login outage",
            scenario="service_outage",
            severity=1,
            status="resolved",
            first_signal_at=t0,
            detected_at=t0 + timedelta(minutes=12),
            declared_at=t0 + timedelta(minutes=30),
            resolved_at=t0 + timedelta(hours=5),
        )
        MetricBucket.objects.bulk_create(
            MetricBucket(
                grain=MetricGrain.MINUTES_5,
                bucket_start=t0 + timedelta(hours=h),
                volume=60 if 0 <= h < 5 else 12,
                negative=40 if 0 <= h < 5 else 1,
            )
            for h in range(-24, 24)
        )
        IncidentTask.objects.create(
            incident=case,
            title="Publish a holding statement",
            role="comms",
            due_at=t0 + timedelta(minutes=60),
            done_at=t0 + timedelta(minutes=75),
            status=TaskStatus.DONE,
        )
        timeline_record(incident=case, kind="declared", text="Declared SEV1 from the risk alert")
    sign_in(page, live, world.users["a_viewer"].email)
    open_workspace(page, world.a.slug)
    page.goto(f"{live.tenant(world.a.slug)}/crisis/incidents/{case.pk}/report/")
    expect(page.get_by_test_id("report-title")).to_contain_text("EU login outage")
    expect(page.get_by_test_id("key-times")).to_contain_text("12 min")
    expect(page.get_by_test_id("deadlines")).to_contain_text("missed by 15 min")
    expect(page.get_by_test_id("recovery")).to_contain_text("after resolution")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "incident-report")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"incident-{case.pk}-report.pdf"


def test_agency_portfolio_page(page: Page, live: LiveServer, crisis_rows: World):
    world = crisis_rows
    ClientRiskSummary.objects.update_or_create(
        tenant=world.a,
        defaults={
            "score": 68.0,
            "score_1h_ago": 52.0,
            "score_24h_ago": 18.0,
            "sparkline": [
                18,
                20,
                19,
                22,
                25,
                24,
                30,
                33,
                31,
                36,
                40,
                38,
                45,
                47,
                52,
                50,
                55,
                58,
                60,
                62,
                61,
                65,
                66,
                68,
            ],
            "open_incidents": 1,
            "worst_severity": 2,
            "oldest_open_at": timezone.now() - timedelta(hours=2),
            "crisis_mode": True,
        },
    )
    sign_in(page, live, world.users["ag_admin"].email)
    page.goto(f"{live.public}/agency/{world.agency.pk}/")
    page.get_by_role("link", name="Risk portfolio").click()
    row = page.get_by_test_id("portfolio-row").first
    expect(row).to_contain_text("Tenant A")
    expect(row).to_contain_text("elevated")
    expect(row).to_contain_text("+16.0")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "agency-portfolio")
    row.get_by_role("link", name="Crisis").click()
    page.wait_for_url(f"{live.tenant(world.a.slug)}/crisis/")
