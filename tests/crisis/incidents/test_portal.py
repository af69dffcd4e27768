"""The portal's incident and playbook pages, without JS: declare by hand (preview of what will be
held, then confirm), the alert page's "Declare incident" button, the room's forms (task done, note,
resolve), and playbook edits whose errors are shown with where they are."""

from __future__ import annotations

import copy

import yaml
from django.test import Client
from django_tenants.utils import tenant_context

from crisis.models import Incident, IncidentStatus, Playbook, TaskStatus, TimelineKind
from personalization.post_models import PostStatus
from tests.conftest import World
from tests.crisis.incidents.conftest import make_alert, make_channel, make_scheduled


def on(world: World, user_key: str) -> Client:
    client = Client(HTTP_HOST="tenant-a.localhost")
    client.force_login(world.users[user_key])
    return client


def _form(world: World, **extra: str) -> dict[str, str]:
    return {
        "title": "Checkout outage",
        "summary": "",
        "scenario": "service_outage",
        "severity": "2",
        "owner": str(world.users["a_analyst"].pk),
        "playbook": "",
        "pause": "tenant",
        **extra,
    }


def test_declaring_by_hand_shows_what_will_be_held_before_confirming(world):
    with tenant_context(world.a):
        post = make_scheduled(make_channel("Website"), "Spring sale: 20% off everything")
        playbook = Playbook.objects.get(key="service-outage")
    client = on(world, "a_analyst")
    page = client.get("/crisis/incidents/declare/", {"description": "The checkout is down for everyone"})
    body = page.content.decode()
    assert page.status_code == 200 and 'data-testid="suggestion"' in body and "service_outage" in body
    assert 'value="confirm"' not in body  # no declaring before the preview

    preview = client.post(
        "/crisis/incidents/declare/", _form(world, playbook=str(playbook.pk), step="preview")
    )
    body = preview.content.decode()
    assert 'data-testid="pause-preview"' in body and "1 scheduled post will be held" in body
    assert "Spring sale" in body and 'value="confirm"' in body
    assert 'name="var_service"' in body  # the playbook's holding-statement values

    done = client.post(
        "/crisis/incidents/declare/",
        _form(world, playbook=str(playbook.pk), var_service="Checkout", step="confirm"),
    )
    with tenant_context(world.a):
        incident = Incident.objects.get()
        post.refresh_from_db()
        assert post.status == PostStatus.PAUSED
        assert incident.variables == {"service": "Checkout"}
        assert incident.owner_id == world.users["a_analyst"].pk
    assert done.status_code == 302 and done["Location"] == f"/crisis/incidents/{incident.pk}/"
    room = client.get(done["Location"]).content.decode()
    assert "Checkout outage" in room and "1 scheduled post held" in room


def test_an_invalid_declaration_shows_its_errors(world):
    client = on(world, "a_owner")
    answer = client.post("/crisis/incidents/declare/", _form(world, title="", step="confirm"))
    assert answer.status_code == 200 and "This field is required" in answer.content.decode()
    answer = client.post("/crisis/incidents/declare/", _form(world, pause="channels", step="preview"))
    assert "Choose the channels" in answer.content.decode()
    with tenant_context(world.a):
        assert not Incident.objects.exists()


def test_the_alert_page_offers_to_declare_and_the_form_starts_from_the_alert(world):
    with tenant_context(world.a):
        alert = make_alert(texts=["Ransomware hit their servers, attackers want bitcoin"])
    page = on(world, "a_analyst").get(f"/listening/alerts/{alert.pk}/").content.decode()
    assert f'href="/crisis/incidents/declare/?alert={alert.pk}"' in page
    assert (
        "Declare incident" not in on(world, "a_viewer").get(f"/listening/alerts/{alert.pk}/").content.decode()
    )
    form = on(world, "a_analyst").get(f"/crisis/incidents/declare/?alert={alert.pk}").content.decode()
    assert "cyberattack" in form and 'value="Mentions spike"' in form
    assert on(world, "a_analyst").get("/crisis/incidents/declare/?alert=99999").status_code == 404


def test_the_room_works_without_js(world, declare_in_a):
    incident = declare_in_a()
    client = on(world, "a_owner")
    room = client.get(f"/crisis/incidents/{incident.pk}/").content.decode()
    assert room.count('data-testid="task"') == 8 and 'data-testid="timeline"' in room
    assert f"/crisis/incidents/{incident.pk}/report/" in room and 'data-testid="statements"' in room
    with tenant_context(world.a):
        task = incident.tasks.order_by("position").first()
    client.post(f"/crisis/incidents/{incident.pk}/tasks/{task.pk}/", {"status": "done"})
    client.post(f"/crisis/incidents/{incident.pk}/notes/", {"text": "Status page updated"})
    client.post(f"/crisis/incidents/{incident.pk}/tasks/", {"title": "Brief the board"})
    client.post(
        f"/crisis/incidents/{incident.pk}/edit/", {"severity": "1", "owner": world.users["a_admin"].pk}
    )
    client.post(f"/crisis/incidents/{incident.pk}/status/resolve/", {"note": "Fixed"})
    with tenant_context(world.a):
        incident.refresh_from_db()
        task.refresh_from_db()
        assert task.status == TaskStatus.DONE and incident.status == IncidentStatus.RESOLVED
        assert incident.severity == 1 and incident.owner_id == world.users["a_admin"].pk
        kinds = set(incident.timeline.values_list("kind", flat=True))
        assert {TimelineKind.TASK, TimelineKind.NOTE, TimelineKind.SEVERITY, TimelineKind.STATUS} <= kinds
    assert client.post(f"/crisis/incidents/{incident.pk}/status/explode/").status_code == 404
    viewer = on(world, "a_viewer")
    assert viewer.get(f"/crisis/incidents/{incident.pk}/").status_code == 200
    assert viewer.post(f"/crisis/incidents/{incident.pk}/notes/", {"text": "x"}).status_code == 403
    assert viewer.get("/crisis/incidents/declare/").status_code == 403


def test_the_incident_list_filters(world, declare_in_a):
    declare_in_a(title="Breach of trust", scenario="data_breach")
    declare_in_a(title="Slow API")
    client = on(world, "a_viewer")
    body = client.get("/crisis/incidents/", {"scenario": "data_breach"}).content.decode()
    assert "Breach of trust" in body and "Slow API" not in body
    assert "Slow API" in client.get("/crisis/incidents/", {"status": "open"}).content.decode()
    assert "No incidents" in client.get("/crisis/incidents/", {"status": "closed"}).content.decode()


def test_playbook_edits_show_their_errors_where_they_are(world):
    with tenant_context(world.a):
        playbook = Playbook.objects.get(key="data-breach")
    client = on(world, "a_analyst")
    page = client.get("/crisis/playbooks/").content.decode()
    assert page.count('data-testid="playbook"') == 8
    detail = client.get(f"/crisis/playbooks/{playbook.pk}/?edit=yaml").content.decode()
    assert 'data-testid="yaml-form"' in detail
    broken = copy.deepcopy(playbook.definition)
    broken["steps"][0]["owner"] = "janitor"
    answer = client.post(f"/crisis/playbooks/{playbook.pk}/yaml/", {"yaml": yaml.safe_dump(broken)})
    assert answer.status_code == 200 and "steps/0/owner" in answer.content.decode()
    answer = client.post(f"/crisis/playbooks/{playbook.pk}/yaml/", {"yaml": "id: [unclosed"})
    assert answer.status_code == 200 and "line 1" in answer.content.decode()

    steps = playbook.definition["steps"]
    form = {"step-TOTAL_FORMS": str(len(steps)), "step-INITIAL_FORMS": str(len(steps))}
    for index, step in enumerate(steps):
        for key in ("id", "title", "owner", "due_minutes", "instructions"):
            form[f"step-{index}-{key}"] = str(step[key])
        form[f"step-{index}-channels"] = step.get("channels", [])
    form["step-0-due_minutes"] = "20000"  # past the week a step may take
    answer = client.post(f"/crisis/playbooks/{playbook.pk}/steps/", form)
    assert answer.status_code == 200 and "steps/0/due_minutes" in answer.content.decode()
    form["step-0-due_minutes"] = "0"
    form["step-0-title"] = "Open the incident room"
    assert client.post(f"/crisis/playbooks/{playbook.pk}/steps/", form).status_code == 302
    with tenant_context(world.a):
        playbook.refresh_from_db()
        assert playbook.definition["steps"][0]["title"] == "Open the incident room" and playbook.version == 2

    copy_answer = client.post(f"/crisis/playbooks/{playbook.pk}/duplicate/")
    assert copy_answer.status_code == 302
    client.post(f"/crisis/playbooks/{playbook.pk}/active/", {"active": "0"})
    with tenant_context(world.a):
        assert not Playbook.objects.get(pk=playbook.pk).is_active
        assert Playbook.objects.filter(key="data-breach-copy").exists()
    assert on(world, "a_viewer").post(f"/crisis/playbooks/{playbook.pk}/duplicate/").status_code == 403


def test_a_new_playbook_from_yaml(world):
    with tenant_context(world.a):
        base = Playbook.objects.get(key="layoffs").definition
    client = on(world, "a_owner")
    text = yaml.safe_dump({**base, "id": "office-closure", "name": "Office closure"})
    answer = client.post("/crisis/playbooks/new/", {"yaml": text})
    assert answer.status_code == 302
    taken = client.post("/crisis/playbooks/new/", {"yaml": text}).content.decode()
    assert "office-closure&#x27; exists already" in taken
