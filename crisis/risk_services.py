"""Writes of the crisis-risk score: the 5-minute scoring run, the on-demand evaluation, the risk
alerts, the opt-in auto pause, the tenant's settings and its recalibration.

**The run.** Every 5 minutes per tenant (beat fan-out, `crisis.tasks.score_risk`) the tenant's
closed buckets since `RiskState.last_bucket_start` are scored in time order by the scorer the
backtest uses (`crisis.ml.risk`: the `RiskStream`'s feature state and alert policy, restored from
`RiskState.stream`; `RiskModel.explain` for the factor points): one scheduled `RiskSnapshot` per
bucket. The run holds the RiskState row lock and commits the snapshots, the stream's state, the
alerts and the auto pause together, so a retried or concurrent run waits, then finds the buckets
scored and writes nothing twice (and the snapshots are unique per bucket besides). After downtime
the catch-up is bounded (MAX_CATCHUP); the first run starts WARMUP back.

A bucket is scored SETTLE after it closes, so mentions posted at its end have been enriched and
counted (beat runs the fan-out a minute after each 5-minute mark).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crisis.ml.features import Signals
from crisis.ml.risk import (
    HORIZONS,
    MIN_TENANT_INCIDENTS,
    Calibration,
    RiskModel,
    RiskScore,
    RiskStream,
    tenant_calibration,
)
from crisis.models import Incident, RiskSnapshot, RiskState, RiskTrigger
from crisis.risk_selectors import BUCKET, bucket_floor, risk_evidence, risk_signals
from crisis.signals import risk_scored
from listening.alerting.detectors import Detection
from listening.models import Alert
from listening.services import alerts as listening_alerts
from personalization import selectors as personalization_selectors
from personalization import services as personalization_services
from tenants.http import ClientInfo
from tenants.models import User
from tenants.services import audit_record

logger = logging.getLogger(__name__)

SETTLE = timedelta(minutes=1)
WARMUP = timedelta(hours=6)
MAX_CATCHUP = timedelta(hours=24)
# An auto-pause episode ends when the score falls this many points below the threshold: a score
# hovering at the threshold pauses once, not every 5 minutes.
AUTO_PAUSE_RELEASE_POINTS = 10.0
# Only a fresh score pauses posts: a bucket scored late (catch-up after downtime) is history.
AUTO_PAUSE_FRESH = timedelta(minutes=30)
# An on-demand score of the open bucket scales its counts up to a whole bucket, from at least this
# much of it (a bucket seconds old would otherwise read as a collapse of volume, or a burst).
ON_DEMAND_MIN_ELAPSED = timedelta(minutes=1)
FACTORS_IN_WHY = 3


def risk_state_locked() -> RiskState:
    """The tenant's risk state, locked for this transaction (created on first use)."""
    RiskState.objects.get_or_create(singleton=True)
    return RiskState.objects.select_for_update().get(singleton=True)


def _calibrations(state: RiskState) -> tuple[Calibration | None, Calibration | None, str]:
    """The tenant's calibrations when it has its own (enough incidents), else None: the global."""
    if state.calibration and state.calibration_incidents >= MIN_TENANT_INCIDENTS:
        return Calibration(**state.calibration["6h"]), Calibration(**state.calibration["24h"]), "tenant"
    return None, None, "global"


def _stream(model: RiskModel, state: RiskState, calibration: Calibration | None) -> RiskStream:
    if state.stream:
        return RiskStream.restore(model, state.stream, calibration=calibration)
    return RiskStream(model, calibration=calibration)


def _snapshot(
    *,
    bucket_start: datetime,
    trigger: str,
    result: RiskScore,
    alert: bool,
    model: RiskModel,
    calibration: str,
) -> RiskSnapshot:
    return RiskSnapshot(
        bucket_start=bucket_start,
        trigger=trigger,
        score=result.score,
        probability_6h=result.probability_6h,
        probability_24h=result.probability_24h,
        base=result.base,
        factors=result.factors,
        features=result.features,
        evidence=risk_evidence(bucket_start=bucket_start, factors=result.factors),
        alert=alert,
        model_version=model.version,
        calibration=calibration,
        margin_6h=result.margin_6h,
        margin_24h=result.margin_24h,
    )


def risk_score_run(*, now: datetime | None = None) -> list[RiskSnapshot]:
    """Score every closed bucket not yet scored, in time order (the 5-minute run). Returns the
    snapshots written (none when another run scored them already)."""
    now = now or timezone.now()
    closed_end = bucket_floor(now - SETTLE)
    model = RiskModel.load()
    with transaction.atomic():
        state = risk_state_locked()
        start = closed_end - WARMUP if state.last_bucket_start is None else state.last_bucket_start + BUCKET
        start = max(start, closed_end - MAX_CATCHUP)
        if start >= closed_end:
            return []
        calibration_6h, calibration_24h, which = _calibrations(state)
        stream = _stream(model, state, calibration_6h)
        signals = [
            s
            for s in risk_signals(start=start, end=closed_end)
            if stream.features.last is None or s.timestamp > stream.features.last
        ]
        if not signals:
            return []
        # The backtest's RiskStream.update, one bucket after another: features, score, alert
        # policy; the features are scored in one call, with their factor points.
        vectors = np.vstack([stream.features.update(s) for s in signals])
        results = model.explain(vectors, calibration_6h=calibration_6h, calibration_24h=calibration_24h)
        written = [
            _snapshot(
                bucket_start=row.timestamp,
                trigger=RiskTrigger.SCHEDULE,
                result=result,
                alert=stream.alerts.update(row.timestamp, result.score),
                model=model,
                calibration=which,
            )
            for row, result in zip(signals, results, strict=True)
        ]
        RiskSnapshot.objects.bulk_create(written)  # one statement: a catch-up is hundreds of rows
        for snapshot in written:
            if snapshot.alert:
                snapshot.alert_ref = _risk_alert_raise(
                    snapshot=snapshot, policy_threshold=model.policy.threshold
                )
                RiskSnapshot.objects.filter(pk=snapshot.pk).update(alert_ref=snapshot.alert_ref)
            _auto_pause(state=state, snapshot=snapshot, now=now)
        risk_scored.send(sender=RiskSnapshot, snapshots=written)
        state.stream = stream.dump()
        state.last_bucket_start = signals[-1].timestamp
        state.updated_at = now
        state.save(update_fields=["stream", "last_bucket_start", "auto_pause_active", "updated_at"])
    logger.info("risk: %d buckets scored up to %s", len(written), state.last_bucket_start)
    return written


def _why(snapshot: RiskSnapshot) -> str:
    top = sorted(snapshot.factors.items(), key=lambda item: -item[1])[:FACTORS_IN_WHY]
    parts = ", ".join(f"{name.replace('_', ' ')} {points:+.1f}" for name, points in top if points > 0)
    return (
        f"Crisis risk {snapshot.score:.0f}/100 (base {snapshot.base:.0f}; crisis within 6 h "
        f"{snapshot.probability_6h:.0%}, within 24 h {snapshot.probability_24h:.0%})"
        + (f": {parts}" if parts else "")
    )


def _risk_alert_raise(*, snapshot: RiskSnapshot, policy_threshold: float) -> Alert | None:
    """A listening alert of the tenant's crisis-risk rule, so the bell, email, webhook and Slack
    deliveries fire; keyed by the bucket (a retried run raises it once)."""
    rule = listening_alerts.crisis_risk_rule_ensure()
    detection = Detection(
        fired=True,
        expected=snapshot.base,
        observed=snapshot.score,
        score=snapshot.score,
        threshold=policy_threshold,
        why=_why(snapshot),
    )
    return listening_alerts.alert_raise(
        rule=rule,
        key=f"risk:{snapshot.bucket_start:%Y%m%dT%H%M}",
        start=snapshot.bucket_start,
        end=snapshot.bucket_start + BUCKET,
        detection=detection,
        evidence=[(int(item["mention_id"]), int(item.get("reach", 0))) for item in snapshot.evidence],
    )


def _auto_pause(*, state: RiskState, snapshot: RiskSnapshot, now: datetime) -> None:
    """The opt-in auto pause: a fresh scheduled score at or above the threshold switches crisis
    mode on, once per episode; it never switches it off (people do, after review)."""
    threshold = state.auto_pause_threshold
    if threshold is None:
        state.auto_pause_active = False
        return
    if state.auto_pause_active:
        if snapshot.score < threshold - AUTO_PAUSE_RELEASE_POINTS:
            state.auto_pause_active = False
        return
    if snapshot.score < threshold or now - (snapshot.bucket_start + BUCKET) > AUTO_PAUSE_FRESH:
        return
    state.auto_pause_active = True
    if personalization_selectors.crisis_mode_on():
        return  # on already (declared by people): nothing to switch, the episode is counted
    personalization_services.crisis_mode_set(
        on=True,
        reason=(
            f"Risk score {snapshot.score:.0f} >= {threshold:.0f} at "
            f"{snapshot.bucket_start:%Y-%m-%d %H:%M} UTC (automatic pause, opted in)"
        ),
        actor=None,
    )
    logger.warning("risk: score %.0f >= %.0f switched crisis mode on", snapshot.score, threshold)


def risk_evaluate_now(*, now: datetime | None = None) -> RiskSnapshot:
    """Score the current, still-open bucket now (an on-demand snapshot). The tenant's state is not
    advanced: closed buckets not yet scored are fed to a copy of the stream first, and the open
    bucket's counts are scaled to a whole bucket. It raises no alert (the scheduled run does)."""
    now = now or timezone.now()
    model = RiskModel.load()
    open_start = bucket_floor(now)
    state = RiskState.objects.filter(singleton=True).first() or RiskState()
    calibration_6h, calibration_24h, which = _calibrations(state)
    stream = _stream(model, state, calibration_6h)
    start = open_start - WARMUP if stream.features.last is None else stream.features.last + BUCKET
    start = max(start, open_start - MAX_CATCHUP)
    history = risk_signals(start=start, end=open_start + BUCKET)
    for row in history[:-1]:
        stream.features.update(row)
    current = history[-1]
    factor = BUCKET / max(now - open_start, ON_DEMAND_MIN_ELAPSED)
    scaled = Signals(
        timestamp=current.timestamp,
        volume=current.volume * factor,
        negative=None if current.negative is None else current.negative * factor,
        reach_negativity=current.reach_negativity,
        crisis_language=None if current.crisis_language is None else current.crisis_language * factor,
        novelty=current.novelty,
        press=None if current.press is None else current.press * factor,
    )
    vector = stream.features.update(scaled)
    [result] = model.explain(vector[None, :], calibration_6h=calibration_6h, calibration_24h=calibration_24h)
    snapshot = _snapshot(
        bucket_start=open_start,
        trigger=RiskTrigger.ON_DEMAND,
        result=result,
        alert=False,
        model=model,
        calibration=which,
    )
    snapshot.computed_at = now
    snapshot.save()
    return snapshot


def risk_settings_update(
    *,
    actor: User,
    tenant: Any,
    client: ClientInfo | None = None,
    auto_pause_threshold: float | None,
) -> RiskState:
    """Set (or clear, with None) the opt-in auto-pause threshold; audited."""
    if auto_pause_threshold is not None and not 1 <= auto_pause_threshold <= 100:
        raise ValidationError(
            {"auto_pause_threshold": "must be between 1 and 100, or empty to switch it off"}
        )
    with transaction.atomic():
        state = risk_state_locked()
        before = state.auto_pause_threshold
        state.auto_pause_threshold = auto_pause_threshold
        if auto_pause_threshold is None:
            state.auto_pause_active = False
        state.updated_at = timezone.now()
        state.save(update_fields=["auto_pause_threshold", "auto_pause_active", "updated_at"])
        audit_record(
            action="risk.auto_pause.set",
            actor=actor,
            tenant=tenant,
            target="risk settings",
            client=client,
            details={"before": before, "after": auto_pause_threshold},
        )
    return state


def risk_recalibrate(*, now: datetime | None = None) -> RiskState:
    """Fit the tenant's calibration on its scheduled snapshots' margins, labelled by when its
    declared incidents started; kept (and used by the scorer) from MIN_TENANT_INCIDENTS incidents
    on, the global one below."""
    now = now or timezone.now()
    model = RiskModel.load()
    starts = list(Incident.objects.order_by("declared_at").values_list("declared_at", flat=True))
    rows = list(
        RiskSnapshot.objects.filter(
            trigger=RiskTrigger.SCHEDULE, margin_6h__isnull=False, margin_24h__isnull=False
        )
        .order_by("bucket_start")
        .values_list("bucket_start", "margin_6h", "margin_24h")
    )
    calibration: dict[str, Any] = {}
    if len(starts) >= MIN_TENANT_INCIDENTS and rows:
        stamps = [row[0] for row in rows]
        for index, horizon in enumerate(HORIZONS, start=1):
            fitted = tenant_calibration(
                margins=np.array([row[index] for row in rows], dtype=np.float64),
                timestamps=stamps,
                incident_starts=starts,
                global_calibration=model.calibrations[horizon],
                horizon=horizon,
            )
            calibration[horizon] = asdict(fitted)
    with transaction.atomic():
        state = risk_state_locked()
        state.calibration = calibration
        state.calibration_incidents = len(starts)
        state.calibrated_at = now
        state.updated_at = now
        state.save(update_fields=["calibration", "calibration_incidents", "calibrated_at", "updated_at"])
    logger.info("risk: recalibrated on %d incidents (%s)", len(starts), "tenant" if calibration else "global")
    return state
