"""An analyst declares an incident by hand (previewing what crisis mode would hold), works the
incident room (completes a task, adds a note) and resolves it; and adapts a playbook, whose
invalid edit is refused with where it is wrong. The README's incident room screenshot is taken here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from crisis.models import Incident, Playbook
from tests.browser.conftest import SCREENSHOTS, LiveServer, open_workspace, sign_in
from tests.browser.test_screenshots import shoot
from tests.conftest import World

pytestmark = pytest.mark.browser


@pytest.fixture
def crisis_rows(committed: World) -> Iterator[None]:
    """Incidents and playbooks as they were: what the test declares or copies is removed, and the
    playbooks it edits are put back."""
    with tenant_context(committed.a):
        incidents = set(Incident.objects.values_list("pk", flat=True))
        playbooks = {
            p.pk: (p.definition, p.version, p.is_active, p.updated_by_id) for p in Playbook.objects.all()
        }
    try:
        yield
    finally:
        with tenant_context(committed.a):
            Incident.objects.exclude(pk__in=incidents).delete()
            Playbook.objects.exclude(pk__in=playbooks).delete()
            for pk, (definition, version, active, by) in playbooks.items():
                Playbook.objects.filter(pk=pk).update(
                    definition=definition, version=version, is_active=active, updated_by_id=by
                )


def test_declare_by_hand_work_the_room_and_resolve(page: Page, live: LiveServer, crisis_rows: None) -> None:
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/crisis/incidents/")
    page.get_by_role("link", name="Declare an incident").click()

    form = page.get_by_test_id("declare-form")
    form.get_by_label("Title", exact=True).fill("Checkout is down")
    form.get_by_label("Scenario").select_option("service_outage")
    form.get_by_label("Severity").select_option("1")
    form.get_by_label("Playbook").select_option(label="Service outage (Service outage, v1)")
    form.get_by_label("Do not pause posts").check()
    form.get_by_role("button", name="Preview what will be held").click()
    expect(page.get_by_test_id("pause-preview")).to_contain_text("0 scheduled posts will be held")
    page.get_by_test_id("declare-form").get_by_label("service", exact=True).fill("Checkout")
    page.get_by_role("button", name="Declare incident").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Checkout is down")
    expect(page.get_by_test_id("incident-status")).to_have_text("Declared")
    tasks = page.get_by_test_id("task")
    expect(tasks).to_have_count(8)
    tasks.first.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("task").first).to_contain_text("Done")
    page.get_by_label("Note", exact=True).fill("Bridge open; the payment provider confirms the fault.")
    page.get_by_role("button", name="Add note").click()
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Task done: Declare the incident and open the incident room")
    expect(timeline).to_contain_text("Bridge open; the payment provider confirms the fault.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "incident-room")

    page.get_by_label("Resolution note").fill("Provider fixed; checkout works again.")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_test_id("incident-status")).to_have_text("Resolved")
    expect(page.get_by_test_id("timeline")).to_contain_text("Incident resolved. Provider fixed")


def test_adapt_a_playbook(page: Page, live: LiveServer, crisis_rows: None) -> None:
    sign_in(page, live, "a-analyst@example.com")
    open_workspace(page, "tenant-a")
    page.goto(f"{live.tenant('tenant-a')}/crisis/playbooks/")
    expect(page.get_by_test_id("playbook")).to_have_count(8)
    page.get_by_role("link", name="Data breach", exact=True).click()
    expect(page.get_by_test_id("playbook-steps")).to_be_visible()
    page.get_by_role("link", name="Edit as YAML").click()
    editor = page.get_by_label("Playbook (YAML)")
    editor.fill(editor.input_value().replace("owner: legal", "owner: janitor", 1))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("yaml-form")).to_contain_text("/owner: 'janitor' is not one of")
    shoot(page, "playbook-edit")

    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Data breach (copy)")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_text("Playbook deactivated.")).to_be_visible()
