"""Declaring an incident: from an alert (first signal, detection, the alert on the timeline), by
hand; its playbook's tasks with their due times and owners, its roles, and crisis mode (posts held
with the incident as reason, exactly what the preview showed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from crisis import incident_selectors as selectors
from crisis import incident_services, playbook_services
from crisis.aftermath_models import CrisisModeSwitch
from crisis.models import IncidentSource, PlaybookOrigin, RiskSnapshot, TimelineKind
from crisis.playbooks import Role
from personalization.models import CrisisModeChange
from personalization.post_models import PostStatus, PublishingState, ScheduledPost
from tenants.models import AuditAction, AuditEvent
from tests.crisis.incidents.conftest import make_alert, make_channel, make_scheduled


def test_declaring_from_an_alert_opens_the_room_and_pauses_every_scheduled_post(tenant, access):
    alert = make_alert(texts=["The dashboard is down for everyone, 503 errors since 9:40"])
    web, mail = make_channel("Website"), make_channel("Newsletter")
    posts = [make_scheduled(web, "Spring sale!"), make_scheduled(mail, "New webinar", hours=5)]
    preview = selectors.incident_pause_preview(mode="tenant", channels=[])
    assert [p.pk for p in preview] == [p.pk for p in posts]

    declared = incident_services.incident_declare(
        access=access("a_analyst"),
        title="Dashboard outage",
        scenario="service_outage",
        severity=1,
        alert=alert,
        variables={"service": "the dashboard", "company": "Acme"},
        pause="tenant",
    )
    incident = declared.incident
    incident.refresh_from_db()

    assert incident.source == IncidentSource.ALERT
    assert incident.first_signal_at == alert.window_start
    assert incident.detected_at == alert.fired_at
    assert incident.owner_id == tenant.users["a_analyst"].pk  # the declarer, by default
    assert incident.playbook is not None and incident.playbook.key == "service-outage"
    assert incident.playbook_snapshot == incident.playbook.definition
    assert incident.variables == {"service": "the dashboard", "company": "Acme"}

    steps = incident.playbook_snapshot["steps"]
    tasks = list(incident.tasks.order_by("position"))
    assert [t.step_id for t in tasks] == [s["id"] for s in steps]
    for task, step in zip(tasks, steps, strict=True):
        assert task.due_at == incident.declared_at + timedelta(minutes=step["due_minutes"])
        assert task.role == step["owner"]
        assert task.owner_id == incident.owner_id  # roles nobody holds fall to the owner
    assert list(incident.roles.values_list("role", "user_id")) == [
        (Role.INCIDENT_COMMANDER, incident.owner_id)
    ]

    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds == [TimelineKind.DECLARED, TimelineKind.ALERT, TimelineKind.POSTS_PAUSED]
    paused_entry = incident.timeline.get(kind=TimelineKind.POSTS_PAUSED)
    assert sorted(paused_entry.data["posts"]) == sorted(p.pk for p in preview)
    assert CrisisModeSwitch.objects.get(pk=paused_entry.data["switch"]).incident == incident
    assert sorted(declared.held_post_ids) == sorted(p.pk for p in preview)

    reason = f"Incident #{incident.pk}: Dashboard outage"
    for post in ScheduledPost.objects.filter(pk__in=[p.pk for p in posts]):
        assert post.status == PostStatus.PAUSED
        assert reason in post.pause_reason
    assert PublishingState.objects.get().is_paused
    assert CrisisModeChange.objects.filter(on=True, reason=reason).exists()
    assert AuditEvent.objects.filter(
        action=AuditAction.INCIDENT_DECLARED, tenant=tenant.a, target=f"incident {incident.pk}"
    ).exists()


def test_declaring_can_pause_only_the_chosen_channels(tenant, access):
    web, mail = make_channel("Website"), make_channel("Newsletter")
    held, free = make_scheduled(web, "Spring sale!"), make_scheduled(mail, "New webinar")
    preview = selectors.incident_pause_preview(mode="channels", channels=[web])
    assert [p.pk for p in preview] == [held.pk]

    declared = incident_services.incident_declare(
        access=access(), title="Leak", scenario="data_breach", pause="channels", channel_ids=[web.pk]
    )
    incident = declared.incident
    held.refresh_from_db()
    free.refresh_from_db()
    web.refresh_from_db()
    reason = f"Crisis mode: Incident #{incident.pk}: Leak"
    assert held.status == PostStatus.PAUSED and held.pause_reason == reason
    assert free.status == PostStatus.SCHEDULED
    assert web.is_paused and web.pause_reason == reason
    assert not PublishingState.objects.filter(is_paused=True).exists()
    assert declared.held_post_ids == [held.pk]
    assert incident.paused_channel_ids == [web.pk]


def test_a_declaration_by_hand_pausing_nothing_holds_no_post(tenant, declare):
    post = make_scheduled(make_channel("Website"), "Spring sale!")
    incident = declare()
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    assert incident.source == IncidentSource.MANUAL
    assert not incident.pauses_posts
    assert list(incident.timeline.values_list("kind", flat=True)) == [TimelineKind.DECLARED]
    assert incident.first_signal_at is None and incident.detected_at is None


def test_the_first_signal_is_the_start_of_the_alerting_risk_episode(tenant, declare):
    alert = make_alert(texts=["Cannot log in"], minutes_ago=30)
    start = alert.window_start.replace(second=0, microsecond=0)
    buckets = [start - timedelta(minutes=5 * n) for n in (6, 5, 4, 3)]
    for index, bucket in enumerate(buckets):
        RiskSnapshot.objects.create(
            bucket_start=bucket,
            score=20 if index == 0 else 70,
            probability_6h=0.5,
            probability_24h=0.6,
            base=5,
            alert=index > 0,  # the first is calm: the episode starts with the second
            model_version="t",
        )
    incident = declare(alert=alert)
    assert incident.first_signal_at == buckets[1]
    assert incident.detected_at == alert.fired_at


def test_the_suggested_playbook_is_the_tenants_own_active_one(tenant, access, declare):
    shipped = selectors.playbook_list(scenario="data_breach").get(origin=PlaybookOrigin.SHIPPED)
    copy = playbook_services.playbook_duplicate(access=access(), playbook=shipped)
    assert declare(scenario="data_breach").playbook == copy
    playbook_services.playbook_update(access=access(), playbook=copy, is_active=False)
    assert declare(scenario="data_breach").playbook == shipped


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "  "}, "title"),
        ({"scenario": "alien_invasion"}, "scenario"),
        ({"severity": 9}, "severity"),
        ({"variables": {"nope": "x"}}, "variables.nope"),
        ({"pause": "channels", "channel_ids": []}, "channels"),
        ({"pause": "channels", "channel_ids": [999999]}, "channels"),
        ({"pause": "sometimes"}, "pause"),
    ],
)
def test_bad_declarations_name_the_field(tenant, declare, overrides, field):
    with pytest.raises(ValidationError) as error:
        declare(**overrides)
    assert field in error.value.message_dict


def test_the_owner_must_be_a_member_of_the_tenant(tenant, declare):
    with pytest.raises(ValidationError) as error:
        declare(owner_id=tenant.users["b_owner"].pk)
    assert "owner" in error.value.message_dict
    # An agency's member reaches its client tenant, so they may own its incidents.
    assert declare(owner_id=tenant.users["ag_admin"].pk).owner_id == tenant.users["ag_admin"].pk


def test_viewers_and_approvers_cannot_declare(tenant, declare, access):
    for role in ("a_viewer", "a_approver"):
        with pytest.raises(PermissionDenied):
            declare(access=access(role))


def test_the_same_idempotency_key_answers_the_first_incident(tenant, access):
    args = {"access": access(), "title": "Outage", "scenario": "service_outage", "pause": "none"}
    first = incident_services.incident_declare(idempotency_key="k-1", **args)
    again = incident_services.incident_declare(idempotency_key="k-1", **args)
    assert again.replayed and again.incident.pk == first.incident.pk
    with pytest.raises(incident_services.IdempotencyConflict):
        incident_services.incident_declare(idempotency_key="k-1", **{**args, "title": "Other"})


def test_declared_at_drives_due_times_even_for_a_late_step(tenant, declare):
    before = timezone.now()
    incident = declare(scenario="layoffs")
    last = incident.tasks.order_by("-position").first()
    step = incident.playbook_snapshot["steps"][-1]
    assert last.due_at - incident.declared_at == timedelta(minutes=step["due_minutes"])
    assert incident.declared_at >= before
