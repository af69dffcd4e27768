"""Moving between workspaces: the switcher, the hand-off to each tenant's host, and the walls
between tenants and between roles."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tenants.models import Membership, Role
from tests.browser.conftest import JsErrors, LiveServer, open_workspace, sign_in
from tests.conftest import World

pytestmark = pytest.mark.browser


@pytest.fixture
def a_owner_also_in_b(committed: World) -> Iterator[Membership]:
    """Committed, so the server thread sees it; deleted afterwards so other tests never do."""
    membership = Membership.objects.create(
        user=committed.users["a_owner"], tenant=committed.b, role=Role.VIEWER
    )
    try:
        yield membership
    finally:
        Membership.objects.filter(pk=membership.pk).delete()


def test_a_member_of_two_tenants_switches_between_their_hosts(
    page: Page, live: LiveServer, a_owner_also_in_b: Membership
) -> None:
    sign_in(page, live, "a-owner@example.com")
    workspaces = page.get_by_test_id("tenant-list")
    expect(workspaces).to_contain_text("Tenant A")
    expect(workspaces).to_contain_text("Tenant B")

    open_workspace(page, "tenant-a")
    expect(page).to_have_url(f"{live.tenant('tenant-a')}/")
    expect(page.get_by_test_id("current-tenant")).to_have_text("Tenant A")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Tenant A")

    page.get_by_role("link", name="Switch workspace").click()
    expect(page).to_have_url(f"{live.public}/")
    expect(page.get_by_role("heading", name="Your workspaces")).to_be_visible()

    open_workspace(page, "tenant-b")
    expect(page).to_have_url(f"{live.tenant('tenant-b')}/")
    expect(page.get_by_test_id("current-tenant")).to_have_text("Tenant B")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Tenant B")
    # The viewer role in B shows, not the owner role of A.
    expect(page.get_by_test_id("signed-in-as").locator(".roles")).to_have_text("viewer")


def test_agency_staff_reach_their_clients_through_the_switcher(page: Page, live: LiveServer) -> None:
    sign_in(page, live, "ag-admin@example.com")
    expect(page.get_by_role("link", name=re.compile("^Agency Ag"))).to_be_visible()
    workspaces = page.get_by_test_id("tenant-list")
    expect(workspaces).to_contain_text("Tenant A")
    expect(workspaces).to_contain_text("via Agency Ag")
    expect(workspaces).not_to_contain_text("Tenant B")

    open_workspace(page, "tenant-a")
    expect(page.get_by_test_id("current-tenant")).to_have_text("Tenant A")
    expect(page.get_by_test_id("signed-in-as").locator(".roles")).to_have_text("admin")


def test_a_tenant_the_user_cannot_reach_is_a_404_never_its_content(
    page: Page, live: LiveServer, js_errors: JsErrors
) -> None:
    js_errors.allow(r"status of 404")  # the browser logs every 404 document as a console error
    sign_in(page, live, "a-owner@example.com")

    for path in ("/", "/settings/members/"):
        response = page.goto(f"{live.tenant('tenant-b')}{path}")
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        expect(page.locator("body")).to_contain_text("This page does not exist, or you cannot see it.")
        expect(page.locator("body")).not_to_contain_text("Tenant B")
        expect(page.get_by_test_id("current-tenant")).to_have_count(0)
    # Nothing on tenant B's host signed this user in along the way.
    response = page.goto(f"{live.tenant('tenant-b')}/listening/")
    assert response is not None and response.status == 404


def test_a_viewer_sees_no_settings_and_is_refused_them(
    page: Page, live: LiveServer, js_errors: JsErrors
) -> None:
    js_errors.allow(r"status of 403")  # the browser logs every 403 document as a console error
    sign_in(page, live, "a-viewer@example.com")
    open_workspace(page, "tenant-a")

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Overview")).to_be_visible()
    expect(nav).not_to_contain_text("Settings")
    for name in ("Members", "API tokens", "Audit log"):
        expect(nav.get_by_role("link", name=name)).to_have_count(0)

    for path in ("/settings/members/", "/settings/tokens/"):
        response = page.goto(f"{live.tenant('tenant-a')}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(page.locator("body")).to_contain_text("This page needs the 'manage' permission.")
        expect(page.get_by_test_id("members-table")).to_have_count(0)
