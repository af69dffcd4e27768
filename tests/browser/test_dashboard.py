"""An analyst reads the listening dashboard: charts drawn from the metrics API, a range picker
that changes what they show, CSV downloads of the same data; and the README's screenshot."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from listening.models import Mention, Query, QueryKind, QueryMatch
from listening.services.metrics import metrics_rebuild
from tests.browser.conftest import SCREENSHOTS, TIMEOUT_MS, LiveServer, open_workspace, sign_in
from tests.browser.test_listening import seeded_stream
from tests.browser.test_screenshots import shoot
from tests.conftest import World

pytestmark = pytest.mark.browser

# Older mentions, outside the default 7 days: (handle, followers, text, sentiment, lang, days ago)
OLDER = [
    ("=cmd|calc", 4_200, "Globex beats Acme on price, again", "negative", "en", 12),
    ("globexfan", 310, "Globex support is the best", "positive", "en", 20),
    ("presse", 150_000, "Acme Cloud: neue Preise ab Juni", "neutral", "de", 45),
]


@pytest.fixture
def dashboard_data(committed: World) -> Iterator[None]:
    """The stream's five recent mentions, three older ones (one by an author whose handle is a
    spreadsheet formula), a competitor query; buckets built by the recovery rebuild."""
    now = timezone.now()
    with seeded_stream(committed) as source:
        with tenant_context(committed.a):
            older = Mention.objects.bulk_create(
                Mention(
                    source=source,
                    external_id=f"older-{i}",
                    author_handle=handle,
                    author_name=handle.title(),
                    author_followers=followers,
                    text=text,
                    sentiment=sentiment,
                    sentiment_score=0.8,
                    lang=lang,
                    posted_at=now - timedelta(days=days),
                    enriched_at=now,
                )
                for i, (handle, followers, text, sentiment, lang, days) in enumerate(OLDER)
            )
            globex = Query.objects.create(name="Globex", kind=QueryKind.COMPETITOR, expression="globex")
            QueryMatch.objects.bulk_create(
                QueryMatch(query=globex, mention=m, posted_at=m.posted_at) for m in older[:2]
            )
            metrics_rebuild(start=now - timedelta(days=60), end=now + timedelta(days=1))
        yield
    # The seeded mentions are gone: recount those days, so no other test sees their buckets.
    with tenant_context(committed.a):
        metrics_rebuild(start=now - timedelta(days=60), end=now + timedelta(days=1))


def _expect_chart_sum(page: Page, testid: str, total: int) -> None:
    """Wait until the panel's Chart.js chart holds `total` (the sum of its bar datasets): each panel
    loads its data on its own, so one panel can show a new range before another."""
    page.wait_for_function(
        """([id, total]) => {
            const canvas = document.querySelector(`[data-testid="${id}"] canvas`);
            const chart = canvas && Chart.getChart(canvas);
            if (!chart) return false;
            const sum = chart.data.datasets.filter((d) => (d.type || chart.config.type) !== "line")
              .reduce((sum, d) => sum + d.data.reduce((s, v) => s + (typeof v === "number" ? v : v.y), 0), 0);
            return sum === total;
        }""",
        arg=[testid, total],
        timeout=TIMEOUT_MS,
    )


def test_an_analyst_reads_the_dashboard_and_downloads_its_data(
    page: Page, live: LiveServer, dashboard_data: None
) -> None:
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Listening").click()
    page.get_by_role("navigation", name="Listening").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    # The last 7 days: the five recent mentions, stacked by sentiment.
    expect(page.get_by_test_id("panel-volume").locator("[data-total]")).to_contain_text("5 mentions")
    _expect_chart_sum(page, "panel-volume", 5)
    _expect_chart_sum(page, "panel-sources", 5)
    authors = page.get_by_test_id("panel-authors").locator("tbody tr")
    expect(authors.first).to_contain_text("@acmestatus")
    expect(authors.first).to_contain_text("98,000")

    # A longer range brings the older mentions in, at day steps, everywhere.
    page.get_by_label("Time range").select_option("90d")
    expect(page.get_by_test_id("panel-volume").locator("[data-total]")).to_contain_text("8 mentions")
    expect(page.get_by_test_id("panel-volume").locator("[data-total]")).to_contain_text("1 day")
    assert "range=90d" in page.url
    _expect_chart_sum(page, "panel-volume", 8)
    _expect_chart_sum(page, "panel-languages", 8)
    expect(authors.first).to_contain_text("@presse")
    # No clustering run has found topics in this tenant: the panel says when they will come.
    expect(page.get_by_test_id("panel-topics")).to_contain_text("looked for every 15 minutes")

    # A custom range: the 30 days before the last 10 hold two of the older mentions.
    page.get_by_label("Time range").select_option("custom")
    end = (timezone.localtime() - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    start = (timezone.localtime() - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("From", exact=True).fill(start)
    page.get_by_label("To", exact=True).fill(end)
    page.get_by_label("To", exact=True).dispatch_event("change")
    expect(page.get_by_test_id("panel-volume").locator("[data-total]")).to_contain_text("2 mentions")

    # Every panel's CSV is the same data; a formula in a cell is escaped.
    with page.expect_download() as download:
        page.get_by_test_id("panel-authors").get_by_role("link", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text())))
    assert rows[0] == ["handle", "name", "followers", "mentions"]
    assert [row[0] for row in rows[1:]] == ["'=cmd|calc", "globexfan"]
    share = page.get_by_test_id("panel-share").get_by_role("link", name="Download CSV")
    # Fetched by the page itself (Playwright's own client cannot resolve *.localhost names).
    status, kind, text = page.evaluate(
        "async (href) => { const r = await fetch(href);"
        " return [r.status, r.headers.get('content-type'), await r.text()]; }",
        share.get_attribute("href"),
    )
    assert status == 200 and kind.startswith("text/csv")
    assert "Globex,competitor,2," in text


def test_dashboard_screenshot(page: Page, live: LiveServer, dashboard_data: None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/listening/dashboard/?range=90d")
    expect(page.get_by_test_id("panel-volume").locator("[data-total]")).to_contain_text("8 mentions")
    expect(page.get_by_test_id("panel-authors").locator("tbody tr").first).to_contain_text("@presse")
    shoot(page, "dashboard")
