"""The ethics model pages through the test client: registry, audit report, activation form,
fairness settings; roles and tenant isolation."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from ethics.models import FairnessSettings, ModelStatus, ModelVersion
from tenants.models import AuditAction, AuditEvent
from tests.conftest import World
from tests.ethics.conftest import ONLY_REGION, audited, register

REASON = "Accepted by the ethics board on 3 March: the south list is too new to be representative."


@pytest.fixture
def versions(world: World) -> dict[str, ModelVersion]:
    with tenant_context(world.a):
        FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})
        return {"fair": audited(True), "biased": audited(False), "new": register("timing")}


def _client(world: World, key: str, tenant=None) -> Client:
    client = Client(HTTP_HOST=world.host(tenant or world.a))
    client.force_login(world.users[key])
    return client


def test_the_registry_lists_versions_with_their_audit(world, versions) -> None:
    page = _client(world, "a_viewer").get("/ethics/models/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Engagement prediction v2" in html and "Send-time recommendation v1" in html
    assert "failed" in html and "not audited" in html
    rejected = _client(world, "a_viewer").get("/ethics/models/", {"status": "rejected"}).content.decode()
    assert "Engagement prediction v2" in rejected and "Engagement prediction v1" not in rejected


def test_the_audit_page_shows_groups_intervals_and_chart_data(world, versions) -> None:
    page = _client(world, "a_viewer").get(f"/ethics/models/{versions['biased'].pk}/")
    html = page.content.decode()
    assert "region: selection-rate ratio 0.50 is below 0.80 (four-fifths rule)" in html
    assert 'data-testid="audit-table-region"' in html
    charts = json.loads(
        html.split('<script id="audit-charts" type="application/json">')[1].split("</script>")[0]
    )
    assert charts[0]["attribute"] == "region"
    assert charts[0]["line"] == pytest.approx(0.8 * 0.5)
    south = charts[0]["groups"][1]
    assert south["group"] == "south" and south["low"] < 0.25 < south["high"]
    assert "vendor/chart.umd.min.js" in html
    # Viewers read; the activation form is for admins.
    assert 'data-testid="activate-panel"' not in html
    assert "Audit FAILED" not in html  # the card is rendered as HTML, not as raw Markdown
    assert 'data-testid="model-card"' in html


def test_an_unaudited_version_says_so(world, versions) -> None:
    html = _client(world, "a_admin").get(f"/ethics/models/{versions['new'].pk}/").content.decode()
    assert 'data-testid="not-audited"' in html and 'data-testid="activate-panel"' not in html


def test_override_from_the_portal_needs_a_reason(world, versions) -> None:
    admin = _client(world, "a_admin")
    url = f"/ethics/models/{versions['biased'].pk}/activate/"
    refused = admin.post(url, {"override_reason": "because"})
    assert refused.status_code == 200
    assert "write why" in refused.content.decode()
    done = admin.post(url, {"override_reason": REASON})
    assert done.status_code == 302
    with tenant_context(world.a):
        assert ModelVersion.objects.get(pk=versions["biased"].pk).status == ModelStatus.ACTIVE
    assert AuditEvent.objects.filter(tenant=world.a, action=AuditAction.MODEL_AUDIT_OVERRIDDEN).count() == 1
    html = admin.get(done["Location"]).content.decode()
    assert REASON in html and "is now active" in html


@pytest.mark.parametrize("user", ["a_viewer", "a_analyst", "a_approver"])
def test_only_admins_activate(world, versions, user) -> None:
    response = _client(world, user).post(f"/ethics/models/{versions['fair'].pk}/activate/")
    assert response.status_code == 403
    with tenant_context(world.a):
        assert ModelVersion.objects.get(pk=versions["fair"].pk).status == ModelStatus.AUDITED


def test_other_tenants_versions_are_not_found(world, versions) -> None:
    b = _client(world, "b_owner", world.b)
    assert b.get(f"/ethics/models/{versions['fair'].pk}/").status_code == 404
    assert b.post(f"/ethics/models/{versions['fair'].pk}/activate/").status_code == 404
    assert "Engagement" not in b.get("/ethics/models/").content.decode()


def test_fairness_settings_form(world) -> None:
    form = {
        "attributes_text": "age_band birth_year birth_year\nregion field region\n",
        "bounds_text": "30, 50",
        "min_dp_ratio": "0.85",
        "max_eo_difference": "",
        "min_group_size": "50",
        "max_ci_width": "0.3",
        "bootstrap_resamples": "2000",
    }
    assert _client(world, "a_viewer").post("/ethics/fairness/", form).status_code == 403
    admin = _client(world, "a_admin")
    bad = admin.post("/ethics/fairness/", {**form, "attributes_text": "region psychic region"})
    assert "source must be one of" in bad.content.decode()
    bad_bounds = admin.post("/ethics/fairness/", {**form, "bounds_text": "50, 30"})
    assert "increasing whole ages" in bad_bounds.content.decode()
    assert admin.post("/ethics/fairness/", form).status_code == 302
    with tenant_context(world.a):
        saved = FairnessSettings.objects.get(pk=1)
    assert saved.min_dp_ratio == 0.85 and saved.age_band_bounds == [30, 50]
    assert [a["name"] for a in saved.sensitive_attributes] == ["age_band", "region"]
    page = admin.get("/ethics/fairness/").content.decode()
    assert "region field region" in page


def test_an_admin_retires_the_active_version(world, versions) -> None:
    admin = _client(world, "a_admin")
    pk = versions["fair"].pk
    assert admin.post(f"/ethics/models/{pk}/activate/").status_code == 302
    assert 'data-testid="retire-panel"' in admin.get(f"/ethics/models/{pk}/").content.decode()
    assert (
        "This field is required"
        in admin.post(f"/ethics/models/{pk}/retire/", {"reason": ""}).content.decode()
    )
    assert _client(world, "a_viewer").post(f"/ethics/models/{pk}/retire/", {"reason": "x"}).status_code == 403
    done = admin.post(f"/ethics/models/{pk}/retire/", {"reason": "Investigating complaints."})
    assert done.status_code == 302
    assert "none is active now" in admin.get(done["Location"]).content.decode()
    with tenant_context(world.a):
        assert ModelVersion.objects.get(pk=pk).status == ModelStatus.RETIRED
