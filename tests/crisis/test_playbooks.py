"""The shipped playbooks load and validate; the loader rejects what is wrong with a clear error;
every template, filled with realistic values, passes the tone check."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from crisis.playbooks import (
    PLAYBOOK_DIR,
    PlaybookError,
    Role,
    playbook_load,
    playbook_parse,
    playbooks_shipped,
    template_render,
    template_variables,
)
from crisis.scenarios import Scenario
from crisis.tone.check import tone_check

# Values a comms lead would type in, for every variable any shipped playbook declares.
VALUES = {
    "company": "Acme Cloud",
    "service": "Acme Cloud Storage",
    "impact": "open or sync your files",
    "start_time": "09:40 UTC",
    "next_update": "11:30 UTC",
    "status_page_url": "https://status.acme.example",
    "support_contact": "support@acme.example",
    "data_types": "names, email addresses and hashed passwords",
    "discovery_time": "2 December at 08:15 UTC",
    "protective_steps": "reset your Acme password and turn on two-factor sign-in",
    "help_url": "https://acme.example/security-incident",
    "product": "Acme Sync 4.2 for Windows",
    "defect": "delete files in shared folders during sync",
    "workaround": "pause syncing from the tray icon and do not update until the fix is out",
    "cve_id": "CVE-2026-31337",
    "mitigation": "disable the remote admin console or restrict it to your VPN",
    "patch_eta": "within 48 hours",
    "advisory_url": "https://acme.example/security/advisories/2026-07",
    "role": "our chief technology officer",
    "allegation": "inappropriate conduct towards employees",
    "interim_measure": "placed him on leave",
    "contact": "speakup@acme.example",
    "number": "about 300 colleagues, 12% of the team",
    "reason": "our growth slowed and we hired ahead of demand",
    "support": "four months' pay, a year of health cover and help finding their next role",
    "event": "the flooding in Valencia",
}


def _shipped_data(name: str) -> dict[str, Any]:
    return yaml.safe_load((PLAYBOOK_DIR / name).read_text())


def test_one_playbook_per_scenario_with_owners_and_deadlines() -> None:
    playbooks = playbooks_shipped()
    assert set(playbooks) == {scenario.value for scenario in Scenario}
    for playbook in playbooks.values():
        assert playbook.steps[0].due_minutes == 0, playbook.id  # declaration first
        assert {step.owner for step in playbook.steps} <= {role.value for role in Role}
        # A public statement is always a step with a deadline, owned by comms.
        assert any(step.owner == Role.COMMS_LEAD for step in playbook.steps), playbook.id
        assert all(step.channels for step in playbook.steps), playbook.id


@pytest.mark.parametrize("scenario", [scenario.value for scenario in Scenario])
@pytest.mark.embedder
def test_templates_filled_pass_the_tone_check(scenario: str, emotion_model: Any) -> None:
    playbook = playbooks_shipped()[scenario]
    for template in playbook.templates:
        text = template_render(template, VALUES)
        assert "{" not in text
        report = tone_check(text, apology_due=True, model=emotion_model)
        assert report.flags == [], (template.id, report.reasons)
        assert report.missing == [], (template.id, report.reasons)
        assert report.verdict == "ready", (template.id, report.reasons)


def test_render_names_every_missing_variable() -> None:
    template = playbooks_shipped()["service_outage"].template("holding-statement")
    values = {k: v for k, v in VALUES.items() if k not in {"next_update", "status_page_url"}}
    with pytest.raises(PlaybookError, match=r"no value for \{next_update\}, \{status_page_url\}"):
        template_render(template, values)
    with pytest.raises(PlaybookError, match=r"empty value for \{company\}"):
        template_render(template, {**VALUES, "company": "  "})


def test_render_fills_values_verbatim() -> None:
    template = playbooks_shipped()["service_outage"].template("holding-statement")
    # A value with braces is text, not a placeholder: format_map never re-reads what it inserts.
    text = template_render(template, {**VALUES, "company": "Acme {service}"})
    assert "rely on Acme {service} for your work" in text


def test_undeclared_and_unused_variables_are_rejected() -> None:
    data = _shipped_data("service_outage.yaml")
    broken = copy.deepcopy(data)
    broken["templates"][0]["text"] += " Ticket {ticket_id}."
    with pytest.raises(PlaybookError, match=r"uses undeclared variables \['ticket_id'\]"):
        playbook_parse(broken)
    unused = copy.deepcopy(data)
    unused["variables"]["region"] = "the affected region"
    with pytest.raises(PlaybookError, match=r"declared but used by no template \['region'\]"):
        playbook_parse(unused)


@pytest.mark.parametrize(
    ("placeholder", "message"),
    [
        ("{company.__class__}", "is not a plain"),
        ("{company[0]}", "is not a plain"),
        ("{company:>40}", "is not a plain"),
        ("{0}", "is not a plain"),
        ("{company", "literal brace"),
    ],
)
def test_placeholders_must_be_plain_names(placeholder: str, message: str) -> None:
    with pytest.raises(PlaybookError, match=message):
        template_variables(f"Hello {placeholder} world")


def test_schema_errors_say_where() -> None:
    data = _shipped_data("data_breach.yaml")
    data["steps"][1]["owner"] = "intern"
    data["steps"][2]["due_minutes"] = -5
    data["scenario"] = "alien_invasion"
    with pytest.raises(PlaybookError) as error:
        playbook_parse(data, source="custom.yaml")
    message = str(error.value)
    assert "custom.yaml does not match the playbook schema" in message
    assert "scenario: 'alien_invasion' is not one of" in message
    assert "steps/1/owner: 'intern' is not one of" in message
    assert "steps/2/due_minutes: -5 is less than the minimum of 0" in message


def test_steps_out_of_order_and_duplicate_ids_are_rejected() -> None:
    data = _shipped_data("layoffs.yaml")
    data["steps"][1]["due_minutes"] = 999
    data["steps"][2]["id"] = data["steps"][0]["id"]
    with pytest.raises(PlaybookError, match=r"duplicate ids.*not in the order of their deadlines"):
        playbook_parse(data)


def test_yaml_tags_and_bad_yaml_are_refused(tmp_path: Any) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text("id: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(PlaybookError, match="not valid YAML"):
        playbook_load(evil)
    not_a_mapping = tmp_path / "list.yaml"
    not_a_mapping.write_text("- just\n- a list\n")
    with pytest.raises(PlaybookError, match="is not of type 'object'"):
        playbook_load(not_a_mapping)
