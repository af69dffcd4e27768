"""The audience pages in a browser: importing contacts shows each bad row, segments show their
descriptions and sizes with the model status, and the recommendations page gives each segment a
variant with its interval and reasons, and the best slots. Screenshots for the README."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from personalization import services
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World
from tests.personalization.audience import audience_clean, fairness_region_only, seed

pytestmark = pytest.mark.browser


@pytest.fixture
def audience(committed: World) -> Iterator[World]:
    """Committed, trained audience of 80 contacts (the live server's threads must see it); the
    minimum history is lowered to fit it. Everything is removed after (ledger events stay:
    the ledger is append-only)."""
    with override_settings(PERSONALIZATION_MIN_EXPOSURES=300, PERSONALIZATION_EXPLORATION_RATE=0.0):
        try:
            with tenant_context(committed.a):
                fairness_region_only()
                seed(per_group=40)
                assert services.segments_retrain().status == "active"
                assert services.engagement_retrain().status == "active"
            yield committed
        finally:
            audience_clean(committed.a)


@pytest.fixture
def empty_audience(committed: World) -> Iterator[World]:
    try:
        yield committed
    finally:
        audience_clean(committed.a)


def test_an_import_shows_each_bad_row(
    page: Page, live: LiveServer, empty_audience: World, tmp_path: Path, celery_worker: Path
) -> None:
    upload = tmp_path / "contacts.csv"
    upload.write_text(
        "name,email,time_zone,consent.personalization\n"
        "Ada,ada@example.org,Europe/Berlin,yes\n"
        "Bob,not-an-email,UTC,no\n"
        "Cy,cy@example.org,Mars/Olympus,\n"
    )
    sign_in(page, live, "a-admin@example.com")
    open_workspace(page, "tenant-a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audience").click()
    expect(page.get_by_role("heading", name="Audience", exact=True)).to_be_visible()
    page.get_by_label("File").set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    result = page.get_by_test_id("import-result")
    expect(page.get_by_role("status").first).to_contain_text("Import queued")
    # The worker imports it; the page shows progress until a reload finds it done.
    for _ in range(150):
        if "imported" in result.inner_text():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(result).to_contain_text("1 contact imported, 1 consent recorded, 2 problems")
    errors = page.get_by_test_id("import-errors")
    expect(errors).to_contain_text("email")
    expect(errors).to_contain_text("time_zone")
    expect(page.get_by_test_id("contacts-table")).to_contain_text("Ada")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "audience")


def test_segments_and_recommendations(page: Page, live: LiveServer, audience: World) -> None:
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/audience/segments/")
    table = page.get_by_test_id("segments-table")
    expect(table).to_contain_text("Segment 1")
    expect(table).to_contain_text("Newsletter")
    expect(table).to_contain_text("Mastodon")
    expect(page.get_by_test_id("model-status")).to_contain_text("Segments: v1")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "segments")

    page.get_by_role("link", name="Recommendations").click()
    page.get_by_label("Channel").select_option(label="Mastodon")
    page.get_by_label("Day to send").select_option(label="Tuesday")
    page.get_by_label("Hour (contacts' local time)").fill("20")
    page.get_by_label("Draft", exact=True).fill("We are at the conference: come see the demo")
    page.get_by_label("Variant (optional)").fill("Demo today at booth 12!")
    page.get_by_label("Tone of the variant").select_option("playful")
    page.get_by_role("button", name="Recommend").click()
    variants = page.get_by_test_id("variant-advice")
    expect(variants).to_contain_text("interval")
    expect(variants).to_contain_text("not enough data")  # the mail segment never used Mastodon
    slots = page.get_by_test_id("slot-advice")
    expect(slots).to_contain_text("20:00")
    shoot(page, "recommendations")
