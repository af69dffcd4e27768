"""The contact's preference page (give, then withdraw, with one click each; the ledger shows both)
and an admin's access request carried out by the worker and downloaded from the portal."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from ethics.models import DataSubjectRequest, DsrStep, FairnessSettings, ModelVersion
from ethics.services import model_version_audit, model_version_register, preference_token
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


# (age band, rows, selection rate): the targeting model favours the youngest and oldest contacts,
# as term-deposit campaigns do; ">65" is too small to judge.
BANDS = [
    ("<=25", 160, 0.34),
    ("26-35", 900, 0.16),
    ("36-55", 1400, 0.11),
    ("56-65", 300, 0.20),
    (">65", 22, 0.45),
]

REASON = "Retirement-product campaign approved by compliance; the age skew is the product's audience."


@pytest.fixture
def audited_models(committed: World) -> Iterator[ModelVersion]:
    rng = np.random.default_rng(4)
    groups: list[str] = []
    pred: list[int] = []
    truth: list[int] = []
    for band, rows, rate in BANDS:
        chosen = round(rows * rate)
        groups += [band] * rows
        pred += rng.permutation([1] * chosen + [0] * (rows - chosen)).tolist()
        truth += (rng.random(rows) < rate * 0.8).astype(int).tolist()
    with tenant_context(committed.a):
        FairnessSettings.objects.update_or_create(
            pk=1,
            defaults={
                "sensitive_attributes": [{"name": "age_band", "source": "birth_year", "key": "birth_year"}]
            },
        )
        version = model_version_register(
            kind="engagement",
            artifact=b"tree\nversion=v4\n",
            trained_by=committed.users["a_analyst"],
            purpose="Choose which contacts a campaign email goes to.",
            algorithm="LightGBM",
            training_rows=8_400,
            training_rows_excluded=312,
            features=["age", "channel", "hour_of_week", "past_opens"],
            metrics={"auc": 0.781, "log_loss": 0.274},
        )
        version = model_version_audit(
            version=version, y_pred=pred, y_true=truth, sensitive={"age_band": groups}
        )
    try:
        yield version
    finally:
        with tenant_context(committed.a):
            ModelVersion.objects.all().delete()
            FairnessSettings.objects.all().delete()
        shutil.rmtree(
            Path(settings.DATA_DIR) / "media" / committed.a.schema_name / "models", ignore_errors=True
        )


def test_an_admin_reviews_and_overrides_a_failed_audit(page: Page, live: LiveServer, audited_models) -> None:
    sign_in(page, live, "a-admin@example.com")
    open_workspace(page, "tenant-a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Ethics").click()
    page.get_by_role("link", name="Models and audits").first.click()
    expect(page.get_by_test_id("models-table")).to_contain_text("Engagement prediction v1")
    page.get_by_role("link", name="Engagement prediction v1").click()

    report = page.get_by_test_id("audit-report")
    expect(report).to_contain_text("age_band: selection-rate ratio 0.33 is below 0.80")
    table = page.get_by_test_id("audit-table-age_band")
    expect(table.locator("tr", has_text=">65")).to_contain_text("too small to judge")
    canvas = page.locator("canvas[data-audit-chart]")
    expect(canvas).to_have_count(1)
    # Chart.js drew into the canvas: it now has a chart instance and non-blank pixels.
    assert page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-audit-chart]')) !== undefined"
    )
    expect(page.get_by_test_id("model-card")).to_contain_text("8400 after the consent gate")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "bias-audit.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    assert path.stat().st_size > 10_000, f"{path} looks empty"

    panel = page.get_by_test_id("activate-panel")
    panel.get_by_role("button", name="Override and activate").click()
    expect(page.get_by_test_id("activate-panel")).to_contain_text("write why")
    page.get_by_label("Reason for overriding the failed audit").fill(REASON)
    page.get_by_role("button", name="Override and activate").click()
    expect(page.get_by_test_id("override-reason")).to_contain_text(REASON)
    expect(page.locator("h1")).to_contain_text("Active")

    page.get_by_role("navigation", name="Ethics").get_by_role("link", name="Models and audits").click()
    expect(page.get_by_test_id("models-table")).to_contain_text("overridden")
    page.get_by_role("navigation", name="Ethics").get_by_role("link", name="Fairness settings").click()
    expect(page.get_by_label("Sensitive attributes")).to_have_value("age_band birth_year birth_year")
    page.screenshot(path=str(SCREENSHOTS / "fairness-settings.png"), full_page=True)
