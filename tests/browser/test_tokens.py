"""An admin creates an API token in the portal, uses it, and revokes it."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tenants.models import ApiToken
from tests.browser.conftest import LiveServer, open_workspace, sign_in
from tests.conftest import World

pytestmark = pytest.mark.browser


@pytest.fixture
def token_name(committed: World) -> Iterator[str]:
    """A name no other test uses; the server commits the token, so delete it by that name after."""
    name = f"browser-test-{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        ApiToken.objects.filter(name=name).delete()


def call_me(live: LiveServer, slug: str, token: str) -> tuple[int, dict[str, Any]]:
    """GET /api/v1/me on a tenant's host. Python's resolver may not know `*.localhost`, so connect to
    127.0.0.1 and name the host in the Host header, which is what routes to the tenant."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{live.port}/api/v1/me",
        headers={
            "Host": f"{slug}.localhost:{live.port}",
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (fixed http URL)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_an_admin_creates_uses_and_revokes_a_token(page: Page, live: LiveServer, token_name: str) -> None:
    sign_in(page, live, "a-admin@example.com")
    open_workspace(page, "tenant-a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API tokens").click()
    expect(page).to_have_url(f"{live.tenant('tenant-a')}/settings/tokens/")
    expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()

    page.get_by_label("Name", exact=True).fill(token_name)
    page.get_by_role("button", name="Create token").click()

    shown = page.get_by_test_id("new-token")
    expect(shown).to_contain_text("Copy your new token now")
    raw = shown.get_by_role("textbox").input_value()
    assert raw.startswith("cnd_"), raw
    row = page.get_by_test_id("tokens-table").get_by_role("row").filter(has_text=token_name)
    expect(row).to_contain_text("active")

    status, body = call_me(live, "tenant-a", raw)
    assert status == 200, body
    assert body["email"] == "a-admin@example.com"
    assert body["tenant"]["slug"] == "tenant-a"

    # The form answered with a redirect: reloading shows the list, never the secret, and mints nothing.
    page.reload()
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    expect(row).to_contain_text("active")
    assert raw not in page.content()
    assert ApiToken.objects.filter(name=token_name).count() == 1

    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text(f"Token '{token_name}' was revoked.")
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)

    status, body = call_me(live, "tenant-a", raw)
    assert status == 401, body

    page.goto(f"{live.tenant('tenant-a')}/settings/tokens/")
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert raw not in page.content()
