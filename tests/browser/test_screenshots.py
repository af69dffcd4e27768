"""The README's screenshots, taken by a test so they always show the portal as it is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tenants.models import ApiToken
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_listening import seeded_stream
from tests.conftest import World

pytestmark = pytest.mark.browser


@pytest.fixture
def new_tokens_removed(committed: World) -> Iterator[None]:
    """The tokens page is shown with one token in it: delete every token made during the test."""
    last = ApiToken.objects.order_by("-id").values_list("id", flat=True).first() or 0
    try:
        yield
    finally:
        ApiToken.objects.filter(id__gt=last, user=committed.users["ag_admin"]).delete()


@pytest.fixture
def listening_stream(committed: World) -> Iterator[None]:
    """The stream is shown with a few mentions in it: removed after the test."""
    with seeded_stream(committed):
        yield


def shoot(page: Page, name: str) -> None:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    assert path.stat().st_size > 10_000, f"{path} looks empty"


def test_readme_screenshots(
    page: Page, live: LiveServer, new_tokens_removed: None, listening_stream: None
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live.public}/login/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "sign-in")

    # The agency admin's switcher shows both kinds of workspace: an agency and a client.
    sign_in(page, live, "ag-admin@example.com")
    expect(page.get_by_test_id("tenant-list")).to_contain_text("Tenant A")
    shoot(page, "switcher")

    open_workspace(page, "tenant-a")
    expect(page.get_by_role("heading", name="Welcome to Tenant A")).to_be_visible()
    shoot(page, "overview")

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Members").click()
    expect(page.get_by_test_id("members-table")).to_contain_text("a-owner@example.com")
    shoot(page, "members")

    nav.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name", exact=True).fill("Weekly BI export")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("new-token")).to_be_visible()
    # The secret is not for the README: take the page as it is after the one-time display.
    page.goto(page.url)
    expect(page.get_by_test_id("tokens-table")).to_contain_text("Weekly BI export")
    shoot(page, "tokens")

    nav.get_by_role("link", name="Listening").click()
    expect(page.get_by_test_id("mention-list")).to_contain_text("Dana Reyes")
    shoot(page, "listening")
