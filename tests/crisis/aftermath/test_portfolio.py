"""The agency portfolio: summary rows kept by receivers on commit (risk snapshots, incidents,
crisis mode), their contents (score, trend, sparkline, open incidents, crisis mode), the rebuild
command, ordering by risk, only the agency's own clients, one query for the list, the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from crisis.models import IncidentStatus, RiskSnapshot
from crisis.portfolio_services import client_summary_compute, risk_band
from personalization import services as personalization_services
from tenants.models import Agency, ClientRiskSummary, Tenant
from tests.crisis.aftermath.conftest import incident
from tests.ethics.conftest import data_queries

PORTFOLIO = "/api/v1/agencies/{}/portfolio"


def snapshot(score: float, minutes_ago: float) -> RiskSnapshot:
    start = timezone.now() - timedelta(minutes=minutes_ago)
    return RiskSnapshot.objects.create(
        bucket_start=start.replace(second=0, microsecond=0),
        trigger="on_demand",
        score=score,
        probability_6h=score / 100,
        probability_24h=score / 100,
        base=5,
        model_version="test",
    )


def _public(api_for, user):
    return api_for(user, tenant=Tenant.objects.get(schema_name="public"))


def test_risk_bands():
    assert [risk_band(s) for s in (None, 0, 24.9, 25, 50, 74.9, 75, 100)] == [
        "unknown",
        "low",
        "low",
        "moderate",
        "elevated",
        "elevated",
        "high",
        "high",
    ]


def test_summary_values(in_a):
    snapshot(20, 24 * 60 + 3)
    snapshot(40, 61)
    snapshot(55, 30)
    snapshot(72, 2)
    incident("Outage", severity=2, declared_at=timezone.now() - timedelta(hours=3))
    oldest = timezone.now() - timedelta(hours=5)
    incident("Breach", severity=1, declared_at=oldest)
    incident("Old", severity=1, status=IncidentStatus.RESOLVED)
    personalization_services.crisis_mode_set(on=True, reason="Breach", actor=None)
    values = client_summary_compute()
    assert values["score"] == 72
    assert values["score_1h_ago"] == 40
    assert values["score_24h_ago"] == 20
    assert len(values["sparkline"]) == 24
    assert values["sparkline"][-1] in (55, 72) and max(v for v in values["sparkline"] if v is not None) == 72
    assert (values["open_incidents"], values["worst_severity"], values["oldest_open_at"]) == (2, 1, oldest)
    assert values["crisis_mode"] is True


def test_a_quiet_tenant_has_an_empty_summary(in_a):
    values = client_summary_compute()
    assert values["score"] is None and values["score_1h_ago"] is None
    assert values["sparkline"] == [None] * 24
    assert (values["open_incidents"], values["worst_severity"], values["crisis_mode"]) == (0, None, False)


def test_receivers_refresh_the_row_on_commit_only(world, django_capture_on_commit_callbacks):
    with tenant_context(world.a):
        with django_capture_on_commit_callbacks(execute=True):
            snapshot(66, 1)
        assert ClientRiskSummary.objects.get(tenant=world.a).score == 66
        with django_capture_on_commit_callbacks(execute=True):
            incident("Outage", severity=2)
        assert ClientRiskSummary.objects.get(tenant=world.a).open_incidents == 1
        with django_capture_on_commit_callbacks(execute=True):
            personalization_services.crisis_mode_set(on=True, reason="x", actor=None)
        assert ClientRiskSummary.objects.get(tenant=world.a).crisis_mode is True
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            snapshot(90, 0)
        assert callbacks  # queued for the commit; a rollback would drop it
        assert ClientRiskSummary.objects.get(tenant=world.a).score == 66


def test_rebuild_command_recomputes_every_client(world):
    with tenant_context(world.a):
        snapshot(33, 1)
    with tenant_context(world.b):
        snapshot(77, 1)
    call_command("portfolio_rebuild")
    scores = dict(ClientRiskSummary.objects.values_list("tenant__slug", "score"))
    assert scores == {"tenant-a": 33, "tenant-b": 77}


@pytest.fixture
def portfolio(world):
    """B joins the agency; B is riskier than A; a third client without any summary yet."""
    Tenant.objects.filter(pk=world.b.pk).update(agency=world.agency)
    ClientRiskSummary.objects.create(
        tenant=world.a, score=30, score_1h_ago=35, score_24h_ago=10, sparkline=[10, 30]
    )
    ClientRiskSummary.objects.create(
        tenant=world.b, score=81, score_1h_ago=60, open_incidents=2, worst_severity=1, crisis_mode=True
    )
    return world


def test_portfolio_sorted_by_risk_with_trend(api_for, portfolio):
    world = portfolio
    answer = _public(api_for, "ag_viewer").get(PORTFOLIO.format(world.agency.pk))
    assert answer.status_code == 200, answer.json()
    rows = answer.json()
    assert [r["slug"] for r in rows] == ["tenant-b", "tenant-a"]
    b, a = rows
    assert (b["band"], b["change_1h"], b["change_24h"], b["crisis_mode"], b["worst_severity"]) == (
        "high",
        21.0,
        None,
        True,
        1,
    )
    assert (a["change_1h"], a["change_24h"], a["sparkline"]) == (-5.0, 20.0, [10, 30])
    assert a["url"].endswith("/crisis/")


def test_only_the_agencys_own_clients_and_one_query(api_for, world):
    other = Agency.objects.create(name="Other", slug="other-agency")
    Tenant.objects.filter(pk=world.b.pk).update(agency=other)
    ClientRiskSummary.objects.create(tenant=world.b, score=99)
    api = _public(api_for, "ag_admin")
    rows = api.get(PORTFOLIO.format(world.agency.pk)).json()
    assert [r["slug"] for r in rows] == ["tenant-a"]
    assert rows[0]["score"] is None and rows[0]["band"] == "unknown"
    assert _public(api_for, "ag_admin").get(PORTFOLIO.format(other.pk)).status_code == 404
    assert _public(api_for, "a_owner").get(PORTFOLIO.format(world.agency.pk)).status_code == 404
    # Pinned: session, user, agency role, the portfolio (one query, however many clients).
    Tenant.objects.filter(pk=world.b.pk).update(agency=world.agency)
    with CaptureQueriesContext(connection) as context:
        assert len(api.get(PORTFOLIO.format(world.agency.pk)).json()) == 2
    assert len(data_queries(context)) == 4


def test_portfolio_page(api_for, portfolio):
    world = portfolio
    page = _public(api_for, "ag_viewer").get(f"/agency/{world.agency.pk}/portfolio/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("Tenant B") < html.index("Tenant A")
    assert "/go/tenant-b/?next=/crisis/" in html
    assert "worst SEV1" in html and "<polyline" in html
    assert _public(api_for, "a_owner").get(f"/agency/{world.agency.pk}/portfolio/").status_code == 404
