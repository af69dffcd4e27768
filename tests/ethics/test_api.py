"""The model registry API through real HTTP: listing with pinned query counts, cards and audit
exports, activation with and without an override, roles, validation, and tenant isolation."""

from __future__ import annotations

import csv
import io

import pytest
from django_tenants.utils import tenant_context

from ethics.models import FairnessSettings, ModelStatus, ModelVersion
from ethics.selectors import active_model_version
from ethics.services import model_version_audit
from tenants.models import AuditAction, AuditEvent
from tests.conftest import World
from tests.ethics.conftest import ONLY_REGION, audited, register

REASON = "The south list is new; legal reviewed the campaign and accepts the disparity for Q3."


@pytest.fixture
def versions(world: World) -> dict[str, ModelVersion]:
    with tenant_context(world.a):
        FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})
        return {"fair": audited(True), "biased": audited(False), "new": register("timing")}


def test_list_filters_and_pins_queries(world, api_for, versions, django_assert_max_num_queries) -> None:
    api = api_for("a_viewer")
    with django_assert_max_num_queries(10):
        body = api.get("/api/v1/models").json()
    assert [v["id"] for v in body["results"]] == [versions[k].pk for k in ("new", "biased", "fair")]
    with tenant_context(world.a):
        for _ in range(5):
            register("timing")
    with django_assert_max_num_queries(10):
        assert len(api.get("/api/v1/models").json()["results"]) == 8
    rejected = api.get("/api/v1/models", {"status": "rejected"}).json()["results"]
    assert [(v["kind"], v["version"], v["audit_passed"]) for v in rejected] == [("engagement", 2, False)]
    assert rejected[0]["audit_failures"] == [
        "region: selection-rate ratio 0.50 is below 0.80 (four-fifths rule)"
    ]
    assert len(api.get("/api/v1/models", {"kind": "timing"}).json()["results"]) == 6
    assert "audit_report" not in rejected[0] and "artifact" not in rejected[0]


@pytest.mark.parametrize("query", [{"status": "on"}, {"kind": "DROP TABLE"}])
def test_bad_filters_are_400(world, api_for, versions, query) -> None:
    response = api_for("a_viewer").get("/api/v1/models", query)
    assert response.status_code == 400
    assert next(iter(query)) in response.json()["error"]["fields"]


def test_card_in_every_format(world, api_for, versions) -> None:
    api = api_for("a_viewer")
    pk = versions["biased"].pk
    card = api.get(f"/api/v1/models/{pk}/card").json()
    assert card["model"]["kind"] == "engagement" and card["audit"]["passed"] is False
    markdown = api.get(f"/api/v1/models/{pk}/card", {"to": "markdown"})
    assert markdown["Content-Type"].startswith("text/markdown")
    assert 'filename="model-card-engagement-v2.md"' in markdown["Content-Disposition"]
    assert b"Audit FAILED" in markdown.content
    pdf = api.get(f"/api/v1/models/{pk}/card", {"to": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert api.get(f"/api/v1/models/{pk}/card", {"to": "csv"}).status_code == 400
    assert api.get(f"/api/v1/models/{pk}/card", {"to": "docx"}).status_code == 400


def test_audit_report_and_exports(world, api_for, versions) -> None:
    api = api_for("a_viewer")
    pk = versions["biased"].pk
    report = api.get(f"/api/v1/models/{pk}/audit").json()
    attribute = report["attributes"][0]
    assert attribute["attribute"] == "region" and attribute["dp_ratio"] == pytest.approx(0.5)
    assert attribute["dp_ratio_ci"]["low"] < 0.5 < attribute["dp_ratio_ci"]["high"]
    exported = api.get(f"/api/v1/models/{pk}/audit", {"to": "csv"})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [(r["group"], r["count"], r["judged"]) for r in rows] == [
        ("north", "300", "1"),
        ("south", "300", "1"),
    ]
    assert float(rows[1]["selection_rate"]) == pytest.approx(0.25)
    as_json = api.get(f"/api/v1/models/{pk}/audit", {"to": "json"})
    assert "attachment" in as_json["Content-Disposition"]
    assert api.get(f"/api/v1/models/{versions['new'].pk}/audit").status_code == 404


def test_activation_gate_over_http(world, api_for, versions) -> None:
    admin = api_for("a_admin")
    biased = versions["biased"].pk
    refused = admin.post(f"/api/v1/models/{biased}/activate")
    assert refused.status_code == 400
    assert "override_reason" in refused.json()["error"]["fields"]
    short = admin.post(f"/api/v1/models/{biased}/activate", {"override_reason": "ok"})
    assert short.status_code == 400
    done = admin.post(f"/api/v1/models/{biased}/activate", {"override_reason": REASON})
    assert done.status_code == 200, done.content
    assert done.json()["status"] == ModelStatus.ACTIVE and done.json()["override_reason"] == REASON
    event = AuditEvent.objects.get(tenant=world.a, action=AuditAction.MODEL_AUDIT_OVERRIDDEN)
    assert event.details["override_reason"] == REASON
    # A passing version replaces it with no reason needed; the overridden one retires.
    fair = admin.post(f"/api/v1/models/{versions['fair'].pk}/activate")
    assert fair.status_code == 200 and fair.json()["override_reason"] == ""
    assert admin.get(f"/api/v1/models/{biased}").json()["status"] == ModelStatus.RETIRED
    unaudited = admin.post(f"/api/v1/models/{versions['new'].pk}/activate")
    assert unaudited.status_code == 400


@pytest.mark.parametrize("user", ["a_analyst", "a_approver", "a_viewer"])
def test_activation_needs_manage(world, api_for, versions, user) -> None:
    response = api_for(user).post(f"/api/v1/models/{versions['fair'].pk}/activate")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_read_token_cannot_activate(world, api_for, versions) -> None:
    api = api_for("a_admin", scope="read")
    assert api.get("/api/v1/models").status_code == 200
    assert api.post(f"/api/v1/models/{versions['fair'].pk}/activate").status_code == 403


def test_other_tenants_versions_answer_404(world, api_for, versions) -> None:
    api = api_for("b_owner", tenant=world.b)
    assert api.get("/api/v1/models").json()["results"] == []
    for suffix in ("", "/card", "/audit"):
        assert api.get(f"/api/v1/models/{versions['fair'].pk}{suffix}").status_code == 404
    assert (
        api.post(f"/api/v1/models/{versions['fair'].pk}/activate", {"override_reason": REASON}).status_code
        == 404
    )
    with tenant_context(world.a):
        assert ModelVersion.objects.get(pk=versions["fair"].pk).status == ModelStatus.AUDITED
    stranger = api_for("b_owner", tenant=world.a)
    assert stranger.get(f"/api/v1/models/{versions['fair'].pk}").status_code == 404
    assert stranger.get("/api/v1/fairness-settings").status_code == 404


def test_fairness_settings_read_and_change(world, api_for) -> None:
    viewer = api_for("a_viewer")
    settings = viewer.get("/api/v1/fairness-settings").json()
    assert [a["name"] for a in settings["sensitive_attributes"]] == [
        "age_band",
        "gender",
        "language",
        "region",
    ]
    assert settings["min_dp_ratio"] == 0.8 and settings["age_band_bounds"] == [25, 35, 55, 65]
    assert viewer.patch("/api/v1/fairness-settings", {"min_dp_ratio": 0.9}).status_code == 403
    admin = api_for("a_admin")
    changed = admin.patch(
        "/api/v1/fairness-settings",
        {"min_dp_ratio": 0.9, "max_eo_difference": 0.1, "sensitive_attributes": ONLY_REGION},
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["min_dp_ratio"] == 0.9 and changed.json()["sensitive_attributes"] == ONLY_REGION
    assert api_for("b_owner", tenant=world.b).get("/api/v1/fairness-settings").json()["min_dp_ratio"] == 0.8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min_dp_ratio": 1.5}, "min_dp_ratio"),
        ({"min_dp_ratio": "high"}, "min_dp_ratio"),
        ({"sensitive_attributes": []}, "sensitive_attributes"),
        (
            {"sensitive_attributes": [{"name": "Gender!", "source": "field", "key": "g"}]},
            "sensitive_attributes",
        ),
        ({"sensitive_attributes": [{"name": "g", "source": "psychic", "key": "g"}]}, "sensitive_attributes"),
        (
            {"sensitive_attributes": [{"name": "g", "source": "field", "key": "g"}] * 2},
            "sensitive_attributes",
        ),
        ({"age_band_bounds": [40, 30]}, "age_band_bounds"),
        ({"age_band_bounds": [0]}, "age_band_bounds"),
        ({"bootstrap_resamples": 5}, "bootstrap_resamples"),
        ({"min_group_size": 1}, "min_group_size"),
    ],
)
def test_fairness_settings_validation(world, api_for, body, field) -> None:
    response = api_for("a_admin").patch("/api/v1/fairness-settings", body)
    assert response.status_code == 400, response.content
    assert any(key.startswith(field) for key in response.json()["error"]["fields"]), response.json()


def test_audit_csv_escapes_formula_cells(world, api_for) -> None:
    """Group names come from contact data: a spreadsheet must not run them (RELIABILITY 18)."""
    with tenant_context(world.a):
        FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})
        version = register()
        model_version_audit(
            version=version,
            y_pred=[1, 0] * 40,
            sensitive={"region": ['=HYPERLINK("http://x")'] * 40 + ["@SUM(1)"] * 40},
        )
    exported = api_for("a_viewer").get(f"/api/v1/models/{version.pk}/audit", {"to": "csv"}).content.decode()
    groups = {row["group"] for row in csv.DictReader(io.StringIO(exported))}
    assert groups == {'\'=HYPERLINK("http://x")', "'@SUM(1)"}


def test_retire_is_a_kill_switch_for_admins(world, api_for, versions) -> None:
    admin = api_for("a_admin")
    pk = versions["fair"].pk
    assert admin.post(f"/api/v1/models/{pk}/retire", {"reason": "Not active yet"}).status_code == 400
    assert admin.post(f"/api/v1/models/{pk}/activate").status_code == 200
    assert api_for("a_analyst").post(f"/api/v1/models/{pk}/retire", {"reason": "x"}).status_code == 403
    missing = admin.post(f"/api/v1/models/{pk}/retire", {})
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    reason = "Complaints that the model skips older customers; investigating."
    done = admin.post(f"/api/v1/models/{pk}/retire", {"reason": reason})
    assert done.status_code == 200 and done.json()["status"] == ModelStatus.RETIRED
    with tenant_context(world.a):
        assert active_model_version(kind="engagement") is None
    event = AuditEvent.objects.get(tenant=world.a, action=AuditAction.MODEL_RETIRED)
    assert event.details["reason"] == reason and event.actor == world.users["a_admin"]
    assert (
        api_for("b_owner", tenant=world.b).post(f"/api/v1/models/{pk}/retire", {"reason": reason}).status_code
        == 404
    )
