"""An analyst works in Listening: searches and filters the stream, and writes a query while the
editor counts its matches live."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.contrib.postgres.search import SearchVector
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Locator, Page, expect

from listening.models import Mention, Query, QueryKind, QueryMatch, Source, SourceKind, Story
from listening.services.queries import query_delete
from tests.browser.conftest import LiveServer, open_workspace, sign_in
from tests.conftest import World

pytestmark = pytest.mark.browser

# (author name, handle, followers, text, sentiment, confidence, language, minutes ago)
MENTIONS = [
    (
        "Dana Reyes",
        "dana",
        12_400,
        "Acme Cloud is down again, our deploys fail #outage",
        "negative",
        0.93,
        "en",
        4,
    ),
    (
        "Lee Park",
        "leepark",
        830,
        "Second outage at Acme this month. Any status update?",
        "negative",
        0.81,
        "en",
        25,
    ),
    (
        "Mia Chen",
        "miachen",
        56_000,
        "The new Acme dashboard is really fast, nice work",
        "positive",
        0.88,
        "en",
        70,
    ),
    ("Jonas Weber", "jweber", 1_900, "Acme Cloud Preise steigen ab Juni", "neutral", 0.64, "de", 190),
    ("Status Bot", "acmestatus", 98_000, "Acme status: all systems operational", "neutral", 0.71, "en", 600),
]


@contextmanager
def seeded_stream(world: World) -> Iterator[Source]:
    """A feed with a few enriched mentions in tenant A, committed so the live server sees them,
    and removed afterwards with everything the test wrote (queries included)."""
    with tenant_context(world.a):
        queries_before = set(Query.objects.values_list("pk", flat=True))
        source = Source.objects.create(name="Acme status and press", kind=SourceKind.RSS)
        now = timezone.now()
        story = Story.objects.create(key=42, first_seen_at=now, last_seen_at=now, mention_count=14)
        mentions = Mention.objects.bulk_create(
            Mention(
                source=source,
                external_id=f"seed-{i}",
                author_name=name,
                author_handle=handle,
                author_followers=followers,
                text=text,
                sentiment=sentiment,
                sentiment_score=score,
                lang=lang,
                url=f"https://social.example/@{handle}/{i}",
                posted_at=now - timedelta(minutes=minutes),
                enriched_at=now,
                story=story if i == 0 else None,
            )
            for i, (name, handle, followers, text, sentiment, score, lang, minutes) in enumerate(MENTIONS)
        )
        Mention.objects.filter(pk__in=[m.pk for m in mentions]).update(
            search_vector=SearchVector("text", config="english")
        )
        outages = Query.objects.create(name="Outages", kind=QueryKind.TOPIC, expression="outage* OR down")
        QueryMatch.objects.bulk_create(
            QueryMatch(query=outages, mention=m, posted_at=m.posted_at) for m in mentions[:2]
        )
    try:
        yield source
    finally:
        with tenant_context(world.a):
            # Through the service: a backfill the worker may still be running must not race it.
            for query in Query.objects.exclude(pk__in=queries_before):
                query_delete(query=query)
            Mention.objects.filter(source=source).delete()
            Story.objects.filter(pk=story.pk).delete()
            source.delete()


@pytest.fixture
def stream(committed: World) -> Iterator[Source]:
    with seeded_stream(committed) as source:
        yield source


def cards(page: Page) -> Locator:
    return page.get_by_test_id("mention-list").get_by_test_id("mention")


def test_an_analyst_searches_the_stream_and_filters_it_by_sentiment(
    page: Page, live: LiveServer, stream: Source
) -> None:
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Listening").click()
    expect(page.get_by_role("heading", name="Mentions", level=1)).to_be_visible()
    expect(cards(page)).to_have_count(len(MENTIONS))
    first = cards(page).first
    expect(first).to_contain_text("Dana Reyes")
    expect(first).to_contain_text("12.4k followers")
    expect(first.get_by_test_id("sentiment")).to_have_text("Negative 93%")
    expect(first.get_by_test_id("shares")).to_have_text("shared 14 times")

    search = page.get_by_role("searchbox", name="Search")
    search.fill("outage")
    search.press("Enter")
    # htmx swapped the results in and put the filters in the address: the view is a link.
    expect(page).to_have_url(f"{live.tenant('tenant-a')}/listening/?q=outage")
    expect(cards(page)).to_have_count(2)
    expect(page.get_by_test_id("mention-list")).not_to_contain_text("dashboard")

    page.get_by_label("Sentiment").select_option("positive")
    expect(page).to_have_url(f"{live.tenant('tenant-a')}/listening/?q=outage&sentiment=positive")
    expect(page.get_by_test_id("empty-state")).to_contain_text("No mentions match these filters")

    search.fill("")
    search.press("Enter")
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_contain_text("Mia Chen")

    # The address alone reproduces the view (a shared link, a reload), with the filters filled in.
    page.reload()
    expect(cards(page)).to_have_count(1)
    expect(page.get_by_label("Sentiment")).to_have_value("positive")

    page.get_by_test_id("stream-filters").get_by_role("link", name="Clear").click()
    expect(cards(page)).to_have_count(len(MENTIONS))
    expect(page.get_by_role("link", name="Stream")).to_have_attribute("aria-current", "page")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Listening")
    ).to_have_attribute("aria-current", "page")


def test_an_analyst_writes_a_query_watching_the_live_count(
    page: Page, live: LiveServer, stream: Source
) -> None:
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/listening/")
    page.get_by_role("navigation", name="Listening").get_by_role("link", name="Queries").click()
    expect(page.get_by_role("heading", name="Queries", level=1)).to_be_visible()
    preview = page.get_by_test_id("expression-preview")
    expect(preview).to_contain_text("Type an expression")

    page.get_by_label("Name").fill("Acme outages")
    editor = page.get_by_label("Expression")
    editor.press_sequentially("acme", delay=20)
    expect(preview).to_have_text("Matches 5 of the last 5 mentions (7 days)")
    editor.press_sequentially(" AND (outage", delay=20)
    expect(preview.get_by_test_id("preview-error")).to_contain_text("at character")
    expect(preview.locator("pre.caret")).to_contain_text("^")
    editor.press_sequentially(")", delay=20)
    expect(preview).to_have_text("Matches 2 of the last 5 mentions (7 days)")
    editor.press_sequentially(" NOT author:leepark", delay=20)
    expect(preview).to_have_text("Matches 1 of the last 5 mentions (7 days)")

    page.get_by_role("button", name="Create query").click()
    expect(page.get_by_role("status")).to_contain_text("Query 'Acme outages' was created")
    row = page.get_by_test_id("queries-table").get_by_role("row").filter(has_text="Acme outages")
    expect(row).to_contain_text("acme AND (outage) NOT author:leepark")


@pytest.fixture
def long_stream(committed: World) -> Iterator[Source]:
    """Sixty mentions: more than two pages of the stream."""
    with tenant_context(committed.a):
        source = Source.objects.create(name="Busy feed", kind=SourceKind.RSS)
        now = timezone.now()
        Mention.objects.bulk_create(
            Mention(
                source=source,
                external_id=f"busy-{i}",
                text=f"Mention number {i}",
                posted_at=now - timedelta(minutes=i),
                enriched_at=now,
                sentiment="neutral",
                sentiment_score=0.5,
            )
            for i in range(60)
        )
    try:
        yield source
    finally:
        with tenant_context(committed.a):
            Mention.objects.filter(source=source).delete()
            source.delete()


def test_load_more_appends_older_mentions_and_moves_focus_to_them(
    page: Page, live: LiveServer, long_stream: Source
) -> None:
    sign_in(page, live, "a-viewer@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/listening/")
    expect(cards(page)).to_have_count(25)

    page.get_by_test_id("load-more").focus()
    page.keyboard.press("Enter")
    expect(cards(page)).to_have_count(50)
    # A keyboard user goes on reading where the new mentions start.
    expect(cards(page).nth(25)).to_be_focused()
    expect(cards(page).nth(25)).to_contain_text("Mention number 25")
    assert "cursor" not in page.url, "paging is not a filter: the address stays the stream's"

    page.get_by_test_id("load-more").click()
    expect(cards(page)).to_have_count(60)
    expect(cards(page).last).to_contain_text("Mention number 59")
    expect(page.get_by_test_id("load-more")).to_have_count(0)
