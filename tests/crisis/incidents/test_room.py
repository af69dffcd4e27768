"""The incident room's changes record themselves on the timeline: severity, owner and roles (open
tasks follow their role's holder), tasks (done, skipped, reopened, reassigned, added), notes, and
the status (resolve, close only when resolved, reopen from resolved; a closed incident is final)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from crisis import incident_services as services
from crisis.models import IncidentStatus, TaskStatus, TimelineKind
from crisis.playbooks import Role
from tenants.models import AuditAction, AuditEvent


def _last(incident):
    return incident.timeline.order_by("-at", "-id").first()


def test_severity_and_owner_changes_are_on_the_timeline(tenant, access, declare):
    incident = declare()
    analyst = tenant.users["a_analyst"]
    services.incident_update(access=access(), incident=incident, severity=1, owner_id=analyst.pk)
    incident.refresh_from_db()
    assert incident.severity == 1 and incident.owner_id == analyst.pk
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds[-2:] == [TimelineKind.SEVERITY, TimelineKind.OWNER]
    severity = incident.timeline.get(kind=TimelineKind.SEVERITY)
    assert severity.data == {"from": 2, "to": 1} and "SEV1" in severity.text
    assert severity.actor_id == tenant.users["a_owner"].pk
    # The new owner is incident commander and takes over the commander's open tasks.
    assert incident.roles.get(role=Role.INCIDENT_COMMANDER).user_id == analyst.pk
    assert set(incident.tasks.values_list("owner_id", flat=True)) == {analyst.pk}


def test_a_role_given_takes_its_open_tasks_and_taking_it_back_returns_them(tenant, access, declare):
    incident = declare()
    owner, admin = tenant.users["a_owner"], tenant.users["a_admin"]
    comms = incident.tasks.filter(role=Role.COMMS_LEAD)
    first = comms.first()
    services.task_update(access=access(), task=first, status="done")
    services.incident_role_set(access=access(), incident=incident, role=Role.COMMS_LEAD, user_id=admin.pk)
    open_comms = comms.filter(status=TaskStatus.OPEN)
    assert set(open_comms.values_list("owner_id", flat=True)) == {admin.pk}
    assert comms.get(pk=first.pk).owner_id == owner.pk  # done work stays with who did it
    assert incident.tasks.exclude(role=Role.COMMS_LEAD).filter(owner_id=admin.pk).count() == 0
    entry = _last(incident)
    assert entry.kind == TimelineKind.OWNER and entry.data["tasks_moved"] == open_comms.count()
    services.incident_role_set(access=access(), incident=incident, role=Role.COMMS_LEAD, user_id=None)
    assert set(open_comms.values_list("owner_id", flat=True)) == {owner.pk}
    with pytest.raises(ValidationError):
        services.incident_role_set(access=access(), incident=incident, role="mascot", user_id=admin.pk)
    with pytest.raises(ValidationError):
        services.incident_role_set(
            access=access(), incident=incident, role=Role.LEGAL, user_id=tenant.users["b_owner"].pk
        )


def test_task_changes_record_themselves(tenant, access, declare):
    incident = declare()
    task = incident.tasks.order_by("position").first()
    analyst = tenant.users["a_analyst"]
    services.task_update(access=access(), task=task, status="done")
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.done_by_id == tenant.users["a_owner"].pk
    assert _last(incident).text.startswith("Task done: ")
    services.task_update(access=access(), task=task, status="open")
    task.refresh_from_db()
    assert task.done_at is None and _last(incident).text.startswith("Task reopened: ")
    services.task_update(access=access(), task=task, status="skipped")
    assert _last(incident).text.startswith("Task skipped: ")
    services.task_update(access=access(), task=task, owner_id=analyst.pk)
    assert _last(incident).data["owner_to"] == analyst.pk
    due = timezone.now() + timedelta(hours=3)
    services.task_update(access=access(), task=task, due_at=due)
    task.refresh_from_db()
    assert task.due_at == due and _last(incident).data["due_to"] == due.isoformat()
    count = incident.timeline.count()
    services.task_update(access=access(), task=task, owner_id=analyst.pk)  # no change, no entry
    assert incident.timeline.count() == count
    with pytest.raises(ValidationError):
        services.task_update(access=access(), task=task, status="maybe")


def test_a_task_done_after_its_deadline_says_so(tenant, access, declare):
    incident = declare()
    task = incident.tasks.order_by("position").first()
    type(task).objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    services.task_update(access=access(), task=task, status="done")
    assert _last(incident).data["late"] is True


def test_a_task_added_by_hand_comes_last_and_is_owned_by_the_owner(tenant, access, declare):
    incident = declare()
    task = services.task_create(access=access(), incident=incident, title="Call the regulator")
    assert task.position == incident.tasks.count() - 1
    assert task.owner_id == incident.owner_id and task.step_id == ""
    assert _last(incident).kind == TimelineKind.TASK
    with pytest.raises(ValidationError):
        services.task_create(access=access(), incident=incident, title=" ")


def test_notes_and_their_validation(tenant, access, declare):
    incident = declare()
    entry = services.note_add(access=access(), incident=incident, text="Bridge open on Zoom")
    assert entry.kind == TimelineKind.NOTE and entry.actor_label == tenant.users["a_owner"].email
    with pytest.raises(ValidationError):
        services.note_add(access=access(), incident=incident, text="")
    with pytest.raises(PermissionDenied):
        services.note_add(access=access("a_viewer"), incident=incident, text="hi")


def test_resolve_close_and_reopen(tenant, access, declare):
    incident = declare()
    with pytest.raises(ValidationError):
        services.incident_close(access=access(), incident=incident)  # only a resolved one closes
    incident = services.incident_resolve(access=access(), incident=incident, note="Rolled back")
    assert incident.status == IncidentStatus.RESOLVED and incident.resolved_at is not None
    assert _last(incident).kind == TimelineKind.STATUS and "Rolled back" in _last(incident).text
    incident = services.incident_reopen(access=access(), incident=incident)
    assert incident.status == IncidentStatus.DECLARED and incident.resolved_at is None
    incident = services.incident_resolve(access=access(), incident=incident)
    incident = services.incident_close(access=access(), incident=incident)
    assert incident.status == IncidentStatus.CLOSED and incident.closed_at is not None
    statuses = [e.data["to"] for e in incident.timeline.filter(kind=TimelineKind.STATUS)]
    assert statuses == ["resolved", "declared", "resolved", "closed"]
    assert AuditEvent.objects.filter(action=AuditAction.INCIDENT_STATUS, tenant=tenant.a).count() == 4
    # Closed is final.
    for change in (services.incident_reopen, services.incident_resolve):
        with pytest.raises(ValidationError):
            change(access=access(), incident=incident)
    with pytest.raises(ValidationError):
        services.incident_update(access=access(), incident=incident, severity=1)
    with pytest.raises(ValidationError):
        services.task_update(access=access(), task=incident.tasks.first(), status="done")
