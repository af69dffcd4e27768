"""An analyst looks at emerging topics: the list with terms, volume, growth, sentiment bar and a
drawn sparkline; sorting; and a topic's page with its chart and mentions. Saves topics.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from listening.models import Mention, Source, SourceKind, Topic, TopicRun
from listening.services.topics import topics_refresh
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World
from tests.listening.test_topics_core import OUTAGE, PRICING
from tests.listening.topic_data import centers, seed_mentions

pytestmark = pytest.mark.browser

KEYNOTE = [
    "Great keynote from Acme at DevConf, the new AI assistant looks promising",
    "Watching the Acme keynote live, impressive launch of the developer platform",
    "The Acme conference demo of the assistant was smooth, well done",
    "Acme's keynote announced an open API for the assistant, finally",
    "Loved the Acme launch event, the assistant demo got huge applause",
]


@pytest.fixture
def topics(committed: World) -> Iterator[dict[str, Topic]]:
    """Three runs over the last three days in tenant A, committed for the live server: a growing
    login outage, a steady pricing complaint, a conference that came and went."""
    themes = centers()
    now = timezone.now()
    day = timedelta(hours=24)
    with tenant_context(committed.a):
        source = Source.objects.create(name="Topic feed", kind=SourceKind.API)

        def say(theme: str, texts: list[str], count: int, days_ago: int, sentiment: str, seed: int) -> None:
            seed_mentions(
                source=source, theme=theme, center=themes[theme], count=count, start=now - days_ago * day,
                span=day, sentiment=sentiment, followers=2_400, texts=texts, seed=seed,
            )  # fmt: skip

        say("pricing", PRICING, 18, 3, "negative", 0)
        say("keynote", KEYNOTE, 25, 3, "positive", 0)
        topics_refresh(now=now - 2 * day)
        say("pricing", PRICING, 20, 2, "negative", 1)
        say("outage", OUTAGE, 10, 2, "negative", 0)
        topics_refresh(now=now - day)
        say("pricing", PRICING, 17, 1, "neutral", 2)
        say("outage", OUTAGE, 64, 1, "negative", 1)
        topics_refresh(now=now)
        found = {
            "outage": Topic.objects.get(label__icontains="login"),
            "pricing": Topic.objects.get(label__icontains="pric"),
        }
    try:
        yield found
    finally:
        with tenant_context(committed.a):
            Topic.objects.all().delete()
            TopicRun.objects.all().delete()
            Mention.objects.filter(source=source).delete()
            source.delete()


def test_an_analyst_sees_emerging_topics_and_opens_one(page: Page, live: LiveServer, topics) -> None:
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Listening").click()
    page.get_by_role("navigation", name="Listening").get_by_role("link", name="Topics").click()
    expect(page.get_by_role("heading", name="Emerging topics")).to_be_visible()

    rows = page.get_by_test_id("topic-list").locator("li.topic")
    expect(rows).to_have_count(2)  # the conference went dormant
    outage = page.get_by_test_id(f"topic-{topics['outage'].pk}")
    # Sorted by growth: the outage (10 -> 64) leads the steady pricing talk.
    expect(rows.first).to_have_attribute("data-testid", f"topic-{topics['outage'].pk}")
    expect(outage.locator(".topic-volume")).to_contain_text("64 mentions")
    expect(outage.locator(".topic-growth")).to_have_text("+540 %")
    expect(outage.locator(".sentiment-bar")).to_have_attribute(
        "aria-label", "100% negative, 0% neutral, 0% positive"
    )
    expect(outage.locator(".topic-terms")).to_contain_text("login")
    # Chart.js drew the sparkline (two runs of history).
    expect(outage.locator("canvas.sparkline")).to_have_attribute("data-drawn", "")
    expect(page.get_by_test_id("topics-updated")).to_contain_text("mentions")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "topics")

    page.get_by_label("Show").select_option("all")
    page.get_by_label("Sort by").select_option("volume")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(f"{live.tenant('tenant-a')}/listening/topics/?sort=volume&status=all")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("dormant")  # the conference, 25 mentions when last seen

    page.get_by_role("link", name=topics["outage"].label).click()
    expect(page.get_by_test_id("topic-title")).to_have_text(topics["outage"].label)
    expect(page.get_by_test_id("topic-volume")).to_contain_text("64 in the last window, 10 in the one before")
    expect(page.locator("canvas.topic-chart")).to_have_attribute("data-drawn", "")
    cards = page.get_by_test_id("mention-list").get_by_test_id("mention")
    expect(cards).to_have_count(50)  # the newest 50 of 64
    expect(cards.first).to_contain_text("Acme")


def test_no_topics_yet_is_said_plainly(page: Page, live: LiveServer, committed: World) -> None:
    sign_in(page, live, "a-viewer@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/listening/topics/")
    expect(page.get_by_test_id("empty-state")).to_contain_text("No emerging topics yet")
    page.goto(f"{live.tenant('tenant-a')}/listening/topics/?sort=loudest&status=asleep")
    expect(page.get_by_test_id("empty-state")).to_be_visible()  # bad choices fall back, never a 500
