"""Tenant playbooks: the shipped ones are in every tenant (cloned from the template), `playbooks_sync`
adds newly shipped ones and updates untouched ones without overwriting a tenant's edits, and every
save through the API is validated, versioned and audited; errors are 400s that say where."""

from __future__ import annotations

import copy

import yaml
from django.core.management import call_command
from django_tenants.utils import tenant_context

from crisis import playbook_services
from crisis.models import Playbook, PlaybookOrigin
from crisis.playbooks import playbooks_shipped
from tenants.models import AuditAction, AuditEvent


def test_every_tenant_starts_with_the_shipped_playbooks(world):
    shipped = {p.id for p in playbooks_shipped().values()}
    for tenant in (world.a, world.b):
        with tenant_context(tenant):
            rows = Playbook.objects.filter(origin=PlaybookOrigin.SHIPPED)
            assert set(rows.values_list("key", flat=True)) == shipped
            assert rows.filter(is_active=True, version=1).count() == 8


def test_sync_adds_what_is_missing_and_keeps_the_tenants_edits(tenant, access):
    Playbook.objects.filter(key="layoffs").delete()
    edited = Playbook.objects.get(key="service-outage")
    changed = copy.deepcopy(edited.definition)
    changed["steps"][1]["due_minutes"] = 5
    playbook_services.playbook_update(access=access(), playbook=edited, definition=changed)
    # An older release's text the tenant never touched is brought up to date.
    stale = Playbook.objects.get(key="cyberattack")
    old = copy.deepcopy(stale.definition)
    old["summary"] = "An older summary of what to do in a cyberattack."
    Playbook.objects.filter(pk=stale.pk).update(definition=old)

    result = playbook_services.playbooks_sync()
    assert result.added == ["layoffs"]
    assert result.refreshed == ["cyberattack"]
    assert "service-outage" in result.kept
    edited.refresh_from_db()
    assert edited.definition["steps"][1]["due_minutes"] == 5 and edited.version == 2
    stale.refresh_from_db()
    assert stale.definition["summary"] != old["summary"] and stale.version == 2
    assert playbook_services.playbooks_sync().added == []


def test_the_command_syncs_every_tenant(world, capsys):
    with tenant_context(world.b):
        Playbook.objects.filter(key="layoffs").delete()
    call_command("playbooks_sync")
    with tenant_context(world.b):
        assert Playbook.objects.filter(key="layoffs").exists()
    assert "tenant-b: added 1" in capsys.readouterr().out


def _outage(tenant) -> Playbook:
    with tenant_context(tenant):
        return Playbook.objects.get(key="service-outage")


def test_a_bad_playbook_is_a_400_that_says_where(world, api_for):
    api = api_for("a_analyst")
    playbook = _outage(world.a)
    broken = copy.deepcopy(playbook.definition)
    broken["steps"][2]["due_minutes"] = -3
    answer = api.patch(f"/api/v1/playbooks/{playbook.pk}", {"definition": broken})
    assert answer.status_code == 400
    assert "steps/2/due_minutes" in answer.json()["error"]["fields"]["definition"][0]

    answer = api.patch(f"/api/v1/playbooks/{playbook.pk}", {"yaml": "id: x\nsteps: [\n"})
    assert answer.status_code == 400
    assert "line" in answer.json()["error"]["fields"]["definition"][0]

    undeclared = copy.deepcopy(playbook.definition)
    undeclared["templates"][0]["text"] += " Ask {nobody}."
    answer = api.patch(f"/api/v1/playbooks/{playbook.pk}", {"definition": undeclared})
    assert answer.status_code == 400 and "nobody" in answer.json()["error"]["message"]

    renamed = {**playbook.definition, "id": "other-id"}
    answer = api.patch(f"/api/v1/playbooks/{playbook.pk}", {"definition": renamed})
    assert answer.status_code == 400 and "id" in answer.json()["error"]["message"]
    assert api.patch(f"/api/v1/playbooks/{playbook.pk}", {}).status_code == 400
    with tenant_context(world.a):
        assert Playbook.objects.get(pk=playbook.pk).version == 1


def test_edit_duplicate_create_and_deactivate_through_the_api(world, api_for):
    api = api_for("a_analyst")
    playbook = _outage(world.a)
    text = yaml.safe_dump({**playbook.definition, "name": "Outage (our way)"}, sort_keys=False)
    answer = api.patch(f"/api/v1/playbooks/{playbook.pk}", {"yaml": text})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["name"] == "Outage (our way)" and answer.json()["version"] == 2

    copy_answer = api.post(f"/api/v1/playbooks/{playbook.pk}/duplicate")
    assert copy_answer.status_code == 201
    body = copy_answer.json()
    assert body["key"] == "service-outage-copy" and body["origin"] == "custom"
    assert api.post(f"/api/v1/playbooks/{playbook.pk}/duplicate").json()["key"] == "service-outage-copy-2"

    own = {**playbook.definition, "id": "dns-outage", "name": "DNS outage"}
    created = api.post("/api/v1/playbooks", {"definition": own})
    assert created.status_code == 201 and created.json()["key"] == "dns-outage"
    assert api.post("/api/v1/playbooks", {"definition": own}).status_code == 400  # the id is taken

    off = api.patch(f"/api/v1/playbooks/{playbook.pk}", {"is_active": False})
    assert off.json()["is_active"] is False and off.json()["version"] == 3
    listed = api.get("/api/v1/playbooks", {"scenario": "service_outage", "active": "true"}).json()["results"]
    assert {p["key"] for p in listed} == {"service-outage-copy", "service-outage-copy-2", "dns-outage"}
    audited = AuditEvent.objects.filter(action=AuditAction.PLAYBOOK_CHANGED, tenant=world.a)
    assert audited.count() == 5


def test_viewers_read_playbooks_and_cannot_change_them(world, api_for):
    playbook = _outage(world.a)
    viewer = api_for("a_viewer")
    assert viewer.get("/api/v1/playbooks").status_code == 200
    assert viewer.get(f"/api/v1/playbooks/{playbook.pk}").json()["key"] == "service-outage"
    assert viewer.patch(f"/api/v1/playbooks/{playbook.pk}", {"is_active": False}).status_code == 403
    assert viewer.post(f"/api/v1/playbooks/{playbook.pk}/duplicate").status_code == 403
    read_token = api_for("a_admin", scope="read")
    assert read_token.patch(f"/api/v1/playbooks/{playbook.pk}", {"is_active": False}).status_code == 403


def test_another_tenants_playbook_is_not_found(world, api_for):
    playbook = _outage(world.b)
    api = api_for("a_owner")
    with tenant_context(world.a):
        Playbook.objects.filter(pk=playbook.pk).delete()  # ids can coincide across schemas
    assert api.get(f"/api/v1/playbooks/{playbook.pk}").status_code == 404
    assert api.patch(f"/api/v1/playbooks/{playbook.pk}", {"is_active": False}).status_code == 404
    outsider = api_for("b_owner", tenant=world.a)
    assert outsider.get("/api/v1/playbooks").status_code == 404


def test_the_yaml_to_edit_reads_in_the_shipped_order_and_round_trips(tenant):
    playbook = Playbook.objects.get(key="data-breach")
    text = playbook_services.playbook_as_yaml(definition=playbook.definition)
    assert [
        line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace() and line[0] != "-"
    ] == [
        "id",
        "scenario",
        "name",
        "summary",
        "variables",
        "steps",
        "templates",
    ]
    assert text.index("  title:") < text.index("  owner:") < text.index("  due_minutes:")
    assert playbook_services.playbook_document(text=text) == playbook.definition
