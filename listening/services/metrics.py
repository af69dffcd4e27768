"""The metric buckets, kept by adding deltas: +1 per mention (and per query tag) when enrichment
claims a batch, -1/+1 per tag when a query backfill re-tags, and a rebuild from the mentions for
recovery.

Each change is one `INSERT ... ON CONFLICT DO UPDATE SET x = x + EXCLUDED.x` that counts a set of
(mention, query) deltas at every grain, with and without its source and language (NULL is "all"),
run in the transaction that makes the change it counts:
a batch whose claim fails (delivered twice) adds nothing, and a rolled-back batch takes its counts
with it. Rows are aggregated and sorted by key before the upsert, because ON CONFLICT may touch a
row once per statement and two workers must lock shared rows in the same order (no deadlock). The
sort is the key's own order (time last), so a rebuild lays a series' rows out next to each other
on disk: a year of hours is then read from a few dozen pages, not thousands.

Every change also sets a new metrics version for the tenant, which retires the API's cached bucket
reads (listening.selectors_metrics): at once, so the writer's own transaction reads its change,
and again at commit, so a read that ran meanwhile (it saw the old rows) is not kept as current.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction

from listening.models import MetricGrain, SourceKind
from listening.selectors_metrics import current_tenant_id, metrics_version_key

logger = logging.getLogger(__name__)

# "Press or high-reach": a mention from a news feed (an RSS/Atom source: feeds are where listening
# reads the press) or by an author with at least this many followers (the inbox's default
# high-reach threshold). A constant, not a setting: a rebuild must count what enrichment counted.
PRESS_FOLLOWERS = 10_000
PRESS_SOURCE_KINDS = (SourceKind.RSS,)

_GRAINS = ", ".join(f"({int(g)})" for g in MetricGrain)
_PRESS_SQL = ", ".join(f"'{kind.value}'" for kind in PRESS_SOURCE_KINDS)

# `{deltas}` is a SELECT of (mention_id, query_id, sign); query_id NULL is the all-mentions row.
_UPSERT = f"""
    INSERT INTO listening_metricbucket AS b
        (grain, bucket_start, query_id, source_id, lang, volume, positive, neutral, negative, reach,
         negative_reach, crisis_language, press)
    SELECT g.grain,
           date_bin(make_interval(secs => g.grain), m.posted_at, TIMESTAMPTZ '1970-01-01 00:00:00+00'),
           d.query_id,
           CASE WHEN x.by_source THEN m.source_id END,
           CASE WHEN x.by_lang THEN m.lang END,
           sum(d.sign),
           coalesce(sum(d.sign) FILTER (WHERE m.sentiment = 'positive'), 0),
           coalesce(sum(d.sign) FILTER (WHERE m.sentiment = 'neutral'), 0),
           coalesce(sum(d.sign) FILTER (WHERE m.sentiment = 'negative'), 0),
           coalesce(sum(d.sign * coalesce(m.author_followers, 0)), 0),
           coalesce(sum(d.sign * coalesce(m.author_followers, 0)) FILTER (WHERE m.sentiment = 'negative'), 0),
           coalesce(sum(d.sign) FILTER (WHERE m.crisis_language), 0),
           coalesce(sum(d.sign) FILTER (
               WHERE src.kind IN ({_PRESS_SQL}) OR m.author_followers >= {PRESS_FOLLOWERS}), 0)
    FROM ({{deltas}}) AS d (mention_id, query_id, sign)
    JOIN listening_mention AS m ON m.id = d.mention_id
    JOIN listening_source AS src ON src.id = m.source_id
    CROSS JOIN (VALUES {_GRAINS}) AS g (grain)
    CROSS JOIN (VALUES (true, true), (true, false), (false, true), (false, false)) AS x (by_source, by_lang)
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 3, 4, 5, 2
    ON CONFLICT ON CONSTRAINT metric_bucket_key DO UPDATE SET
        volume = b.volume + EXCLUDED.volume,
        positive = b.positive + EXCLUDED.positive,
        neutral = b.neutral + EXCLUDED.neutral,
        negative = b.negative + EXCLUDED.negative,
        reach = b.reach + EXCLUDED.reach,
        negative_reach = b.negative_reach + EXCLUDED.negative_reach,
        crisis_language = b.crisis_language + EXCLUDED.crisis_language,
        press = b.press + EXCLUDED.press
"""  # noqa: S608 - only constants (grains, source kinds, the follower threshold) are formatted in


def metrics_version_bump() -> None:
    """A new metrics version for the current tenant, now and when the transaction commits."""
    tenant_id = current_tenant_id()
    if tenant_id is None:
        return
    key = metrics_version_key(tenant_id)

    def bump() -> None:
        try:
            cache.set(key, uuid.uuid4().hex, timeout=None)
        except Exception:  # cached reads then live out their time limit
            logger.warning("metrics cache unavailable; cached reads expire on their own", exc_info=True)

    bump()
    transaction.on_commit(bump)


def _upsert(deltas: str, params: Sequence[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT.format(deltas=deltas), params)
    metrics_version_bump()


def metrics_count_enriched(*, mention_ids: Sequence[int]) -> None:
    """Count freshly enriched mentions (with their query tags) into the buckets. Call it inside
    the enrichment transaction, with only the mentions that transaction claimed."""
    if not mention_ids:
        return
    ids = list(mention_ids)
    _upsert(
        "SELECT id, NULL::bigint, 1 FROM unnest(%s::bigint[]) AS ids (id)"
        " UNION ALL SELECT mention_id, query_id, 1 FROM listening_querymatch WHERE mention_id = ANY(%s)",
        [ids, ids],
    )


def query_matches_clear(*, query_id: int) -> int:
    """Remove every tag of a query and take them out of its buckets, in one statement (one
    transaction): what was deleted is exactly what is subtracted. Returns tags removed."""
    return _tags_change(
        "WITH changed AS (DELETE FROM listening_querymatch WHERE query_id = %s"
        " RETURNING mention_id, query_id) ",
        [query_id],
        sign=-1,
    )


def query_matches_add(*, query_id: int, mention_ids: Sequence[int]) -> int:
    """Tag mentions with a query and count the tags that were new (a tag already there, say
    from enrichment running at the same time, is neither stored nor counted twice)."""
    if not mention_ids:
        return 0
    return _tags_change(
        "WITH changed AS (INSERT INTO listening_querymatch (query_id, mention_id, posted_at)"
        " SELECT %s, m.id, m.posted_at FROM listening_mention AS m WHERE m.id = ANY(%s)"
        " ON CONFLICT (query_id, mention_id) DO NOTHING RETURNING mention_id, query_id) ",
        [query_id, list(mention_ids)],
        sign=1,
    )


def _tags_change(change: str, params: list[Any], *, sign: int) -> int:
    # A data-modifying CTE runs exactly once, even when the statement reads it twice.
    upsert = _UPSERT.format(deltas="SELECT mention_id, query_id, %s::int FROM changed")
    sql = change + ", counted AS (" + upsert + " RETURNING 1) SELECT count(*) FROM changed"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, sign])
        changed = int(cursor.fetchone()[0])
    metrics_version_bump()
    return changed


def _day_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def metrics_rebuild(*, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Recount the buckets of [start, end), widened to whole UTC days, from the enriched mentions
    and their tags (recovery; gives what the incremental updates give). The table is locked
    against concurrent upserts for the duration, so no enrichment is counted twice or lost.
    Returns the range rebuilt."""
    low = _day_floor(start)
    high = _day_floor(end)
    if high < end:
        high += timedelta(days=1)
    with transaction.atomic(), connection.cursor() as cursor:
        # SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE lock of every upsert: enrichment
        # that counted before waits for us to see it committed, later enrichment waits for us.
        cursor.execute("LOCK TABLE listening_metricbucket IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            "DELETE FROM listening_metricbucket WHERE bucket_start >= %s AND bucket_start < %s", [low, high]
        )
        _upsert(
            "SELECT id, NULL::bigint, 1 FROM listening_mention"
            " WHERE enriched_at IS NOT NULL AND posted_at >= %s AND posted_at < %s"
            " UNION ALL SELECT qm.mention_id, qm.query_id, 1 FROM listening_querymatch AS qm"
            " JOIN listening_mention AS mm ON mm.id = qm.mention_id"
            " WHERE mm.enriched_at IS NOT NULL AND mm.posted_at >= %s AND mm.posted_at < %s",
            [low, high, low, high],
        )
    logger.info("metric buckets rebuilt for %s .. %s", low, high)
    return low, high
