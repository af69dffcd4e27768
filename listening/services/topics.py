"""Emerging topics: the periodic run that re-clusters a tenant's recent mentions, and the
assignment of newly enriched mentions to the nearest active topic in between runs.

A run reads a bounded sample of the window (ordered at random by PostgreSQL, at most
`TOPICS_SAMPLE_CAP` mentions) and of the window before it, clusters outside any transaction
(seconds), then writes topics, snapshots and assignments in one short transaction. Counts of a
sampled window are scaled up by (mentions in the window / mentions sampled).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from listening.models import (
    EMBEDDING_DIM,
    Mention,
    Sentiment,
    Topic,
    TopicMention,
    TopicRun,
    TopicSnapshot,
    TopicStatus,
)
from listening.nlp import topics as core

logger = logging.getLogger(__name__)

# A dormant topic seen within this long can wake up with its old id when its theme returns.
REVIVE_WITHIN = timedelta(days=7)
# Runs (and their snapshots) are kept this long: the history a topic's chart can show.
KEEP_RUNS = timedelta(days=30)


@dataclass(frozen=True)
class _Window:
    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    stories: list[int | None]
    texts: list[str]
    sentiments: list[str]
    followers: npt.NDArray[np.int64]
    posted: list[datetime]
    total: int  # mentions with an embedding in the window, before sampling

    @property
    def scale(self) -> float:
        return self.total / len(self.ids) if len(self.ids) else 1.0


def _window(*, start: datetime, end: datetime, cap: int, with_text: bool) -> _Window:
    mentions = Mention.objects.filter(posted_at__gte=start, posted_at__lt=end, embedding__isnull=False)
    total = mentions.count()
    if total > cap:
        mentions = mentions.order_by("?")
    fields = ["id", "embedding", "story_id", "sentiment", "author_followers", "posted_at"]
    rows = list(mentions.values_list(*fields, *(["text"] if with_text else []))[:cap])
    return _Window(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        vectors=np.array([r[1] for r in rows], dtype=np.float32).reshape(len(rows), EMBEDDING_DIM),
        stories=[r[2] for r in rows],
        texts=[r[6] for r in rows] if with_text else [],
        sentiments=[r[3] for r in rows],
        followers=np.array([r[4] or 0 for r in rows], dtype=np.int64),
        posted=[r[5] for r in rows],
        total=total,
    )


def topics_refresh(
    *,
    now: datetime | None = None,
    window: timedelta | None = None,
    cap: int | None = None,
    min_cluster_size: int | None = None,
) -> TopicRun:
    """Re-cluster the window ending `now` (default: the last TOPICS_WINDOW) and record the run:
    matched topics keep their ids, new ones are created, unmatched ones go dormant."""
    started = time.perf_counter()
    end = now or timezone.now()
    span = window or settings.LISTENING_TOPICS_WINDOW
    limit = cap or settings.LISTENING_TOPICS_SAMPLE_CAP
    start = end - span
    current = _window(start=start, end=end, cap=limit, with_text=True)
    previous = _window(start=start - span, end=start, cap=limit, with_text=False)
    clusters = core.find_topics(
        vectors=current.vectors,
        texts=current.texts,
        groups=current.stories,
        min_cluster_size=min_cluster_size,
    )
    centroids = (
        np.stack([c.centroid for c in clusters])
        if clusters
        else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    )
    before, _ = core.nearest(vectors=previous.vectors, centroids=centroids)
    before_counts = np.bincount(before[before >= 0], minlength=len(clusters))

    with transaction.atomic():
        # Two runs of one tenant (a slow one overlapping the next) write one after the other, so
        # the second matches against the first's topics instead of creating them again.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('listening.topics:' || current_schema()))")
        run = TopicRun.objects.create(
            window_start=start,
            window_end=end,
            considered=current.total,
            sampled=len(current.ids),
            clusters=len(clusters),
        )
        known = list(
            Topic.objects.filter(last_seen_at__gte=end - REVIVE_WITHIN)
            .exclude(status=TopicStatus.DORMANT, merged_into__isnull=False)
            .order_by("id")
        )
        matching = core.match_topics(
            known_centroids=np.array([t.centroid for t in known], dtype=np.float32),
            known_terms=[t.terms for t in known],
            centroids=centroids,
            terms=[c.terms for c in clusters],
        )
        topics: list[Topic] = []
        for i, cluster in enumerate(clusters):
            topic = known[matching.matched[i]] if i in matching.matched else None
            if topic is None:
                parent = known[matching.split_from[i]] if i in matching.split_from else None
                topic = Topic(first_seen_at=end, first_run=run, parent=parent)
            _figures(
                topic=topic,
                cluster=cluster,
                window=current,
                previous_volume=round(before_counts[i] * previous.scale),
                seen_at=end,
            )
            topics.append(topic)
        created = [t for t in topics if t.pk is None]
        updated = [t for t in topics if t.pk is not None]
        Topic.objects.bulk_create(created)
        Topic.objects.bulk_update(
            updated,
            ["label", "terms", "centroid", "status", "last_seen_at", "merged_into", *_FIGURES],
        )
        continuing = {t.pk for t in topics}
        for k, into in matching.merged_into.items():
            if known[k].status == TopicStatus.ACTIVE:
                Topic.objects.filter(pk=known[k].pk).update(merged_into=topics[into])
        # Every other active topic this run did not see sleeps, however long ago it was last seen.
        Topic.objects.filter(status=TopicStatus.ACTIVE).exclude(pk__in=continuing).update(
            status=TopicStatus.DORMANT
        )
        TopicSnapshot.objects.bulk_create(
            TopicSnapshot(
                topic=topic,
                run=run,
                taken_at=end,
                is_new=i not in matching.matched,
                **{field: getattr(topic, field) for field in _FIGURES},
            )
            for i, topic in enumerate(topics)
        )
        _reassign(window=current, clusters=clusters, topics=topics)
        run.new_topics = len(created)
        run.finished_at = timezone.now()
        run.duration_ms = round((time.perf_counter() - started) * 1000)
        run.save(update_fields=["new_topics", "finished_at", "duration_ms"])
        TopicRun.objects.filter(window_end__lt=end - KEEP_RUNS).delete()
    logger.info(
        "topics: %d clusters (%d new) from %d of %d mentions in %d ms",
        len(clusters),
        len(created),
        len(current.ids),
        current.total,
        run.duration_ms,
    )
    return run


_FIGURES = (
    "volume",
    "previous_volume",
    "growth",
    "positive",
    "neutral",
    "negative",
    "negative_share",
    "reach",
)


def _figures(
    *, topic: Topic, cluster: core.Cluster, window: _Window, previous_volume: int, seen_at: datetime
) -> None:
    volume = round(len(cluster.members) * window.scale)
    feelings = _sentiments(cluster=cluster, window=window)
    topic.label = cluster.label[:200]
    topic.terms = cluster.terms
    topic.centroid = cluster.centroid
    topic.status = TopicStatus.ACTIVE
    topic.last_seen_at = seen_at
    topic.merged_into = None
    topic.volume = volume
    topic.previous_volume = previous_volume
    topic.growth = core.growth(volume=volume, previous_volume=previous_volume)
    topic.positive = feelings[Sentiment.POSITIVE]
    topic.neutral = feelings[Sentiment.NEUTRAL]
    topic.negative = feelings[Sentiment.NEGATIVE]
    topic.negative_share = topic.negative / volume if volume else 0.0
    topic.reach = round(int(window.followers[cluster.members].sum()) * window.scale)


def _sentiments(*, cluster: core.Cluster, window: _Window) -> dict[str, int]:
    counts = dict.fromkeys((Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE), 0)
    for i in cluster.members:
        feeling = window.sentiments[i]
        if feeling in counts:
            counts[Sentiment(feeling)] += 1
    return {feeling.value: round(count * window.scale) for feeling, count in counts.items()}


def _reassign(*, window: _Window, clusters: Sequence[core.Cluster], topics: Sequence[Topic]) -> None:
    """The run's word replaces whatever topic the sampled mentions had; mentions it did not put in
    a topic lose theirs (the topic they were near may have gone dormant)."""
    TopicMention.objects.filter(mention_id__in=window.ids.tolist()).delete()
    TopicMention.objects.bulk_create(
        TopicMention(
            topic=topic,
            mention_id=int(window.ids[i]),
            posted_at=window.posted[i],
            similarity=float(similarity),
        )
        for topic, cluster in zip(topics, clusters, strict=True)
        for i, similarity in zip(cluster.members, cluster.similarities, strict=True)
    )


def topics_assign(*, mentions: Sequence[Mention]) -> int:
    """Put freshly enriched mentions in the nearest active topic when they are close enough to
    its centroid (enrichment calls this inside its transaction). Returns how many joined one."""
    embedded = [m for m in mentions if m.embedding is not None]
    if not embedded:
        return 0
    active = list(Topic.objects.filter(status=TopicStatus.ACTIVE).values_list("id", "centroid"))
    if not active:
        return 0
    labels, sims = core.nearest(
        vectors=np.array([m.embedding for m in embedded], dtype=np.float32),
        centroids=np.array([c for _, c in active], dtype=np.float32),
    )
    joined = [
        TopicMention(topic_id=active[label][0], mention_id=m.pk, posted_at=m.posted_at, similarity=float(sim))
        for m, label, sim in zip(embedded, labels, sims, strict=True)
        if label >= 0
    ]
    TopicMention.objects.bulk_create(joined, ignore_conflicts=True)
    return len(joined)
