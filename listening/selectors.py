"""Reads of listening. Tenant isolation is the schema's (these run inside the request's tenant);
the API layer decides who may call them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet, Value
from django.http import Http404
from pgvector.django import CosineDistance

from listening.models import (
    Alert,
    AlertDelivery,
    AlertEvidence,
    AlertRule,
    Mention,
    Notification,
    Query,
    QueryMatch,
    Source,
    Topic,
    TopicMention,
    TopicRun,
    TopicSnapshot,
    TopicStatus,
    UploadJob,
)
from listening.nlp.language import postgres_text_search_config

# The metric reads live in their own module; these names are the stable interface (alerts use it).
from listening.selectors_metrics import MetricPoint as MetricPoint
from listening.selectors_metrics import metric_series as metric_series

# Full-text queries are run in these configurations at once (a mention's vector was built in its
# own language's configuration, and `simple` covers the rest), unless a language is chosen.
SEARCH_CONFIGS = ("simple", "english", "spanish", "french", "german", "portuguese", "italian", "dutch")


@dataclass(frozen=True)
class MentionFilters:
    query_id: int | None = None
    source_id: int | None = None
    sentiment: str = ""
    lang: str = ""
    author: str = ""
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""  # full-text search


def _search(text: str, lang: str) -> SearchQuery:
    configs = [postgres_text_search_config(lang)] if lang else list(SEARCH_CONFIGS)
    queries = [SearchQuery(text, search_type="websearch", config=config) for config in configs]
    return reduce(lambda a, b: a | b, queries)


def mention_list(*, filters: MentionFilters) -> QuerySet[Mention]:
    mentions = (
        Mention.objects.select_related("source", "story")
        .prefetch_related(
            Prefetch("query_matches", queryset=QueryMatch.objects.only("id", "query_id", "mention_id"))
        )
        .defer("raw", "embedding", "search_vector")
    )
    if filters.query_id is not None:
        mentions = mentions.filter(query_matches__query_id=filters.query_id)
    if filters.source_id is not None:
        mentions = mentions.filter(source_id=filters.source_id)
    if filters.sentiment:
        mentions = mentions.filter(sentiment=filters.sentiment)
    if filters.lang:
        mentions = mentions.filter(lang=filters.lang)
    if filters.author:
        mentions = mentions.filter(author_handle__iexact=filters.author.lstrip("@"))
    if filters.since is not None:
        mentions = mentions.filter(posted_at__gte=filters.since)
    if filters.until is not None:
        mentions = mentions.filter(posted_at__lt=filters.until)
    if filters.text:
        mentions = mentions.filter(search_vector=_search(filters.text, filters.lang))
    return mentions.order_by("-posted_at", "-id")


def mention_get(*, mention_id: int) -> Mention:
    mention = Mention.objects.select_related("source", "story").filter(pk=mention_id).first()
    if mention is None:
        raise Http404("No such mention")
    return mention


def mention_similar(*, mention: Mention, filters: MentionFilters, limit: int = 20) -> list[Mention]:
    """ "More like this": the nearest mentions by embedding (cosine), within the filters.

    The HNSW index is approximate and filters apply after its scan, so dead or filtered-out rows
    can leave it short of `limit` (pgvector before 0.8 has no iterative scans). It is searched
    wide (ef_search 1000, its maximum); a short answer is redone exactly over the filtered rows."""
    if mention.embedding is None:
        return []
    candidates = mention_list(filters=filters).exclude(pk=mention.pk).filter(embedding__isnull=False)
    distance = CosineDistance("embedding", mention.embedding)
    found: list[Mention]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.ef_search = 1000")
        found = list(candidates.annotate(distance=distance).order_by("distance")[:limit])
    if len(found) < limit:
        # `+ 0` hides the expression from the index: an exact scan of the (filtered) rows.
        found = list(candidates.annotate(distance=distance + Value(0.0)).order_by("distance")[:limit])
    return found


def source_list() -> QuerySet[Source]:
    return Source.objects.order_by("name")


def source_get(*, source_id: int) -> Source:
    source = Source.objects.filter(pk=source_id).first()
    if source is None:
        raise Http404("No such source")
    return source


def query_list() -> QuerySet[Query]:
    return Query.objects.order_by("name")


def upload_list() -> QuerySet[UploadJob]:
    return UploadJob.objects.select_related("source").order_by("-created_at", "-id")


# Alerts ------------------------------------------------------------------------------------------


def alert_rule_list() -> QuerySet[AlertRule]:
    return AlertRule.objects.select_related("query", "source").order_by("name")


def alert_rule_get(*, rule_id: int) -> AlertRule:
    rule = alert_rule_list().filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such alert rule")
    return rule


@dataclass(frozen=True)
class AlertFilters:
    status: str = ""
    rule_id: int | None = None
    kind: str = ""
    since: datetime | None = None
    until: datetime | None = None


EVIDENCE_SHOWN = 5


def _evidence_prefetch(limit: int) -> Prefetch:
    # A sliced prefetch (Django 4.2+): the top few of each alert in one query, by a window function.
    return Prefetch(
        "evidence",
        queryset=AlertEvidence.objects.select_related("mention", "mention__source").order_by(
            "-reach", "-mention__posted_at"
        )[:limit],
        to_attr="top_evidence",
    )


def alert_list(*, filters: AlertFilters, evidence: int = EVIDENCE_SHOWN) -> QuerySet[Alert]:
    alerts = Alert.objects.select_related("rule").prefetch_related(_evidence_prefetch(evidence))
    if filters.status:
        alerts = alerts.filter(status=filters.status)
    if filters.rule_id is not None:
        alerts = alerts.filter(rule_id=filters.rule_id)
    if filters.kind:
        alerts = alerts.filter(kind=filters.kind)
    if filters.since is not None:
        alerts = alerts.filter(fired_at__gte=filters.since)
    if filters.until is not None:
        alerts = alerts.filter(fired_at__lt=filters.until)
    return alerts.order_by("-fired_at", "-id")


def alert_get(*, alert_id: int, evidence: int = 20) -> Alert:
    alert = (
        alert_list(filters=AlertFilters(), evidence=evidence)
        .prefetch_related("deliveries")
        .filter(pk=alert_id)
        .first()
    )
    if alert is None:
        raise Http404("No such alert")
    return alert


def alert_evidence_top(*, alert: Alert, limit: int) -> list[AlertEvidence]:
    return list(
        AlertEvidence.objects.filter(alert=alert)
        .select_related("mention")
        .order_by("-reach", "-mention__posted_at")[:limit]
    )


def alert_delivery_list(*, alert_id: int | None = None, status: str = "") -> QuerySet[AlertDelivery]:
    deliveries = AlertDelivery.objects.select_related("alert__rule")
    if alert_id is not None:
        deliveries = deliveries.filter(alert_id=alert_id)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.order_by("-created_at", "-id")


def notification_list(*, user_id: int, unread: bool = False) -> QuerySet[Notification]:
    notifications = Notification.objects.filter(user_id=user_id).select_related("alert__rule")
    if unread:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-created_at", "-id")


def notification_unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def alert_markers(*, since: datetime, until: datetime) -> QuerySet[Alert]:
    """Alerts as markers on a time chart: when, which rule, and why."""
    return (
        Alert.objects.filter(fired_at__gte=since, fired_at__lt=until)
        .select_related("rule")
        .only("id", "fired_at", "kind", "why", "status", "rule__name")
        .order_by("fired_at", "id")
    )


# Topics ------------------------------------------------------------------------------------------

TOPIC_ORDERINGS = {
    "growth": ("-growth", "-id"),
    "volume": ("-volume", "-id"),
    "negative": ("-negative_share", "-id"),
    "new": ("-first_seen_at", "-id"),
}


@dataclass(frozen=True)
class TopicFilters:
    status: str = TopicStatus.ACTIVE  # "" for every status
    min_volume: int = 0
    new_since: datetime | None = None  # first seen at or after
    text: str = ""  # a word of the label or terms


def topic_list(*, filters: TopicFilters, sort: str = "growth") -> QuerySet[Topic]:
    topics = Topic.objects.defer("centroid")
    if filters.status:
        topics = topics.filter(status=filters.status)
    if filters.min_volume:
        topics = topics.filter(volume__gte=filters.min_volume)
    if filters.new_since is not None:
        topics = topics.filter(first_seen_at__gte=filters.new_since)
    if filters.text:
        topics = topics.filter(label__icontains=filters.text)
    return topics.order_by(*TOPIC_ORDERINGS[sort])


def topic_run_latest() -> TopicRun | None:
    return TopicRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()


def topic_get(*, topic_id: int) -> Topic:
    topic = Topic.objects.defer("centroid").filter(pk=topic_id).first()
    if topic is None:
        raise Http404("No such topic")
    return topic


def topic_history(*, topic: Topic, since: datetime | None = None) -> list[TopicSnapshot]:
    """The topic's snapshots, oldest first (one per run it appeared in)."""
    snapshots = TopicSnapshot.objects.filter(topic=topic)
    if since is not None:
        snapshots = snapshots.filter(taken_at__gte=since)
    return list(snapshots.order_by("taken_at"))


def topic_histories(*, topic_ids: list[int], since: datetime) -> dict[int, list[TopicSnapshot]]:
    """Snapshots since `since` of several topics at once (the list page's sparklines)."""
    found: dict[int, list[TopicSnapshot]] = {topic_id: [] for topic_id in topic_ids}
    for snapshot in (
        TopicSnapshot.objects.filter(topic_id__in=topic_ids, taken_at__gte=since)
        .only("id", "topic_id", "taken_at", "volume", "negative")
        .order_by("taken_at")
    ):
        found[snapshot.topic_id].append(snapshot)
    return found


def topic_mentions(*, topic: Topic, filters: MentionFilters) -> QuerySet[Mention]:
    return mention_list(filters=filters).filter(topic_assignment__topic=topic)


def topic_examples(*, topic: Topic, limit: int = 5) -> list[Mention]:
    """Mentions that say what the topic is about: the closest to its centroid among its recent
    ones, one per story (copies of one post are one example)."""
    closest = list(
        TopicMention.objects.filter(topic=topic)
        .order_by("-similarity", "-posted_at")
        .values_list("mention_id", flat=True)[: limit * 10]
    )
    mentions = mention_list(filters=MentionFilters()).filter(pk__in=closest)
    order = {mention_id: i for i, mention_id in enumerate(closest)}
    picked: list[Mention] = []
    stories: set[int] = set()
    for mention in sorted(mentions, key=lambda m: order[m.pk]):
        if mention.story_id is not None and mention.story_id in stories:
            continue
        if mention.story_id is not None:
            stories.add(mention.story_id)
        picked.append(mention)
        if len(picked) == limit:
            break
    return picked
