"""The risk API: current score with evidence and movement, history (JSON, CSV, downsampled),
evaluate now, settings (admins, audited), validation as 400s naming the field, pinned query counts,
and tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django_tenants.utils import tenant_context

from crisis.models import RiskSnapshot, RiskState, RiskTrigger
from crisis.risk_selectors import HISTORY_MAX_POINTS
from crisis.risk_services import risk_score_run
from tenants.models import AuditEvent

from .conftest import NOW, warm_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(surge, world):
    warm_up()
    risk_score_run(now=NOW)
    return world


def test_current_answers_the_latest_score_with_factors_evidence_and_movement(scored, api_for):
    body = api_for("a_viewer").get("/api/v1/risk/current").json()
    snapshot = body["snapshot"]
    with tenant_context(scored.a):
        latest = RiskSnapshot.objects.order_by("-bucket_start").first()
        one_hour = RiskSnapshot.objects.get(bucket_start=latest.bucket_start - timedelta(hours=1))
        day = RiskSnapshot.objects.get(bucket_start=latest.bucket_start - timedelta(hours=24))
    assert snapshot["id"] == latest.pk and snapshot["band"] in ("low", "elevated", "high", "critical")
    assert snapshot["base"] + sum(snapshot["factors"].values()) == pytest.approx(snapshot["score"], abs=1e-6)
    assert body["delta_1h"] == pytest.approx(latest.score - one_hour.score, abs=1e-3)
    assert body["delta_24h"] == pytest.approx(latest.score - day.score, abs=1e-3)
    evidence = body["evidence"]
    assert evidence and evidence[0]["text"].startswith("Acme is down") and evidence[0]["author"]
    assert {"id", "why", "reach", "url", "posted_at", "source"} <= set(evidence[0])


def test_current_is_404_before_the_first_score(tenant_a, api_for):
    response = api_for("a_viewer").get("/api/v1/risk/current")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_history_in_json_and_csv_with_alert_markers(scored, api_for):
    api = api_for("a_viewer")
    params = {"from": (NOW - timedelta(hours=2)).isoformat(), "to": NOW.isoformat()}
    body = api.get("/api/v1/risk/history", params).json()
    # From 10:02:30 to 12:02:30: the buckets 10:05 to 11:55 are scored (12:00 is still open).
    assert body["step_s"] == 300 and len(body["points"]) == 24 - 1
    assert [p["alert"] for p in body["points"]].count(True) == 1
    csv = api.get("/api/v1/risk/history", {**params, "format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().strip().splitlines()
    assert lines[0] == "start,score,probability_6h,probability_24h,alert" and len(lines) == 1 + 23


def test_long_history_is_downsampled_keeping_the_peak(scored, api_for):
    params = {"from": (NOW - timedelta(days=30)).isoformat(), "to": NOW.isoformat()}
    body = api_for("a_viewer").get("/api/v1/risk/history", params).json()
    assert body["step_s"] == 3 * 3600 and len(body["points"]) <= HISTORY_MAX_POINTS  # hours would be 720
    with tenant_context(scored.a):
        peak = max(RiskSnapshot.objects.values_list("score", flat=True))
    assert max(p["score"] for p in body["points"]) == pytest.approx(peak)
    assert any(p["alert"] for p in body["points"])


def test_history_shows_incidents_declared_in_the_range(scored, api_for):
    from crisis.models import Incident

    with tenant_context(scored.a):
        Incident.objects.create(
            title="Login outage", scenario="service_outage", declared_at=NOW - timedelta(minutes=30)
        )
    body = (
        api_for("a_viewer")
        .get("/api/v1/risk/history", {"from": (NOW - timedelta(hours=2)).isoformat(), "to": NOW.isoformat()})
        .json()
    )
    assert [i["title"] for i in body["incidents"]] == ["Login outage"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "to"),
        ({"from": "2020-01-01T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "from"),
    ],
)
def test_bad_history_ranges_answer_400_naming_the_field(tenant_a, api_for, params, field):
    response = api_for("a_viewer").get("/api/v1/risk/history", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_query_counts_are_pinned(scored, api_for, django_assert_num_queries):
    """Session, tenant and access lookups, then a fixed number of reads: the evidence mentions are
    one query whatever their number, the history one query whatever the range."""
    api = api_for("a_viewer")
    with django_assert_num_queries(16):
        assert api.get("/api/v1/risk/current").status_code == 200
    with django_assert_num_queries(10):
        assert (
            api.get("/api/v1/risk/history", {"from": (NOW - timedelta(days=7)).isoformat()}).status_code
            == 200
        )


def test_evaluate_now_needs_edit_and_writes_an_on_demand_snapshot(calm, world, api_for):
    assert api_for("a_viewer").post("/api/v1/risk/evaluate").status_code == 403
    response = api_for("a_analyst").post("/api/v1/risk/evaluate")
    assert response.status_code == 201
    body = response.json()
    assert body["trigger"] == "on_demand"
    with tenant_context(world.a):
        assert RiskSnapshot.objects.get(pk=body["id"]).trigger == RiskTrigger.ON_DEMAND


def test_settings_are_read_by_everyone_and_changed_by_admins_with_an_audit_event(tenant_a, world, api_for):
    body = api_for("a_viewer").get("/api/v1/risk/settings").json()
    assert body["auto_pause_threshold"] is None and body["calibration_in_use"] == "global"
    assert (
        api_for("a_analyst").patch("/api/v1/risk/settings", {"auto_pause_threshold": 80}).status_code == 403
    )
    response = api_for("a_admin").patch("/api/v1/risk/settings", {"auto_pause_threshold": 80})
    assert response.status_code == 200 and response.json()["auto_pause_threshold"] == 80
    assert AuditEvent.objects.filter(action="risk.auto_pause.set", tenant=world.a).count() == 1
    for bad in (0, 101, "high", [80]):
        response = api_for("a_admin").patch("/api/v1/risk/settings", {"auto_pause_threshold": bad})
        assert response.status_code == 400, bad
        assert "auto_pause_threshold" in response.json()["error"]["fields"]
    off = api_for("a_admin").patch("/api/v1/risk/settings", {"auto_pause_threshold": None})
    assert off.json()["auto_pause_threshold"] is None


def test_tenant_b_never_sees_tenant_a_risk(scored, api_for):
    api = api_for("b_owner", tenant=scored.b)
    assert api.get("/api/v1/risk/current").status_code == 404
    assert (
        api.get("/api/v1/risk/history", {"from": (NOW - timedelta(days=3)).isoformat()}).json()["points"]
        == []
    )
    api.patch("/api/v1/risk/settings", {"auto_pause_threshold": 50})
    with tenant_context(scored.a):
        assert RiskState.objects.get().auto_pause_threshold is None
    # A's users cannot reach B's risk either.
    assert api_for("a_owner", tenant=scored.b).get("/api/v1/risk/current").status_code == 404


def test_the_openapi_schema_documents_the_risk_routes(tenant_a, api_for):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(urlconf="config.urls_api").get_schema(request=None, public=True)
    for route in (
        "/api/v1/risk/current",
        "/api/v1/risk/history",
        "/api/v1/risk/evaluate",
        "/api/v1/risk/settings",
    ):
        assert route in schema["paths"], route
    parameters = {p["name"] for p in schema["paths"]["/api/v1/risk/history"]["get"]["parameters"]}
    assert {"from", "to", "format"} <= parameters
