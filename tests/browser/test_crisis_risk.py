"""An admin reads the crisis-risk page: the score and its band, the factor waterfall, the evidence
mentions, the history chart with its alert and incident markers; evaluates now and opts in to the
automatic pause. The README's risk screenshot is taken here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from crisis.models import Incident, RiskSnapshot, RiskState
from crisis.risk_services import risk_score_run
from listening.models import AlertKind, AlertRule, Mention, Source, SourceKind
from listening.services.metrics import metrics_rebuild
from tests.browser.conftest import LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World
from tests.crisis.risk.conftest import write

pytestmark = pytest.mark.browser


@pytest.fixture
def scored(committed: World) -> Iterator[None]:
    """Three quiet days, then an angry, loud last hour in tenant A, scored as the 5-minute runs
    would have, with an incident declared half an hour ago; all removed afterwards."""
    now = timezone.now()
    with tenant_context(committed.a):
        source = Source.objects.create(name="Risk feed", kind=SourceKind.API)
        write(source, now - timedelta(days=3), now, 4)
        write(source, now - timedelta(minutes=60), now, 60, angry=0.8, followers=20_000)
        for days in (2, 1):
            risk_score_run(now=now - timedelta(days=days))
        risk_score_run(now=now)
        Incident.objects.create(
            title="Login outage", scenario="service_outage", declared_at=now - timedelta(minutes=30)
        )
        try:
            yield
        finally:
            Incident.objects.all().delete()
            RiskSnapshot.objects.all().delete()
            RiskState.objects.all().delete()
            AlertRule.objects.filter(kind=AlertKind.CRISIS_RISK).delete()
            Mention.objects.filter(source=source).delete()
            source.delete()
            metrics_rebuild(start=now - timedelta(days=5), end=now + timedelta(days=1))


def test_an_admin_reads_the_risk_evaluates_now_and_opts_in_to_the_pause(
    page: Page, live: LiveServer, scored: None
) -> None:
    sign_in(page, live, "a-admin@example.com")
    open_workspace(page, "tenant-a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Crisis").click()

    expect(page.get_by_role("heading", name="Crisis risk", level=1)).to_be_visible()
    score = page.get_by_test_id("risk-score")
    expect(score.get_by_test_id("risk-value")).to_have_text(re.compile(r"^\d{1,3}$"))
    expect(page.get_by_test_id("risk-factors").locator("tr[data-factor='crisis_language']")).to_be_visible()
    expect(page.get_by_test_id("risk-evidence")).to_contain_text("Acme is down again")
    expect(score.get_by_test_id("risk-calibration")).to_contain_text("Global")
    # The history chart drew the scores it fetched from the API.
    page.wait_for_function("Number(document.getElementById('risk-chart').dataset.loaded) > 0")
    shoot(page, "crisis-risk")

    page.get_by_test_id("risk-evaluate").click()
    expect(page.get_by_text("Evaluated now: risk")).to_be_visible()

    page.get_by_label("Pause scheduled posts when the score reaches").fill("80")
    page.get_by_test_id("risk-settings-save").click()
    expect(page.get_by_text("Scheduled posts will be paused when the risk score reaches 80.")).to_be_visible()
    expect(page.get_by_test_id("risk-settings")).to_contain_text("a score of 80 or more")
