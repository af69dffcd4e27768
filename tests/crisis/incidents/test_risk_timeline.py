"""A risk move of 10 points or more since the score last recorded on an open incident's timeline
lands there; smaller moves, and incidents no longer open, get nothing."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from crisis import incident_services
from crisis.models import RiskSnapshot, RiskTrigger, TimelineKind


def _snapshot(score: float, minutes: int) -> RiskSnapshot:
    return RiskSnapshot.objects.create(
        bucket_start=timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=minutes),
        trigger=RiskTrigger.SCHEDULE,
        score=score,
        probability_6h=score / 200,
        probability_24h=score / 100,
        base=5,
        model_version="t",
    )


def test_only_moves_of_ten_points_since_the_last_recorded_score_are_recorded(tenant, access, declare):
    _snapshot(40, -5)
    incident = declare()
    assert incident.timeline.get(kind=TimelineKind.DECLARED).data["risk_score"] == 40
    for minutes, score in enumerate((45, 49.9, 52, 50, 43, 41.5)):
        _snapshot(score, minutes * 5)
    risk = list(incident.timeline.filter(kind=TimelineKind.RISK).order_by("at", "id"))
    assert [(e.data["from"], e.data["score"]) for e in risk] == [(40, 52), (52, 41.5)]
    assert "up from 40" in risk[0].text and "down from 52" in risk[1].text

    incident_services.incident_resolve(access=access(), incident=incident)
    _snapshot(95, 60)
    assert incident.timeline.filter(kind=TimelineKind.RISK).count() == 2


def test_an_incident_declared_before_any_score_records_the_first_one(tenant, declare):
    incident = declare()
    _snapshot(33, 0)
    entry = incident.timeline.get(kind=TimelineKind.RISK)
    assert entry.data == {"score": 33, "from": None, "snapshot_id": entry.data["snapshot_id"]}
