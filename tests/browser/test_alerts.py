"""An analyst is told by the bell, reads why an alert fired with its evidence, acknowledges it,
and writes a rule; the README's alerts screenshot is taken here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from listening.models import AlertKind, AlertRule, Mention, MetricBucket
from listening.services import alerts
from listening.services.metrics import metrics_rebuild
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_listening import seeded_stream
from tests.browser.test_screenshots import shoot
from tests.conftest import World

pytestmark = pytest.mark.browser


@pytest.fixture
def fired(committed: World) -> Iterator[None]:
    """The seeded stream, an outage rule that fired on it and a quiet volume rule; all removed
    afterwards (alerts, evidence and notifications go with their rules)."""
    with seeded_stream(committed) as source, tenant_context(committed.a):
        before = set(AlertRule.objects.values_list("pk", flat=True))
        alerts.alert_rule_create(
            name="Outage talk",
            kind=AlertKind.KEYWORD,
            expression="outage* OR down",
            email_to=["comms@example.com"],
        )
        alerts.alert_rule_create(name="Brand volume", kind=AlertKind.VOLUME_SPIKE, sensitivity=6)
        alerts.keyword_rules_evaluate(
            mention_ids=list(Mention.objects.filter(source=source).values_list("pk", flat=True))
        )
        now = timezone.now()
        metrics_rebuild(start=now - timedelta(days=8), end=now + timedelta(days=1))
        try:
            yield
        finally:
            AlertRule.objects.exclude(pk__in=before).delete()
            MetricBucket.objects.all().delete()


def test_an_analyst_follows_the_bell_acknowledges_and_writes_a_rule(
    page: Page, live: LiveServer, fired: None
) -> None:
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    bell = page.get_by_test_id("bell")
    expect(bell.get_by_test_id("bell-count")).to_have_text("1")
    bell.click()

    expect(page.get_by_role("heading", name="Alerts", level=1)).to_be_visible()
    alert = page.get_by_test_id("alert-list").get_by_test_id("alert").first
    expect(alert.get_by_test_id("alert-why")).to_have_text("2 new mentions matching 'outage* OR down'")
    expect(alert).to_contain_text("@dana")
    expect(alert).to_contain_text("reach 12,400")
    expect(page.get_by_test_id("alert-quality")).to_contain_text("Outage talk")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "alerts")

    alert.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Alert 'Outage talk' acknowledged.")).to_be_visible()
    expect(page.get_by_test_id("alert-status").first).to_have_text("Acknowledged")

    page.get_by_test_id("alert-list").get_by_role("link", name="Outage talk").first.click()
    expect(page.get_by_test_id("deliveries")).to_contain_text("comms@example.com")
    expect(page.get_by_test_id("bell")).not_to_contain_text("1")

    page.get_by_role("navigation", name="Listening").get_by_role("link", name="Alert rules").click()
    form = page.get_by_test_id("rule-form")
    form.get_by_label("Name").fill("Complaints jump")
    form.get_by_label("Kind").select_option("negative_share")
    form.get_by_label("Cooldown (minutes)").fill("2")
    form.get_by_role("button", name="Create rule").click()
    expect(page.get_by_test_id("rule-form")).to_contain_text("greater than or equal to 5")
    page.get_by_test_id("rule-form").get_by_label("Cooldown (minutes)").fill("120")
    page.get_by_test_id("rule-form").get_by_role("button", name="Create rule").click()
    expect(page.get_by_text("Rule 'Complaints jump' was created.")).to_be_visible()
    expect(page.get_by_test_id("rules-table")).to_contain_text("Negative-share jump")
    shoot(page, "alert-rules")


def test_the_dashboard_marks_alerts_on_the_volume_chart(page: Page, live: LiveServer, fired: None) -> None:
    sign_in(page, live, "a-viewer@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/listening/dashboard/")
    markers = page.get_by_test_id("alert-markers")
    expect(markers).to_be_visible()
    expect(markers).to_contain_text("Outage talk: 2 new mentions matching 'outage* OR down'")
    shoot(page, "dashboard-alerts")
    markers.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Outage talk", level=1)).to_be_visible()
