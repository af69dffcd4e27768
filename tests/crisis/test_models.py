"""The crisis tables in a cloned tenant: the partial unique constraints hold there (cloning replays
them), and the timeline's one writer records who acted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction
from django_tenants.utils import tenant_context

from crisis.models import Incident, IncidentTask, RiskSnapshot, RiskTrigger, TimelineKind
from crisis.services import timeline_record
from personalization.post_services import Actor

pytestmark = pytest.mark.django_db

BUCKET = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _snapshot(trigger: str) -> RiskSnapshot:
    return RiskSnapshot.objects.create(
        bucket_start=BUCKET,
        trigger=trigger,
        score=12.0,
        probability_6h=0.12,
        probability_24h=0.2,
        base=5.0,
        factors={"volume": 7.0},
        model_version="test",
    )


def test_one_scheduled_snapshot_per_bucket_but_on_demand_ones_beside_it(world):
    with tenant_context(world.a):
        _snapshot(RiskTrigger.SCHEDULE)
        _snapshot(RiskTrigger.ON_DEMAND)
        _snapshot(RiskTrigger.ON_DEMAND)
        with pytest.raises(IntegrityError), transaction.atomic():
            _snapshot(RiskTrigger.SCHEDULE)
        assert RiskSnapshot.objects.count() == 3


def test_a_playbook_step_becomes_one_task_per_incident_while_hand_tasks_repeat(world):
    with tenant_context(world.a):
        incident = Incident.objects.create(title="Sign-in outage", scenario="service_outage")
        IncidentTask.objects.create(incident=incident, step_id="declare", title="Declare")
        IncidentTask.objects.create(incident=incident, title="Call the CEO")
        IncidentTask.objects.create(incident=incident, title="Call the CEO")
        with pytest.raises(IntegrityError), transaction.atomic():
            IncidentTask.objects.create(incident=incident, step_id="declare", title="Declare again")


def test_timeline_records_the_person_or_the_system(world):
    user = world.users["a_admin"]
    with tenant_context(world.a):
        incident = Incident.objects.create(title="Sign-in outage", scenario="service_outage")
        by_person = timeline_record(
            incident=incident, kind=TimelineKind.NOTE, text="Bridge open", actor=Actor.of(user)
        )
        by_system = timeline_record(
            incident=incident, kind=TimelineKind.RISK, text="Risk 72", data={"score": 72}
        )
        assert (by_person.actor_id, by_person.actor_label) == (user.pk, user.email)
        assert (by_system.actor_id, by_system.actor_label) == (None, "system")
        assert [e.kind for e in incident.timeline.all()] == ["note", "risk"]
