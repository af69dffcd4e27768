"""A holding statement through the portal as people would write it: drafted from the playbook's
template (the missing variable asked for), a tone flag shown, fixed, its claim confirmed, submitted,
approved by another person, and published to the status page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from crisis.models import Incident, Statement, StatementStatus
from crisis.tone.check import tone_check
from personalization import post_services
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World
from tests.crisis.statements.conftest import make_incident
from tests.personalization.audience import audience_clean

pytestmark = [pytest.mark.browser, pytest.mark.embedder]


@pytest.fixture
def declared(committed: World, settings) -> Iterator[int]:
    """An incident with the outage playbook and a status-page webhook (committed; removed after).
    The emotion model is loaded here, before the first save asks the server thread for it."""
    tone_check("We are sorry.")
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.LISTENING_FETCH_ALLOWED_PORTS = [9]
    with tenant_context(committed.a):
        incident = make_incident()
        post_services.publishing_channel_create(
            name="Status page", kind="webhook", url="http://127.0.0.1:9/hook", webhook_secret="s" * 20
        )
    try:
        yield incident.pk
    finally:
        with tenant_context(committed.a):
            Statement.objects.all().delete()  # publications go with them, then their posts
            Incident.objects.all().delete()
        audience_clean(committed.a)  # the posts, connectors and the audience channels they made


def test_a_statement_from_draft_to_published(
    page: Page, live: LiveServer, committed: World, declared: int
) -> None:
    tenant = live.tenant(committed.a.slug)
    sign_in(page, live, committed.users["a_analyst"].email)
    open_workspace(page, committed.a.slug)
    page.goto(f"{tenant}/crisis/incidents/{declared}/statements/")
    page.get_by_role("button", name="Use this template").click()
    expect(page.locator("input.missing")).to_have_count(1)
    page.get_by_role("button", name="Draft from the template").click()
    expect(page.get_by_text("{next_update} has no value")).to_be_visible()
    page.get_by_label("next_update").fill("10:30 UTC")
    page.get_by_role("button", name="Draft from the template").click()
    expect(page.get_by_test_id("statement-status")).to_have_text("Draft")

    # A defensive edit is flagged and highlighted; the fix clears it.
    body = page.get_by_label("Text", exact=True)
    original = body.input_value()
    body.fill(original + " One customer refused to follow our instructions.")
    page.get_by_role("button", name="Save and check the tone").click()
    expect(page.get_by_test_id("tone-flag").first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "statement-tone")
    page.get_by_label("Text", exact=True).fill(original)
    page.get_by_role("button", name="Save and check the tone").click()
    expect(page.get_by_test_id("no-flags")).to_be_visible()

    # The suggested claim, confirmed with its basis, then submitted.
    page.get_by_test_id("suggested-claims").get_by_role("button", name="Add").first.click()
    page.get_by_label("Basis").first.fill("Pager and status dashboard")
    page.get_by_role("button", name="Confirm").first.click()
    expect(page.get_by_test_id("claims")).to_contain_text("Confirmed")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_test_id("statement-status")).to_have_text("Awaiting approval")
    expect(page.get_by_test_id("countdown")).to_contain_text("min")
    statement_url = page.url.split("#")[0]

    # Another person approves it, then publishes it to the status page.
    page.context.clear_cookies()
    sign_in(page, live, committed.users["a_admin"].email)
    open_workspace(page, committed.a.slug)
    page.goto(statement_url)
    page.get_by_label("Comment").fill("Facts checked with the on-call lead.")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("statement-status")).to_have_text("Approved")
    form = page.get_by_test_id("publish-form")
    expect(form).to_contain_text("status page")
    form.get_by_label("Status page").check()
    form.get_by_role("button", name="Publish now").click()
    expect(page.get_by_test_id("statement-status")).to_have_text("Published")
    expect(page.get_by_test_id("publications")).to_contain_text("Status page (status page)")
    shoot(page, "statement-published")
    with tenant_context(committed.a):
        statement = Statement.objects.get(incident_id=declared)
        assert statement.status == StatementStatus.PUBLISHED and statement.publications.count() == 1
