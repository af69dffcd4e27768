"""Reads of the crisis-risk score: the listening signals of 5-minute buckets (what the scorer is
fed), the mentions behind a score, and the score's history for the API, the portal and the
listening dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Case, ExpressionWrapper, F, FloatField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from crisis.ml.features import BUCKET_MINUTES, Signals
from crisis.models import Incident, RiskSnapshot, RiskState, RiskTrigger
from listening.models import Mention, MetricBucket, MetricGrain, Sentiment
from listening.services.metrics import PRESS_FOLLOWERS, PRESS_SOURCE_KINDS

BUCKET = timedelta(minutes=BUCKET_MINUTES)
# A topic is new, for the novelty signal, during the day after a topic run first found it: it was
# unseen the week before (topics are re-found while they persist, so an old topic has an old
# `first_seen_at`), and a day is how long listening's new-topic alerts call a topic new.
NOVELTY_WINDOW = timedelta(hours=24)
# The evidence of a score: mentions of the hour ending with its bucket (the share factors are
# hourly), strongest first.
EVIDENCE_WINDOW = timedelta(hours=1)
EVIDENCE_COUNT = 5
# Factor points below this are noise: no evidence is looked for.
EVIDENCE_MIN_POINTS = 1.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_NOVELTY_SQL = """
    SELECT date_bin(make_interval(secs => %s), m.posted_at, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,
           count(*) FILTER (WHERE t.first_seen_at > m.posted_at - make_interval(secs => %s))
    FROM listening_mention AS m
    JOIN listening_topicmention AS tm ON tm.mention_id = m.id
    JOIN listening_topic AS t ON t.id = tm.topic_id
    WHERE m.posted_at >= %s AND m.posted_at < %s AND m.enriched_at IS NOT NULL
    GROUP BY 1
"""


def bucket_floor(moment: datetime) -> datetime:
    """The start of the 5-minute bucket holding `moment` (buckets are aligned on the epoch, in UTC,
    as the metric buckets are)."""
    return _EPOCH + ((moment.astimezone(UTC) - _EPOCH) // BUCKET) * BUCKET


def risk_signals(*, start: datetime, end: datetime) -> list[Signals]:
    """The listening signals of every 5-minute bucket in [start, end), in time order (empty buckets
    included: a quiet bucket is a zero, not a gap). Two indexed reads whatever the volume: the
    all-mentions metric buckets, and the novelty count over the range's topic assignments."""
    rows = {
        row["bucket_start"]: row
        for row in MetricBucket.objects.filter(
            grain=MetricGrain.MINUTES_5,
            query=None,
            source=None,
            lang=None,
            bucket_start__gte=start,
            bucket_start__lt=end,
        ).values("bucket_start", "volume", "negative", "reach", "negative_reach", "crisis_language", "press")
    }
    with connection.cursor() as cursor:
        cursor.execute(_NOVELTY_SQL, [BUCKET.total_seconds(), NOVELTY_WINDOW.total_seconds(), start, end])
        novel = {bucket: count for bucket, count in cursor.fetchall()}
    signals = []
    moment = start
    while moment < end:
        row = rows.get(moment)
        volume = float(row["volume"]) if row else 0.0
        reach = float(row["reach"]) if row else 0.0
        signals.append(
            Signals(
                timestamp=moment,
                volume=volume,
                negative=float(row["negative"]) if row else 0.0,
                reach_negativity=float(row["negative_reach"]) / reach if row and reach > 0 else None,
                crisis_language=float(row["crisis_language"]) if row else 0.0,
                novelty=min(novel.get(moment, 0) / volume, 1.0) if volume > 0 else None,
                press=float(row["press"]) if row else 0.0,
            )
        )
        moment += BUCKET
    return signals


def _press_q() -> Q:
    return Q(source__kind__in=PRESS_SOURCE_KINDS) | Q(author_followers__gte=PRESS_FOLLOWERS)


def risk_evidence(*, bucket_start: datetime, factors: dict[str, float]) -> list[dict[str, Any]]:
    """The mentions that drove the score's top factors, strongest first: each mention is worth the
    points of the factors it feeds (negative: negative share, its change and reach-weighted
    negativity; crisis language; press or high reach), ties broken by reach. Empty when no such
    factor pushed the score up."""

    def points(*names: str) -> float:
        return max(sum(factors.get(name, 0.0) for name in names), 0.0)

    negative = points("negative_share", "negativity_change", "reach_negativity")
    crisis = points("crisis_language")
    press = points("press_reach")
    volume = points("volume_level", "volume_vs_baseline", "sustained_surge", "acceleration")
    if negative + crisis + press + volume < EVIDENCE_MIN_POINTS:
        return []
    end = bucket_start + BUCKET
    weight = ExpressionWrapper(
        Case(When(sentiment=Sentiment.NEGATIVE, then=Value(negative)), default=Value(0.0))
        + Case(When(crisis_language=True, then=Value(crisis)), default=Value(0.0))
        + Case(When(_press_q(), then=Value(press)), default=Value(0.0)),
        output_field=FloatField(),
    )
    rows = (
        Mention.objects.filter(
            posted_at__gte=end - EVIDENCE_WINDOW, posted_at__lt=end, enriched_at__isnull=False
        )
        .annotate(
            strength=weight,
            followers=Coalesce(F("author_followers"), Value(0)),
            is_press=Case(When(_press_q(), then=Value(True)), default=Value(False)),
        )
        .order_by("-strength", "-followers", "-posted_at", "-id")
        .values("id", "sentiment", "crisis_language", "is_press", "strength", "followers")[:EVIDENCE_COUNT]
    )
    evidence = []
    for row in rows:
        why = []
        if row["sentiment"] == Sentiment.NEGATIVE:
            why.append("negative")
        if row["is_press"]:
            why.append("press or high reach")
        if row["crisis_language"]:
            why.append("crisis language")
        if not why and volume <= 0:
            continue
        evidence.append({"mention_id": row["id"], "why": why or ["high reach"], "reach": row["followers"]})
    return evidence


def risk_state_get() -> RiskState:
    """The tenant's risk state row (created with its defaults on first read)."""
    state, _ = RiskState.objects.get_or_create(singleton=True)
    return state


def risk_snapshot_latest() -> RiskSnapshot | None:
    """The latest evaluation, scheduled or on demand, by bucket and then by when it was computed."""
    return RiskSnapshot.objects.order_by("-bucket_start", "-computed_at", "-id").first()


def risk_snapshot_at(*, moment: datetime) -> RiskSnapshot | None:
    """The scheduled snapshot in force at `moment`: the latest one whose bucket started before it."""
    return (
        RiskSnapshot.objects.filter(trigger=RiskTrigger.SCHEDULE, bucket_start__lte=moment)
        .order_by("-bucket_start")
        .first()
    )


@dataclass(frozen=True)
class RiskCurrent:
    snapshot: RiskSnapshot
    mentions: dict[int, Mention]  # the evidence mentions, by id
    score_1h_ago: float | None
    score_24h_ago: float | None


def risk_current() -> RiskCurrent | None:
    """The latest score with its evidence mentions and how it moved against 1 h and 24 h before."""
    snapshot = risk_snapshot_latest()
    if snapshot is None:
        return None
    ids = [int(item["mention_id"]) for item in snapshot.evidence]
    mentions = Mention.objects.select_related("source").in_bulk(ids) if ids else {}
    then_1h = risk_snapshot_at(moment=snapshot.bucket_start - timedelta(hours=1))
    then_24h = risk_snapshot_at(moment=snapshot.bucket_start - timedelta(hours=24))
    return RiskCurrent(
        snapshot=snapshot,
        mentions=mentions,
        score_1h_ago=then_1h.score if then_1h else None,
        score_24h_ago=then_24h.score if then_24h else None,
    )


@dataclass(frozen=True)
class RiskPoint:
    start: datetime
    score: float  # the highest score of the step (a peak must not vanish when zoomed out)
    probability_6h: float
    probability_24h: float
    alert: bool  # an alert was raised within the step


HISTORY_MAX_POINTS = 600
HISTORY_STEPS = (
    BUCKET,
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(days=1),
)


def risk_history_step(*, start: datetime, end: datetime) -> timedelta:
    """The smallest step that keeps [start, end) within HISTORY_MAX_POINTS points."""
    span = end - start
    return next((step for step in HISTORY_STEPS if span / step <= HISTORY_MAX_POINTS), HISTORY_STEPS[-1])


def risk_history(*, start: datetime, end: datetime) -> tuple[timedelta, list[RiskPoint]]:
    """Scheduled scores over [start, end), downsampled in SQL to at most HISTORY_MAX_POINTS steps:
    each step keeps its highest score and whether an alert was raised in it. One query."""
    step = risk_history_step(start=start, end=end)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_bin(make_interval(secs => %s), bucket_start, TIMESTAMPTZ '1970-01-01 00:00:00+00'),"
            " max(score), max(probability_6h), max(probability_24h), bool_or(alert)"
            " FROM crisis_risksnapshot"
            " WHERE trigger = %s AND bucket_start >= %s AND bucket_start < %s GROUP BY 1 ORDER BY 1",
            [step.total_seconds(), RiskTrigger.SCHEDULE, start, end],
        )
        points = [RiskPoint(*row) for row in cursor.fetchall()]
    return step, points


def risk_incident_markers(*, start: datetime, end: datetime) -> QuerySet[Incident]:
    """Incidents declared within [start, end), for the history chart's markers."""
    return Incident.objects.filter(declared_at__gte=start, declared_at__lt=end).order_by("declared_at")


def risk_recent_snapshots(*, limit: int = 20) -> QuerySet[RiskSnapshot]:
    return RiskSnapshot.objects.order_by("-bucket_start", "-computed_at", "-id")[:limit]
