"""Enrichment: language, embedding, sentiment, story (near-duplicate collapse), query tags, crisis
language (for the risk score's buckets) and the full-text vector, for a batch of stored mentions.

The models run outside any transaction (seconds for a batch); then a short transaction claims the
rows that are still unenriched (`FOR UPDATE SKIP LOCKED`) and writes the results. A batch delivered
twice, or to two workers at once, therefore enriches each mention once in effect (RELIABILITY 23).
Attempts are counted before the work, so a mention that kills its worker every time stops being
retried after MAX_ATTEMPTS (RELIABILITY 24: brokers do not count redeliveries).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import F, Value
from django.utils import timezone

from crisis.ml.features import crisis_language_match
from listening.models import Mention, QueryMatch, Story
from listening.nlp import dedupe, embedder, language, sentiment
from listening.services import alerts
from listening.services.inbox import inbox_items_queue
from listening.services.metrics import metrics_count_enriched
from listening.services.queries import active_compiled_queries, document_for
from listening.services.topics import topics_assign

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A copy joins the story of its original if that story saw a mention within this window; a near
# copy (a few fingerprint bits apart) is looked for among the stories of the last NEAR_WINDOW.
STORY_WINDOW = timedelta(days=7)
NEAR_WINDOW = timedelta(days=1)
NEAR_CANDIDATES = 20_000
_FIELDS = ("id", "text", "author_handle", "lang_hint", "posted_at", "source__name", "source__kind")
# What the inbox reads of each mention (listening.services.inbox), loaded with the batch.
_INBOX_FIELDS = ("author_followers", "raw", "received_at")


def mentions_enrich(*, mention_ids: Sequence[int]) -> int:
    """Enrich the given mentions that still need it; returns how many this call enriched."""
    pending = list(
        Mention.objects.filter(id__in=mention_ids, enriched_at__isnull=True, enrich_attempts__lt=MAX_ATTEMPTS)
        .select_related("source")
        .only(*_FIELDS, *_INBOX_FIELDS)
        .order_by("id")
    )
    if not pending:
        return 0
    Mention.objects.filter(id__in=[m.pk for m in pending]).update(enrich_attempts=F("enrich_attempts") + 1)

    texts = [m.text for m in pending]
    detected = language.detect_languages(texts)
    vectors = embedder.encode(texts)
    feelings = sentiment.SentimentModel.load().predict(texts, vectors)
    keys = [dedupe.story_key(text) for text in texts]
    queries = active_compiled_queries()
    for mention, lang in zip(pending, detected, strict=True):
        mention.lang = lang or mention.lang_hint.lower()
    tags = [
        QueryMatch(query_id=query_id, mention_id=mention.pk, posted_at=mention.posted_at)
        for mention in pending
        for query_id, query in queries
        if query.matches(document_for(mention))
    ]

    with transaction.atomic():
        claimed = set(
            Mention.objects.select_for_update(skip_locked=True)
            .filter(id__in=[m.pk for m in pending], enriched_at__isnull=True)
            .values_list("id", flat=True)
        )
        if not claimed:
            return 0
        now = timezone.now()
        chosen = [i for i, m in enumerate(pending) if m.pk in claimed]
        # A post with no text (an image without a caption) has the empty fingerprint: nobody's copy.
        storied = [i for i in chosen if keys[i] != dedupe.EMPTY_STORY_KEY]
        stories = _assign_stories([pending[i] for i in storied], [keys[i] for i in storied])
        updated = []
        for i in chosen:
            mention = pending[i]
            mention.sentiment, mention.sentiment_score = feelings[i]
            mention.embedding = vectors[i]
            mention.story = stories.get(mention.pk)
            mention.is_share = dedupe.is_retweet(mention.text)
            mention.crisis_language = crisis_language_match(mention.text)
            mention.enriched_at = now
            updated.append(mention)
        Mention.objects.bulk_update(
            updated,
            [
                "lang",
                "sentiment",
                "sentiment_score",
                "embedding",
                "story",
                "is_share",
                "crisis_language",
                "enriched_at",
            ],
        )
        by_config: dict[str, list[int]] = defaultdict(list)
        for mention in updated:
            by_config[language.postgres_text_search_config(mention.lang)].append(mention.pk)
        for config, ids in by_config.items():
            Mention.objects.filter(id__in=ids).update(
                search_vector=SearchVector("text", config=Value(config))
            )
        QueryMatch.objects.bulk_create([t for t in tags if t.mention_id in claimed], ignore_conflicts=True)
        # Counted in this transaction and for the claimed rows only: a batch delivered twice
        # claims nothing the second time, so it is counted once.
        metrics_count_enriched(mention_ids=sorted(claimed))
        alerts.on_mentions_enriched(mention_ids=sorted(claimed))
        topics_assign(mentions=updated)
        # In this transaction, on claimed rows only: a redelivered batch queues nothing twice.
        inbox_items_queue(mentions=updated)
    return len(updated)


def _assign_stories(mentions: list[Mention], keys: list[int]) -> dict[int, Story]:
    """The story of each mention: the recent story with the same fingerprint, or a new one.
    Per-fingerprint advisory locks (taken in key order, so no deadlock) keep two workers from
    opening the same story twice."""
    if not mentions:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", [sorted(set(keys))]
        )
    now = timezone.now()
    found: dict[int, Story] = {}
    for story in Story.objects.filter(key__in=set(keys), last_seen_at__gte=now - STORY_WINDOW).order_by(
        "last_seen_at"
    ):
        found[story.key] = story  # the most recent story of a key wins
    unmatched = [key for key in dict.fromkeys(keys) if key not in found]
    if unmatched:
        recent = list(
            Story.objects.filter(last_seen_at__gte=now - NEAR_WINDOW)
            .order_by("-last_seen_at")
            .values_list("id", "key")[:NEAR_CANDIDATES]
        )
        near: dict[int, int] = {}
        recent_keys = np.array([k for _, k in recent], dtype=np.int64)
        for key in unmatched:
            hits = dedupe.stories_within(key, recent_keys)
            if hits.size:
                near[key] = recent[int(hits[0])][0]
        by_id = Story.objects.in_bulk(set(near.values()))
        found.update({key: by_id[story_id] for key, story_id in near.items()})
    created: dict[int, Story] = {}
    first_of: dict[int, Mention] = {}
    for mention, key in zip(mentions, keys, strict=True):
        if key in found or key in created:
            continue
        twins = dedupe.stories_within(key, list(created))  # a near copy earlier in this batch
        if twins.size:
            found[key] = created[list(created)[int(twins[0])]]
            continue
        created[key] = Story(key=key, first_seen_at=mention.posted_at, last_seen_at=mention.posted_at)
        first_of[key] = mention
    Story.objects.bulk_create(created.values())
    stories = {**found, **created}
    seen: dict[int, tuple[int, datetime]] = {}
    assigned: dict[int, Story] = {}
    for mention, key in zip(mentions, keys, strict=True):
        count, latest = seen.get(key, (0, mention.posted_at))
        seen[key] = (count + 1, max(latest, mention.posted_at))
        assigned[mention.pk] = stories[key]
    for key, (count, latest) in seen.items():
        story = stories[key]
        story.mention_count += count
        story.last_seen_at = max(story.last_seen_at, latest)
        if key in first_of:
            story.first_mention = first_of[key]
    distinct = {id(story): story for story in stories.values()}.values()
    Story.objects.bulk_update(distinct, ["mention_count", "last_seen_at", "first_mention"])
    return assigned


def unenriched_ids(*, older_than: timedelta = timedelta(minutes=1), limit: int = 20_000) -> list[int]:
    """Mentions stored but never enriched (their task was never queued, or was lost)."""
    cutoff = timezone.now() - older_than
    return list(
        Mention.objects.filter(
            enriched_at__isnull=True, enrich_attempts__lt=MAX_ATTEMPTS, received_at__lt=cutoff
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
