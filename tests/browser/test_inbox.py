"""An analyst works the inbox in a real browser: the ranked list with its reasons, assigning,
drafting and answering inline (htmx), and the response-time panel; and the README's inbox.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.postgres.search import SearchVector
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Locator, Page, expect

from listening.models import InboxItem, Mention, Source, SourceKind
from listening.services.inbox import inbox_items_queue
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World

pytestmark = pytest.mark.browser

# (author name, handle, followers, text, sentiment, confidence, raw, minutes waiting)
POSTS = [
    (
        "Tech Daily",
        "techdaily",
        310_000,
        "Is Acme Cloud down? Several readers report failed deploys in the EU region.",
        "negative",
        0.74,
        {"verified": True},
        12,
    ),
    (
        "Dana Reyes",
        "dana",
        12_400,
        "@acme still waiting for my refund, three weeks now. Unacceptable.",
        "negative",
        0.93,
        {},
        95,
    ),
    ("Lee Park", "leepark", 830, "How do I export invoices from Acme as CSV?", "neutral", 0.7, {}, 40),
    ("Jonas Weber", "jweber", 1_900, "Weiß jemand, ob Acme auch in Wien hostet?", "neutral", 0.66, {}, 300),
]


@pytest.fixture
def inbox(committed: World) -> Iterator[dict[str, InboxItem]]:
    """Enriched mentions queued in tenant A's inbox, committed for the live server; removed after."""
    with tenant_context(committed.a):
        source = Source.objects.create(name="Social listening", kind=SourceKind.API)
        now = timezone.now()
        mentions = [
            Mention.objects.create(
                source=source,
                external_id=handle,
                author_name=name,
                author_handle=handle,
                author_followers=followers,
                text=text,
                sentiment=sentiment,
                sentiment_score=score,
                lang="de" if handle == "jweber" else "en",
                raw=raw,
                url=f"https://social.example/@{handle}/1",
                posted_at=now - timedelta(minutes=minutes + 1),
                received_at=now - timedelta(minutes=minutes),
                enriched_at=now,
            )
            for name, handle, followers, text, sentiment, score, raw, minutes in POSTS
        ]
        Mention.objects.filter(source=source).update(search_vector=SearchVector("text", config="english"))
        assert inbox_items_queue(mentions=mentions) == len(POSTS)
        items = {i.mention.author_handle: i for i in InboxItem.objects.select_related("mention")}
    try:
        yield items
    finally:
        with tenant_context(committed.a):
            Mention.objects.filter(source=source).delete()  # items and their events go with them
            source.delete()


def rows(page: Page) -> Locator:
    return page.get_by_test_id("inbox-list").get_by_test_id("inbox-item")


def test_an_analyst_assigns_drafts_and_answers(
    page: Page, live: LiveServer, committed: World, inbox: dict[str, InboxItem]
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/listening/")
    page.get_by_role("navigation", name="Listening").get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    expect(rows(page)).to_have_count(len(POSTS))
    # The press outlet's question about an outage outranks the rest; the reasons are badges.
    first = rows(page).first
    expect(first).to_contain_text("Tech Daily")
    expect(first.get_by_test_id("reasons")).to_contain_text("Question")
    expect(first.get_by_test_id("reasons")).to_contain_text("Verified or press")
    expect(rows(page).nth(1)).to_contain_text("Dana Reyes")
    expect(rows(page).nth(1).get_by_test_id("reasons")).to_contain_text("Complaint")
    expect(page.get_by_test_id("waiting-now")).to_have_text(str(len(POSTS)))

    # Give Dana's complaint to the admin, then take the press question.
    dana = page.locator(f"#inbox-item-{inbox['dana'].pk}")
    dana.get_by_label("Assign to").select_option(label="A admin")
    dana.get_by_role("button", name="Assign", exact=True).click()
    expect(dana.get_by_test_id("assignee")).to_have_text("A admin")
    press = page.locator(f"#inbox-item-{inbox['techdaily'].pk}")
    press.get_by_role("button", name="Assign to me").click()
    expect(press.get_by_test_id("assignee")).to_have_text("A analyst")
    expect(press.get_by_test_id("status")).to_contain_text("Assigned")

    # Draft a reply, leave, come back: the draft is kept.
    reply = "Hi! Deploys in eu-west failed from 09:10 to 09:40 UTC; it is fixed. Details: status.acme.example"
    press.get_by_label("Reply to Tech Daily").fill(reply)
    press.get_by_role("button", name="Save draft").click()
    expect(press.get_by_test_id("draft-saved")).to_be_visible()
    page.reload()
    press = page.locator(f"#inbox-item-{inbox['techdaily'].pk}")
    expect(press.get_by_label("Reply to Tech Daily")).to_have_value(reply)
    shoot(page, "inbox")

    press.get_by_role("button", name="Mark answered").click()
    expect(press.get_by_test_id("status")).to_contain_text("Answered")
    expect(press.get_by_test_id("reply")).to_contain_text("it is fixed")
    expect(press.get_by_role("button", name="Reopen")).to_be_visible()

    # A reload shows the waiting list without it, and the analyst in the response-time panel.
    page.reload()
    expect(rows(page)).to_have_count(len(POSTS) - 1)
    expect(page.get_by_test_id("waiting-now")).to_have_text(str(len(POSTS) - 1))
    mine = page.get_by_test_id("member-times").filter(has_text="A analyst")
    expect(mine).to_contain_text("1")
    with tenant_context(committed.a):
        answered = InboxItem.objects.get(pk=inbox["techdaily"].pk)
        assert answered.reply == reply and answered.first_responder_id == committed.users["a_analyst"].pk


def test_filtering_the_inbox_is_a_link(page: Page, live: LiveServer, inbox: dict[str, InboxItem]) -> None:
    sign_in(page, live, "a-viewer@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/listening/inbox/")
    expect(rows(page)).to_have_count(len(POSTS))
    expect(page.get_by_role("button", name="Mark answered")).to_have_count(0)  # viewers read only
    page.get_by_label("Reason").select_option("complaint")
    expect(page).to_have_url(f"{live.tenant('tenant-a')}/listening/inbox/?reason=complaint")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Dana Reyes")
    page.reload()
    expect(rows(page)).to_have_count(1)
