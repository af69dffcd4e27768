"""The contact's preference page (give, then withdraw, with one click each; the ledger shows both)
and an admin's access request carried out by the worker and downloaded from the portal."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from ethics.models import DataSubjectRequest, DsrStep
from ethics.services import preference_token
from personalization.models import Contact
from personalization.records import contact_create
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World

pytestmark = pytest.mark.browser


@pytest.fixture
def grace(committed: World) -> Iterator[Contact]:
    """A committed contact; removed after (its consent events stay: the ledger is append-only)."""
    with tenant_context(committed.a):
        contact = contact_create(
            name="Grace Hopper",
            email="grace@example.org",
            handles=[{"network": "mastodon", "handle": "grace"}],
        )
    try:
        yield contact
    finally:
        with tenant_context(committed.a):
            requests = list(DataSubjectRequest.objects.filter(contact=contact))
            for dsr in requests:
                if dsr.export_file:
                    dsr.export_file.delete(save=False)
            DsrStep.objects.filter(request__in=requests).delete()
            DataSubjectRequest.objects.filter(pk__in=[d.pk for d in requests]).delete()
            Contact.objects.filter(pk=contact.pk).delete()


def test_a_person_gives_then_withdraws_consent_on_their_preference_page(
    page: Page, live: LiveServer, grace: Contact, committed: World
) -> None:
    with tenant_context(committed.a):
        token = preference_token(contact=grace)
    page.goto(f"{live.tenant('tenant-a')}/preferences/{token}/")
    outreach = page.get_by_test_id("purpose-outreach")
    expect(outreach).to_contain_text("not allowed")
    expect(outreach).to_contain_text("We send you news")
    outreach.get_by_role("button", name="Give consent").click()
    expect(page.get_by_role("status")).to_contain_text("Your consent was given")
    expect(outreach).to_contain_text("allowed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "preferences")
    outreach.get_by_role("button", name="Withdraw consent").click()
    expect(page.get_by_role("status")).to_contain_text("Your consent was withdrawn")
    expect(outreach.get_by_role("button", name="Give consent")).to_be_visible()

    # The admin sees both events in the contact's history, from the preference page, with evidence.
    sign_in(page, live, "a-admin@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/ethics/contacts/{grace.pk}/")
    rows = page.get_by_test_id("consent-history").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Granted")
    expect(rows.nth(1)).to_contain_text("Withdrawn")
    expect(rows.nth(0)).to_contain_text("Preference page")
    expect(rows.nth(0)).to_contain_text("preference-page-v1")
    expect(page.get_by_test_id("current-consents")).to_contain_text("No current permission")


def test_an_admin_runs_an_access_request_and_downloads_the_export(
    page: Page, live: LiveServer, grace: Contact, celery_worker: object
) -> None:
    sign_in(page, live, "a-admin@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/ethics/requests/")
    form = page.get_by_test_id("open-dsr")
    form.get_by_label("Kind").select_option("access")
    form.get_by_label("Contact").fill(str(grace.pk))
    form.get_by_role("button", name="Open request").click()
    attest = page.get_by_test_id("attest")
    attest.get_by_label("Method").fill("call-back")
    attest.get_by_label("Note").fill("Called the number on her contract.")
    attest.get_by_role("button", name="I verified their identity").click()
    page.get_by_test_id("run").click()
    # The page polls while the worker builds the bundle.
    download_link = page.get_by_test_id("download")
    expect(download_link).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("dsr-status")).to_contain_text("Completed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "dsr")
    with page.expect_download() as info:
        download_link.click()
    path = info.value.path()
    archive = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    tables = json.loads(archive.read("export.json"))["tables"]
    assert tables["personalization.contact"][0]["email"] == "grace@example.org"
    assert "csv/personalization.contact.csv" in archive.namelist()
