"""Scenario suggestion on written examples: from an alert (its rule, reasons and evidence mentions)
or a typed description, the scenario with the words that say so, and the tenant's active playbook
for it; an unclear text suggests no playbook."""

from __future__ import annotations

import pytest

from crisis import incident_selectors as selectors
from crisis import incident_services, playbook_services
from tests.crisis.incidents.conftest import make_alert

ALERTS = [
    (
        ["Is the status page lying? The API returns 503 errors for everyone", "Cannot log in since 9:40"],
        "service_outage",
    ),
    (
        ["A researcher published CVE-2026-4242, remote code execution in the VPN", "Patch when?"],
        "vulnerability_disclosure",
    ),
    (["Staff laid off by email this morning", "Hundreds of job cuts announced, no severance"], "layoffs"),
    (
        ["The hurricane flooded the data center", "Their region is offline after the storm"],
        "natural_disaster",
    ),
]


@pytest.mark.parametrize(("texts", "scenario"), ALERTS)
def test_an_alerts_evidence_suggests_its_scenario_and_playbook(tenant, texts, scenario):
    alert = make_alert(texts=texts)
    suggestion = incident_services.scenario_suggest(alert=alert)
    assert suggestion.scenario == scenario
    assert suggestion.playbook is not None and suggestion.playbook.scenario == scenario
    assert suggestion.evidence and all(hit["context"] for hit in suggestion.evidence)
    assert len(suggestion.mention_ids) == len(texts)


@pytest.mark.parametrize(
    ("description", "scenario"),
    [
        ("The CEO is accused of harassment by three former employees", "executive_misconduct"),
        ("Firmware 4.2 bricked thousands of routers overnight", "product_defect"),
        ("Wir sind Ziel eines Cyberangriffs geworden", "cyberattack"),
    ],
)
def test_a_typed_description_suggests_its_scenario(tenant, description, scenario):
    suggestion = incident_services.scenario_suggest(description=description)
    assert suggestion.scenario == scenario
    assert suggestion.playbook == selectors.playbook_for_scenario(scenario=scenario)


def test_an_unclear_text_suggests_no_playbook(tenant):
    suggestion = incident_services.scenario_suggest(description="Lovely weather for the team picnic today")
    assert suggestion.scenario == "unclear" and suggestion.playbook is None


def test_a_deactivated_playbook_is_not_suggested(tenant, access):
    playbook = selectors.playbook_for_scenario(scenario="layoffs")
    playbook_services.playbook_update(access=access(), playbook=playbook, is_active=False)
    suggestion = incident_services.scenario_suggest(description="Mass layoffs: 500 job cuts announced")
    assert suggestion.scenario == "layoffs" and suggestion.playbook is None
