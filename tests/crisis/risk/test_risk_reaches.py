"""A scheduled run writes its snapshots in one statement, so it tells the rest of the crisis app
itself: an open incident's timeline hears the move, and the agency portfolio's row follows."""

from __future__ import annotations

from datetime import timedelta

from crisis.models import Incident, TimelineKind
from crisis.risk_services import risk_score_run
from tenants.models import ClientRiskSummary

from .conftest import NOW, warm_up


def test_a_surge_during_an_open_incident_is_on_its_timeline_and_in_the_portfolio(
    surge, world, django_capture_on_commit_callbacks
):
    warm_up()
    risk_score_run(now=NOW - timedelta(minutes=30))
    incident = Incident.objects.create(title="Sign-in outage", scenario="service_outage")
    with django_capture_on_commit_callbacks(execute=True):
        written = risk_score_run(now=NOW)
    assert written
    moves = list(incident.timeline.filter(kind=TimelineKind.RISK))
    assert len(moves) == 1 and f"{written[-1].score:.0f}" in moves[0].text
    summary = ClientRiskSummary.objects.get(tenant=world.a)
    assert summary.score == written[-1].score and summary.open_incidents == 1
