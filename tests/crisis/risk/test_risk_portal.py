"""The risk page (/crisis/): score, waterfall, evidence, calibration in use, evaluate now and the
auto-pause setting, with their permissions; the risk panel on the listening dashboard."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crisis.models import RiskSnapshot, RiskState, RiskTrigger
from crisis.risk_services import risk_score_run
from tenants.models import AuditEvent

from .conftest import NOW, warm_up

pytestmark = pytest.mark.django_db


def _client(world, user: str) -> Client:
    client = Client(HTTP_HOST=world.host(world.a))
    client.force_login(world.users[user])
    return client


def test_the_page_shows_the_score_its_factors_evidence_and_calibration(surge, world):
    warm_up()
    risk_score_run(now=NOW)
    page = _client(world, "a_viewer").get("/crisis/")
    assert page.status_code == 200
    html = page.content.decode()
    with tenant_context(world.a):
        latest = RiskSnapshot.objects.order_by("-bucket_start").first()
    assert f'data-testid="risk-value">{latest.score:.0f}<' in html
    assert "Crisis language" in html and "Average moment" in html
    assert "Acme is down again" in html  # an evidence mention
    assert "Global (your own is fitted from 3 declared incidents" in html
    assert 'aria-current="page"' in html and 'href="/crisis/playbooks/"' in html
    # Viewers neither evaluate nor change settings.
    assert 'data-testid="risk-evaluate"' not in html and 'data-testid="risk-settings-save"' not in html


def test_the_empty_page_before_any_score(tenant_a, world):
    html = _client(world, "a_admin").get("/crisis/").content.decode()
    assert 'data-testid="risk-empty"' in html
    assert 'data-testid="risk-evaluate"' in html and 'data-testid="risk-settings-save"' in html


def test_evaluate_now_from_the_page(calm, world):
    response = _client(world, "a_analyst").post("/crisis/risk/evaluate/")
    assert response.status_code == 302 and response["Location"] == "/crisis/"
    with tenant_context(world.a):
        assert RiskSnapshot.objects.filter(trigger=RiskTrigger.ON_DEMAND).count() == 1
    assert _client(world, "a_viewer").post("/crisis/risk/evaluate/").status_code == 403


def test_the_auto_pause_setting_from_the_page_is_for_admins_and_audited(tenant_a, world):
    assert (
        _client(world, "a_analyst").post("/crisis/risk/settings/", {"auto_pause_threshold": "70"}).status_code
        == 403
    )
    admin = _client(world, "a_admin")
    assert admin.post("/crisis/risk/settings/", {"auto_pause_threshold": "70"}).status_code == 302
    assert RiskState.objects.get().auto_pause_threshold == 70
    assert "a score of <strong>70</strong>" in admin.get("/crisis/").content.decode()
    admin.post("/crisis/risk/settings/", {"auto_pause_threshold": "500"})  # refused, with a message
    assert RiskState.objects.get().auto_pause_threshold == 70
    admin.post("/crisis/risk/settings/", {"auto_pause_threshold": ""})
    assert RiskState.objects.get().auto_pause_threshold is None
    assert AuditEvent.objects.filter(action="risk.auto_pause.set").count() == 2


def test_the_listening_dashboard_has_a_risk_panel_fed_by_the_history_api(tenant_a, world):
    html = _client(world, "a_viewer").get("/listening/dashboard/").content.decode()
    assert 'data-panel="risk"' in html and 'data-endpoint="/api/v1/risk/history"' in html
