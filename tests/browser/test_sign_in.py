"""Signing in and out through the real pages, and doing it with the keyboard alone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, open_workspace, sign_in

pytestmark = pytest.mark.browser

# What has the focus, in words a failure message can show: "#id_email", "a:Skip to content".
FOCUSED_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "body";
  return e.id ? "#" + e.id : e.tagName.toLowerCase() + ":" + (e.textContent || "").trim();
}"""


def focused(page: Page) -> str:
    return str(page.evaluate(FOCUSED_JS))


def test_a_wrong_password_shows_the_error_and_the_right_one_opens_the_switcher(
    page: Page, live: LiveServer
) -> None:
    sign_in(page, live, "a-owner@example.com", "not-the-password")

    expect(page).to_have_url(f"{live.public}/login/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("That email and password do not match an account.")
    # The typed email survives the failed attempt; the password never does.
    expect(page.get_by_label("Email")).to_have_value("a-owner@example.com")
    expect(page.get_by_label("Password")).to_have_value("")

    page.get_by_label("Password").fill("correct-horse-battery-staple")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live.public}/")
    expect(page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    workspaces = page.get_by_test_id("tenant-list")
    expect(workspaces).to_contain_text("Tenant A")
    expect(workspaces.get_by_role("link")).to_have_count(1)
    expect(page.locator("body")).not_to_contain_text("Tenant B")
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("A owner")


def test_signing_out_on_a_tenant_host_signs_out_everywhere(page: Page, live: LiveServer) -> None:
    sign_in(page, live, "a-owner@example.com")
    open_workspace(page, "tenant-a")
    expect(page.get_by_test_id("current-tenant")).to_have_text("Tenant A")

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{live.public}/login/")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    # Neither the tenant host's session nor the public one survives.
    page.goto(f"{live.tenant('tenant-a')}/")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live.public)}/login/\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Welcome to Tenant A")
    page.goto(f"{live.public}/")
    expect(page).to_have_url(f"{live.public}/login/")


def test_the_sign_in_form_works_from_the_keyboard(page: Page, live: LiveServer) -> None:
    page.goto(f"{live.public}/login/")
    expect(page.get_by_label("Email")).to_be_focused()  # autofocus: typing can start at once

    # Walk back to the start of the page: nothing may come before the skip link.
    for _ in range(10):
        if focused(page) == "a:Skip to content":
            break
        page.keyboard.press("Shift+Tab")
    assert focused(page) == "a:Skip to content"
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "body", "something focusable comes before the skip link"

    order: list[str] = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(focused(page))
    assert order[0] == "a:Skip to content", order
    start = order.index("#id_email")
    assert order[start : start + 3] == ["#id_email", "#id_password", "button:Sign in"], order

    # Typing and Enter alone sign in.
    page.goto(f"{live.public}/login/")
    page.keyboard.type("a-owner@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("correct-horse-battery-staple")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live.public}/")
    expect(page.get_by_role("heading", name="Your workspaces")).to_be_visible()


def test_skip_to_content_is_the_first_stop_on_portal_pages(page: Page, live: LiveServer) -> None:
    sign_in(page, live, "a-owner@example.com")
    open_workspace(page, "tenant-a")
    for url in (f"{live.public}/", f"{live.tenant('tenant-a')}/", f"{live.tenant('tenant-a')}/crisis/"):
        page.goto(url)
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to content")
        expect(skip).to_be_focused()
        # Hidden off-screen until focused, then on screen where a sighted keyboard user sees it.
        box = skip.bounding_box()
        assert box is not None and box["x"] >= 0 and box["y"] >= 0, (url, box)
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()
