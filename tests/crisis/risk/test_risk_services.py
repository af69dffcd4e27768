"""The 5-minute scoring run: factors that add up, catch-up in order and once, one alert per
episode through listening's deliveries, the opt-in auto pause once, and the tenant's calibration
only from the minimum number of incidents."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from crisis.ml.risk import MIN_TENANT_INCIDENTS, RiskModel
from crisis.models import Incident, RiskSnapshot, RiskState, RiskTrigger
from crisis.risk_selectors import bucket_floor, risk_signals
from crisis.risk_services import (
    MAX_CATCHUP,
    WARMUP,
    risk_evaluate_now,
    risk_recalibrate,
    risk_score_run,
    risk_settings_update,
)
from listening.models import Alert, AlertDelivery, AlertEvidence, AlertKind, AlertRule, Notification
from listening.services import alerts as listening_alerts
from personalization.models import CrisisModeChange
from personalization.selectors import crisis_mode_on
from tenants.models import AuditEvent

from .conftest import NOW, warm_up

pytestmark = pytest.mark.django_db


def _scheduled() -> list[RiskSnapshot]:
    return list(RiskSnapshot.objects.filter(trigger=RiskTrigger.SCHEDULE).order_by("bucket_start"))


def test_the_buckets_signals_come_from_listening_counts(calm):
    start = NOW - timedelta(minutes=20)
    signals = risk_signals(start=bucket_floor(start), end=bucket_floor(NOW))
    assert [s.volume for s in signals] == [4.0] * 4
    assert all(s.negative == 0 and s.crisis_language == 0 and s.press == 0 for s in signals)
    assert all(s.reach_negativity == 0.0 for s in signals)


def test_the_first_run_warms_up_and_factors_add_up_to_every_stored_score(calm):
    written = risk_score_run(now=NOW)
    assert len(written) == WARMUP / timedelta(minutes=5)
    stored = _scheduled()
    assert [s.bucket_start for s in stored] == [s.bucket_start for s in written]
    assert stored[-1].bucket_start == bucket_floor(NOW) - timedelta(minutes=5)  # the last closed bucket
    for snapshot in stored:
        assert snapshot.base + sum(snapshot.factors.values()) == pytest.approx(snapshot.score, abs=1e-6)
        assert 0 <= snapshot.score <= 100
        assert snapshot.probability_24h >= snapshot.probability_6h
        assert snapshot.margin_6h is not None and snapshot.margin_24h is not None
        assert snapshot.model_version == RiskModel.load().version and snapshot.calibration == "global"
    assert RiskState.objects.get().last_bucket_start == stored[-1].bucket_start


def test_a_retried_run_writes_nothing_twice_and_a_gap_is_caught_up_in_order(calm):
    risk_score_run(now=NOW - timedelta(hours=3))
    first = _scheduled()
    assert risk_score_run(now=NOW - timedelta(hours=3)) == []  # retried: already scored
    assert _scheduled() == first
    caught_up = risk_score_run(now=NOW)  # three hours of downtime
    assert len(caught_up) == 36
    starts = [s.bucket_start for s in _scheduled()]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    steps = {b - a for a, b in itertools.pairwise(starts)}
    assert steps == {timedelta(minutes=5)}  # contiguous: no bucket skipped, none twice


def test_the_catch_up_after_long_downtime_is_bounded(calm):
    risk_score_run(now=NOW - timedelta(days=2))
    written = risk_score_run(now=NOW)
    assert len(written) == MAX_CATCHUP / timedelta(minutes=5)
    assert written[0].bucket_start == bucket_floor(NOW) - timedelta(minutes=5) - MAX_CATCHUP + timedelta(
        minutes=5
    )


def test_scores_replay_the_backtest_stream_exactly(calm):
    """The production path (batched explain) gives the scores RiskStream.update gives row by row."""
    from crisis.ml.risk import RiskStream

    risk_score_run(now=NOW)
    stored = _scheduled()
    stream = RiskStream(RiskModel.load())
    signals = risk_signals(start=stored[0].bucket_start, end=stored[-1].bucket_start + timedelta(minutes=5))
    replayed = [stream.update(s) for s in signals]
    assert [s.score for s in stored] == pytest.approx([score for score, _ in replayed], abs=1e-9)
    assert [s.alert for s in stored] == [alert for _, alert in replayed]


def test_a_surge_raises_one_alert_per_episode_with_factors_and_evidence(surge, world):
    warm_up()
    risk_score_run(now=NOW - timedelta(minutes=30))
    risk_score_run(now=NOW)
    risk_score_run(now=NOW)  # a retry
    alerted = [s for s in _scheduled() if s.alert]
    assert len(alerted) == 1
    snapshot = alerted[0]
    assert snapshot.score >= RiskModel.load().policy.threshold
    alerts = list(Alert.objects.filter(kind=AlertKind.CRISIS_RISK))
    assert len(alerts) == 1 and snapshot.alert_ref_id == alerts[0].pk
    alert = alerts[0]
    assert f"Crisis risk {snapshot.score:.0f}/100" in alert.why and "crisis language" in alert.why
    evidence = list(AlertEvidence.objects.filter(alert=alert).values_list("mention_id", flat=True))
    assert evidence and set(evidence) == {item["mention_id"] for item in snapshot.evidence}
    assert "negative" in snapshot.evidence[0]["why"] and "crisis language" in snapshot.evidence[0]["why"]
    assert Notification.objects.filter(alert=alert).count() >= 1  # the bell
    # The system rule exists once; listening's minute evaluation leaves it to the risk score.
    assert AlertRule.objects.filter(kind=AlertKind.CRISIS_RISK).count() == 1
    assert listening_alerts.alert_rules_evaluate(now=NOW) == []


def test_the_risk_rules_deliveries_fire_like_any_rule(surge):
    rule = listening_alerts.crisis_risk_rule_ensure()
    listening_alerts.alert_rule_update(rule=rule, email_to=["ops@example.com"])
    warm_up()
    risk_score_run(now=NOW)
    alert = Alert.objects.get(kind=AlertKind.CRISIS_RISK)
    assert list(AlertDelivery.objects.filter(alert=alert).values_list("channel", flat=True)) == ["email"]


def test_people_cannot_create_a_second_risk_rule_or_change_its_kind(tenant_a):
    with pytest.raises(ValidationError, match="kind"):
        listening_alerts.alert_rule_create(name="Mine", kind=AlertKind.CRISIS_RISK)
    rule = listening_alerts.crisis_risk_rule_ensure()
    with pytest.raises(ValidationError, match="kind"):
        listening_alerts.alert_rule_update(rule=rule, kind=AlertKind.VOLUME_SPIKE)
    assert listening_alerts.crisis_risk_rule_ensure() == rule


def test_a_switched_off_risk_rule_stores_the_score_but_raises_nothing(surge):
    rule = listening_alerts.crisis_risk_rule_ensure()
    listening_alerts.alert_rule_update(rule=rule, is_active=False)
    warm_up()
    risk_score_run(now=NOW)
    assert any(s.alert for s in _scheduled())
    assert not Alert.objects.exists()


def test_auto_pause_switches_crisis_mode_on_once_per_episode(surge, world):
    warm_up()
    risk_settings_update(actor=world.users["a_admin"], tenant=world.a, auto_pause_threshold=20)
    risk_score_run(now=NOW - timedelta(minutes=40))
    risk_score_run(now=NOW)
    assert max(s.score for s in _scheduled()) >= 20
    changes = list(CrisisModeChange.objects.all())
    assert len(changes) == 1 and changes[0].on and changes[0].actor == "system"
    assert changes[0].reason.startswith("Risk score ") and ">= 20" in changes[0].reason
    assert crisis_mode_on()
    # It never switches crisis mode off by itself, and a retry does not switch it again.
    risk_score_run(now=NOW)
    assert CrisisModeChange.objects.count() == 1 and crisis_mode_on()


def test_auto_pause_is_off_unless_opted_in(surge):
    warm_up()
    risk_score_run(now=NOW)
    assert any(s.score >= 20 for s in _scheduled())
    assert not CrisisModeChange.objects.exists()


def test_late_scores_of_a_catch_up_do_not_pause_posts(surge, world):
    warm_up()
    risk_settings_update(actor=world.users["a_admin"], tenant=world.a, auto_pause_threshold=20)
    risk_score_run(now=NOW + timedelta(hours=2))  # the surge is two hours old when it is scored
    assert any(s.score >= 20 for s in _scheduled())
    assert not CrisisModeChange.objects.exists()


def test_the_auto_pause_setting_is_validated_and_audited(tenant_a, world):
    with pytest.raises(ValidationError, match="auto_pause_threshold"):
        risk_settings_update(actor=world.users["a_admin"], tenant=world.a, auto_pause_threshold=0)
    risk_settings_update(actor=world.users["a_admin"], tenant=world.a, auto_pause_threshold=75)
    risk_settings_update(actor=world.users["a_admin"], tenant=world.a, auto_pause_threshold=None)
    events = list(AuditEvent.objects.filter(action="risk.auto_pause.set").order_by("pk"))
    assert [e.details for e in events] == [{"before": None, "after": 75}, {"before": 75, "after": None}]
    assert events[0].actor == world.users["a_admin"] and events[0].tenant == world.a


def _incidents(count: int) -> None:
    for i in range(count):
        Incident.objects.create(
            title=f"Outage {i}",
            scenario="service_outage",
            declared_at=NOW - timedelta(hours=30) + timedelta(hours=8 * i),
        )


def test_recalibration_is_used_only_from_the_minimum_number_of_incidents(calm):
    risk_score_run(now=NOW - timedelta(days=1))
    _incidents(MIN_TENANT_INCIDENTS - 1)
    state = risk_recalibrate(now=NOW)
    assert state.calibration == {} and state.calibration_incidents == MIN_TENANT_INCIDENTS - 1
    risk_score_run(now=NOW - timedelta(hours=20))
    assert {s.calibration for s in _scheduled()} == {"global"}

    _incidents(1)
    state = risk_recalibrate(now=NOW)
    assert state.calibration_incidents == MIN_TENANT_INCIDENTS
    assert set(state.calibration) == {"6h", "24h"}
    assert state.calibration["6h"]["incidents"] == MIN_TENANT_INCIDENTS
    assert state.calibration["6h"] != {"slope": RiskModel.load().calibrations["6h"].slope}
    written = risk_score_run(now=NOW)
    assert written and {s.calibration for s in written} == {"tenant"}
    for snapshot in written:
        assert snapshot.base + sum(snapshot.factors.values()) == pytest.approx(snapshot.score, abs=1e-6)


def test_a_declared_incident_queues_the_recalibration_on_commit(tenant_a, django_capture_on_commit_callbacks):
    from unittest import mock

    with mock.patch("crisis.risk_tasks.recalibrate_risk.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            _incidents(1)
        Incident.objects.get().save()  # an update is not a new label
    assert delay.call_count == 1


def test_evaluate_now_scores_the_open_bucket_without_advancing_the_state(surge):
    warm_up()
    risk_score_run(now=NOW)
    state = RiskState.objects.get()
    snapshot = risk_evaluate_now(now=NOW)
    assert snapshot.trigger == RiskTrigger.ON_DEMAND and snapshot.bucket_start == bucket_floor(NOW)
    assert snapshot.base + sum(snapshot.factors.values()) == pytest.approx(snapshot.score, abs=1e-6)
    assert not snapshot.alert
    again = RiskState.objects.get()
    assert (again.last_bucket_start, again.stream) == (state.last_bucket_start, state.stream)
    assert risk_evaluate_now(now=NOW).pk != snapshot.pk  # on-demand snapshots are kept beside each other


def test_evaluate_now_works_before_any_scheduled_run(calm):
    snapshot = risk_evaluate_now(now=NOW)
    assert snapshot.trigger == RiskTrigger.ON_DEMAND
    assert not RiskState.objects.exists() or RiskState.objects.get().last_bucket_start is None
