"""An agency admin pauses and resumes several clients in one audited action: the per-client
preview, only the agency's own clients, one audit event per client plus one for the action, each
client's crisis-mode history naming the agency, a failing client reported without undoing the
others; viewers see but cannot act; the agency pages."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from crisis.aftermath_models import CrisisModeSwitch
from personalization import services as personalization_services
from personalization.models import CrisisModeChange
from personalization.post_models import PostStatus, ScheduledPost
from tenants.models import Agency, AuditAction, AuditEvent, Tenant
from tests.crisis.aftermath.conftest import pass_time, post


@pytest.fixture
def two_clients(world, channels):
    """Tenant B joins the agency; A has two scheduled posts, B one."""
    Tenant.objects.filter(pk=world.b.pk).update(agency=world.agency)
    post(channels["Newsletter"])
    post(channels["Status updates"], hours=4)
    with tenant_context(world.b):
        from personalization import post_services

        channel = post_services.publishing_channel_create(
            name="B news", kind="email", consent_purpose="outreach"
        )
        post(channel)
    return world


def base(world):
    return f"/api/v1/agencies/{world.agency.pk}/crisis-mode"


def _public(api_for, user):
    return api_for(user, tenant=Tenant.objects.get(schema_name="public"))


def test_preview_per_client(api_for, two_clients):
    world = two_clients
    api = _public(api_for, "ag_viewer")
    answer = api.get(f"{base(world)}/preview", {"tenants": f"{world.a.pk},{world.b.pk}"})
    assert answer.status_code == 200, answer.json()
    counts = {c["slug"]: c["detail"]["count"] for c in answer.json()["clients"]}
    assert counts == {"tenant-a": 2, "tenant-b": 1}


def test_pause_and_resume_several_clients_in_one_audited_action(api_for, two_clients):
    world = two_clients
    admin = _public(api_for, "ag_admin")
    answer = admin.post(
        f"{base(world)}/pause", {"tenants": [world.a.pk, world.b.pk], "reason": "Cloud provider outage"}
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["succeeded"], body["failed"]) == (2, 0)
    assert {c["slug"]: c["detail"]["held"] for c in body["clients"]} == {"tenant-a": 2, "tenant-b": 1}
    for tenant in (world.a, world.b):
        with tenant_context(tenant):
            switch = CrisisModeSwitch.objects.get()
            assert (switch.on, switch.agency_label, switch.actor_label) == (
                True,
                "Agency Ag",
                "ag-admin@example.com",
            )
            change = CrisisModeChange.objects.get()
            assert change.reason == "Cloud provider outage (agency Agency Ag)"
            assert change.actor == f"user:{world.users['ag_admin'].pk}"
            assert set(ScheduledPost.objects.values_list("status", flat=True)) == {PostStatus.PAUSED}
    per_client = AuditEvent.objects.filter(action=AuditAction.CRISIS_MODE_ON)
    assert sorted(per_client.values_list("tenant__slug", flat=True)) == ["tenant-a", "tenant-b"]
    assert set(per_client.values_list("agency_id", flat=True)) == {world.agency.pk}
    action = AuditEvent.objects.get(action=AuditAction.AGENCY_PAUSE)
    assert action.details["succeeded"] == ["tenant-a", "tenant-b"]
    assert action.actor == world.users["ag_admin"]

    resumed = admin.post(
        f"{base(world)}/resume", {"tenants": [world.a.pk, world.b.pk], "reason": "Provider is back"}
    )
    assert resumed.json()["succeeded"] == 2
    with tenant_context(world.b):
        assert set(ScheduledPost.objects.values_list("status", flat=True)) == {PostStatus.SCHEDULED}
    assert AuditEvent.objects.filter(action=AuditAction.CRISIS_MODE_OFF).count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.AGENCY_RESUME).count() == 1


def test_a_client_of_another_agency_is_refused_and_nothing_happens(api_for, world, channels):
    post(channels["Newsletter"])
    other = Agency.objects.create(name="Other", slug="other-agency")
    Tenant.objects.filter(pk=world.b.pk).update(agency=other)
    admin = _public(api_for, "ag_admin")
    for ids in ([world.a.pk, world.b.pk], [world.b.pk], [999999]):
        answer = admin.post(f"{base(world)}/pause", {"tenants": ids, "reason": "x"})
        assert answer.status_code == 400, answer.json()
        assert "tenants" in answer.json()["error"]["fields"]
    assert admin.get(f"{base(world)}/preview", {"tenants": str(world.b.pk)}).status_code == 400
    with tenant_context(world.a):
        assert not CrisisModeSwitch.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.AGENCY_PAUSE).exists()


def test_a_failing_client_is_reported_and_the_others_keep_their_pause(api_for, two_clients):
    world = two_clients
    with tenant_context(world.a):
        personalization_services.crisis_mode_set(on=True, reason="already", actor=None)
    admin = _public(api_for, "ag_admin")
    body = admin.post(
        f"{base(world)}/pause", {"tenants": [world.a.pk, world.b.pk], "reason": "Outage"}
    ).json()
    outcome = {c["slug"]: c for c in body["clients"]}
    assert (body["succeeded"], body["failed"]) == (1, 1)
    assert not outcome["tenant-a"]["ok"] and "on already" in outcome["tenant-a"]["error"]
    assert outcome["tenant-b"]["ok"]
    with tenant_context(world.b):
        assert CrisisModeSwitch.objects.get().on
    with tenant_context(world.a):
        assert not CrisisModeSwitch.objects.exists()  # its transaction rolled back alone
    action = AuditEvent.objects.get(action=AuditAction.AGENCY_PAUSE)
    assert action.details["succeeded"] == ["tenant-b"]
    assert "tenant-a" in action.details["failed"]
    # Resuming: B's held post whose time passed needs a person in the workspace.
    with tenant_context(world.b):
        pass_time(ScheduledPost.objects.get())
    resumed = admin.post(f"{base(world)}/resume", {"tenants": [world.b.pk], "reason": "over"}).json()
    assert resumed["failed"] == 1
    assert "passed while it was held" in resumed["clients"][0]["error"]


def test_viewers_see_strangers_find_nothing_bad_input(api_for, two_clients):
    world = two_clients
    viewer = _public(api_for, "ag_viewer")
    assert viewer.post(f"{base(world)}/pause", {"tenants": [world.a.pk], "reason": "x"}).status_code == 403
    stranger = _public(api_for, "a_admin")  # an admin of tenant A, not agency staff
    assert stranger.get(f"{base(world)}/preview", {"tenants": str(world.a.pk)}).status_code == 404
    assert stranger.post(f"{base(world)}/pause", {"tenants": [world.a.pk], "reason": "x"}).status_code == 404
    admin = _public(api_for, "ag_admin")
    for body, field in (
        ({"tenants": [], "reason": "x"}, "tenants"),
        ({"tenants": ["a"], "reason": "x"}, "tenants.0"),
        ({"tenants": [world.a.pk], "reason": ""}, "reason"),
        ({"tenants": [world.a.pk], "reason": "   "}, "reason"),
    ):
        answer = admin.post(f"{base(world)}/pause", body)
        assert answer.status_code == 400, body
        assert field in answer.json()["error"]["fields"], (body, answer.json())
    assert admin.get(f"{base(world)}/preview", {"tenants": "1,²"}).status_code == 400


def test_agency_page_preview_and_pause(api_for, two_clients):
    world = two_clients
    admin = _public(api_for, "ag_admin")
    page_url = f"/agency/{world.agency.pk}/crisis-mode/"
    preview = admin.get(page_url, {"preview": "1", "tenant": [str(world.a.pk), str(world.b.pk)]})
    assert preview.status_code == 200
    assert b"2 posts" in preview.content and b"1 post" in preview.content
    done = admin.client.post(
        page_url, {"tenant": [str(world.a.pk), str(world.b.pk)], "reason": "Outage", "action": "pause"}
    )
    assert done.status_code == 200
    assert done.content.count(b"posts held") == 2
    viewer = _public(api_for, "ag_viewer")
    assert (
        viewer.client.post(
            page_url, {"tenant": [str(world.a.pk)], "reason": "x", "action": "pause"}
        ).status_code
        == 403
    )
    assert _public(api_for, "a_admin").get(page_url).status_code == 404
    refused = admin.client.post(page_url, {"tenant": ["999999"], "reason": "x", "action": "pause"})
    assert refused.status_code == 400
