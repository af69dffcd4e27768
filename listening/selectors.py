"""Reads of listening. Tenant isolation is the schema's (these run inside the request's tenant);
the API layer decides who may call them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Min,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Extract
from django.http import Http404
from pgvector.django import CosineDistance

from listening.models import (
    WAITING_STATUSES,
    Alert,
    AlertDelivery,
    AlertEvidence,
    AlertRule,
    InboxEvent,
    InboxItem,
    InboxSettings,
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
from listening.nlp import needs_reply
from listening.nlp.language import postgres_text_search_config

# The metric reads live in their own module; these names are the stable interface (alerts use it).
from listening.selectors_metrics import MetricPoint as MetricPoint
from listening.selectors_metrics import metric_series as metric_series
from tenants.access import ROLE_CAPABILITIES, Capability
from tenants.models import Tenant, User

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


def topic_top_in_range(*, start: datetime, end: datetime, limit: int = 10) -> QuerySet[Topic]:
    """The biggest topics that were alive in [start, end): the dashboard's top-topics panel. A
    topic's figures are those of its latest run (topics are about the recent window)."""
    return (
        Topic.objects.defer("centroid")
        .filter(first_seen_at__lt=end, last_seen_at__gte=start, merged_into__isnull=True)
        .order_by("-volume", "-growth", "id")[:limit]
    )


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


# Inbox -------------------------------------------------------------------------------------------

INBOX_WAITING = "waiting"  # the status filter of new and assigned items together
INBOX_ALL = "all"


@dataclass(frozen=True)
class InboxFilters:
    status: str = INBOX_WAITING  # an InboxStatus value, INBOX_WAITING or INBOX_ALL
    assignee_id: int | None = None
    unassigned: bool = False
    reason: str = ""
    query_id: int | None = None
    text: str = ""  # full-text search of the mention
    since: datetime | None = None  # the mention's arrival
    until: datetime | None = None


def inbox_settings_get() -> InboxSettings:
    """The tenant's inbox settings; the defaults until someone saves them."""
    return InboxSettings.objects.filter(pk=1).first() or InboxSettings(pk=1)


def inbox_item_list(*, filters: InboxFilters, now: datetime, top: int | None = None) -> QuerySet[InboxItem]:
    """Items ranked by priority: the arrival priority plus the waiting bonus (which grows for
    needs_reply.WAIT_FULL_HOURS), as of `now`; ties go to the item that arrived first.

    `top`: only the first `top` items will be read (a first page). The bonus is at most
    WAIT_WEIGHT, so none of them has a priority below the top-th highest priority minus
    WAIT_WEIGHT: that floor (found on the priority index) spares sorting every waiting item."""
    wait = RawSQL(
        # float8: EXTRACT answers numeric since PostgreSQL 14, whose arithmetic is several times slower.
        "LEAST(GREATEST(EXTRACT(EPOCH FROM (%s - listening_inboxitem.received_at))::float8 / 3600.0, 0), %s)"
        " / %s",
        (now, needs_reply.WAIT_FULL_HOURS, needs_reply.WAIT_FULL_HOURS),
        output_field=FloatField(),
    )
    waiting_bonus = Case(
        When(status__in=WAITING_STATUSES, then=wait * needs_reply.WAIT_WEIGHT),
        default=Value(0.0),
        output_field=FloatField(),
    )
    # Ranked on the item table alone: the page's mentions are loaded afterwards (inbox_items_load),
    # since joining them first made PostgreSQL join every waiting item before sorting.
    items = InboxItem.objects.annotate(rank=F("priority") + waiting_bonus)
    if filters.status == INBOX_WAITING:
        items = items.filter(status__in=WAITING_STATUSES)
    elif filters.status != INBOX_ALL:
        items = items.filter(status=filters.status)
    if filters.unassigned:
        items = items.filter(assignee_id__isnull=True)
    elif filters.assignee_id is not None:
        items = items.filter(assignee_id=filters.assignee_id)
    if filters.reason:
        items = items.filter(reasons__contains=[filters.reason])
    if filters.query_id is not None:
        items = items.filter(mention__query_matches__query_id=filters.query_id)
    if filters.text:
        items = items.filter(mention__search_vector=_search(filters.text, ""))
    if filters.since is not None:
        items = items.filter(received_at__gte=filters.since)
    if filters.until is not None:
        items = items.filter(received_at__lt=filters.until)
    if top is not None:
        floor = list(items.order_by("-priority").values_list("priority", flat=True)[top - 1 : top])
        if floor:
            items = items.filter(priority__gte=floor[0] - needs_reply.WAIT_WEIGHT)
    return items.order_by("-rank", "received_at", "id")


def inbox_items_load(*, items: list[InboxItem]) -> list[InboxItem]:
    """A page of items with their mentions, sources and stories: three queries, whatever its size."""
    mentions = Mention.objects.select_related("source").defer("raw", "embedding", "search_vector")
    prefetch_related_objects(items, Prefetch("mention", queryset=mentions), "story")
    return items


def inbox_item_get(*, item_id: int) -> InboxItem:
    item = InboxItem.objects.select_related("mention", "mention__source", "story").filter(pk=item_id).first()
    if item is None:
        raise Http404("No such inbox item")
    return item


def inbox_item_events(*, item: InboxItem) -> QuerySet[InboxEvent]:
    return InboxEvent.objects.filter(item=item).order_by("at", "id")


def inbox_people(*, user_ids: Iterable[int | None]) -> dict[int, User]:
    """The people named on items (assignees, responders, actors), in one query of the public schema."""
    wanted = {pk for pk in user_ids if pk is not None}
    return User.objects.in_bulk(wanted) if wanted else {}


class _Percentile(Aggregate):
    # PostgreSQL's ordered-set aggregate; Django has none built in.
    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float) -> None:
        super().__init__(expression, fraction=float(fraction))


@dataclass(frozen=True)
class ResponseTimes:
    """First-response times (seconds) of the items first answered in a range."""

    count: int
    median_s: float | None
    p90_s: float | None
    within_target: int

    @property
    def within_target_share(self) -> float | None:
        return self.within_target / self.count if self.count else None


@dataclass(frozen=True)
class MemberResponseTimes:
    user_id: int
    name: str
    times: ResponseTimes
    waiting: int  # assigned to them and not answered yet


@dataclass(frozen=True)
class InboxStats:
    since: datetime
    until: datetime
    target_s: int
    overall: ResponseTimes
    members: list[MemberResponseTimes]
    waiting: int
    waiting_unassigned: int
    oldest_waiting_at: datetime | None


def inbox_stats(*, since: datetime, until: datetime, target_s: int) -> InboxStats:
    """First-response times of items first answered in [since, until), overall and per person who
    answered (median, 90th percentile, count, share within the target); and what waits now."""
    elapsed = ExpressionWrapper(F("first_response_at") - F("received_at"), output_field=DurationField())
    seconds = Extract(elapsed, "epoch")
    measures = {
        "count": Count("id"),
        "median_s": _Percentile(seconds, 0.5),
        "p90_s": _Percentile(seconds, 0.9),
        "within_target": Count(
            "id", filter=Q(first_response_at__lte=F("received_at") + timedelta(seconds=target_s))
        ),
    }
    answered = InboxItem.objects.filter(first_response_at__gte=since, first_response_at__lt=until)
    overall = answered.aggregate(**measures)
    per_member: dict[int, dict[str, Any]] = {
        row["first_responder_id"]: dict(row)
        for row in answered.values("first_responder_id").annotate(**measures).order_by()
        if row["first_responder_id"] is not None
    }
    waiting_rows = (
        InboxItem.objects.filter(status__in=WAITING_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"), oldest=Min("received_at"))
        .order_by()
    )
    waiting_by: dict[int | None, dict[str, Any]] = {row["assignee_id"]: dict(row) for row in waiting_rows}
    people = inbox_people(user_ids=[*per_member, *waiting_by])
    idle: dict[str, Any] = {"count": 0, "median_s": None, "p90_s": None, "within_target": 0}
    members = []
    for user_id in sorted({*per_member, *(k for k in waiting_by if k is not None)}):
        row = per_member.get(user_id, idle)
        person = people.get(user_id)
        members.append(
            MemberResponseTimes(
                user_id=user_id,
                name=(person.full_name or person.email) if person else f"user {user_id}",
                times=_times(row),
                waiting=waiting_by[user_id]["n"] if user_id in waiting_by else 0,
            )
        )
    members.sort(key=lambda m: (-m.times.count, m.name))
    oldest = [row["oldest"] for row in waiting_by.values()]
    return InboxStats(
        since=since,
        until=until,
        target_s=target_s,
        overall=_times(overall),
        members=members,
        waiting=sum(row["n"] for row in waiting_by.values()),
        waiting_unassigned=waiting_by[None]["n"] if None in waiting_by else 0,
        oldest_waiting_at=min(oldest) if oldest else None,
    )


def _times(row: dict[str, Any]) -> ResponseTimes:
    return ResponseTimes(
        count=row["count"] or 0,
        median_s=row["median_s"],
        p90_s=row["p90_s"],
        within_target=row["within_target"] or 0,
    )


def inbox_assignable_people(*, tenant: Tenant) -> QuerySet[User]:
    """Who may be given an item: active members and agency staff whose role can edit here (the
    same rule as services.inbox.inbox_assignee_validate)."""
    editing = [role for role, caps in ROLE_CAPABILITIES.items() if Capability.EDIT in caps]
    allowed = Q(memberships__tenant=tenant, memberships__role__in=editing)
    if tenant.agency_id is not None:
        allowed |= Q(agency_memberships__agency_id=tenant.agency_id, agency_memberships__role__in=editing)
    return User.objects.filter(allowed, is_active=True).distinct().order_by("full_name", "email")
