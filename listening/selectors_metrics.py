"""Reads of the metric buckets: time series at any step (5 minutes to days, days aligned to local
midnight in a time zone), totals over a range, and the breakdowns the dashboard shows.

Every mention is counted at three grains (5 min, hour, UTC day; listening.services.metrics), so a
read picks the coarsest grain whose buckets fit exactly inside its steps: a year of UTC days reads
day rows, days in Europe/Berlin read hour rows, steps in Asia/Kolkata (+05:30) read 5-minute rows.
PostgreSQL's `width_bucket` over the step boundaries does the grouping, in one query.

The API's reads (`cached=True`) keep their rows in the configured cache for
`LISTENING_METRICS_CACHE_SECONDS`, under the tenant's metrics version: every service that changes
buckets sets a new version (listening.services.metrics), so a change is seen by the next read and
the time limit only bounds writes made around the services (a restore, hand-written SQL). Many
readers of one live dashboard ask for the same steps (a range's first step is floored to its
grid), so they share one read per version. Only slow reads are kept (`KEEP_READS_FROM_S`): a
quick one costs less to redo than to store."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from time import perf_counter
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef

from listening.models import Mention, MetricGrain, Query, QueryMatch, Source
from tenants.models import Tenant

GroupBy = Literal["query", "source", "lang"]
GRAINS = (MetricGrain.DAY, MetricGrain.HOUR, MetricGrain.MINUTES_5)  # coarsest first
FINEST = timedelta(seconds=MetricGrain.MINUTES_5)
DAY = timedelta(days=1)
MAX_STEPS = 20_000
# The cache key function adds the schema; the tenant's id is in the key too, so a tenant created
# later under a dropped tenant's schema name never reads what the dropped one cached.
VERSION_KEY = "listening:metrics-version:{tenant_id}"
# Only reads at least this slow are kept: storing one costs about a millisecond (more on the file
# cache), which a read of a few hundred bucket rows does not save.
KEEP_READS_FROM_S = 0.005
ROWS_KEY = "listening:metrics:{tenant_id}:{version}:{digest}"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricPoint:
    start: datetime
    volume: int
    positive: int
    neutral: int
    negative: int
    reach: int


@dataclass(frozen=True)
class MetricFilters:
    query_id: int | None = None
    source_id: int | None = None
    lang: str | None = None


def metric_steps(
    *, start: datetime, end: datetime, step: timedelta, tz: ZoneInfo | None = None
) -> list[datetime]:
    """The step boundaries covering [start, end): n + 1 UTC datetimes for n steps. The first step
    starts at or before `start`, on the step grid of `tz` (whole days start at local midnight, so
    a DST change day is 23 or 25 hours long; shorter steps count from the local midnight of
    `start`). Raises ValueError for a step that is not a whole number of 5-minute buckets dividing
    a day, or whole days."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("end must be after start")
    if step <= timedelta(0) or step % FINEST:
        raise ValueError("step must be a positive multiple of 5 minutes")
    if step < DAY and DAY % step:
        raise ValueError("a step shorter than a day must divide a day")
    if step >= DAY and step % DAY:
        raise ValueError("a step of a day or more must be whole days")
    zone = tz or ZoneInfo("UTC")
    local_day = start.astimezone(zone).date()
    if step >= DAY:
        bounds: list[datetime] = []
        day = local_day
        while True:
            bound = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
            bounds.append(bound)
            if bound >= end or len(bounds) > MAX_STEPS + 1:
                break
            day += step
        if len(bounds) > MAX_STEPS + 1:
            raise ValueError(f"more than {MAX_STEPS} steps")
        return bounds
    origin = datetime.combine(local_day, time(0), tzinfo=zone).astimezone(UTC)
    first = origin + ((start - origin) // step) * step
    count = -(-(end - first) // step)  # ceiling division
    if count > MAX_STEPS:
        raise ValueError(f"more than {MAX_STEPS} steps")
    return [first + i * step for i in range(count + 1)]


def _zone_key(tz: ZoneInfo | None) -> str:
    return tz.key if tz is not None else "UTC"


def _grain(bounds: Iterable[datetime]) -> int:
    epochs = [int(b.timestamp()) for b in bounds]
    for grain in GRAINS:
        if all(e % grain == 0 for e in epochs):
            return int(grain)
    return int(MetricGrain.MINUTES_5)  # bounds off the 5-minute grid (historic LMT offsets)


def _group_keys(group_by: GroupBy) -> list[Any]:
    """Every value the grouped column can hold. Naming them (`= ANY`) lets the index descend once
    per value to its time range; `IS NOT NULL` on a middle key column would walk the index over
    all time (PostgreSQL 16 has no skip scan)."""
    if group_by == "query":
        return list(Query.objects.values_list("id", flat=True))
    if group_by == "source":
        return list(Source.objects.values_list("id", flat=True))
    with connection.cursor() as cursor:
        # The day rows of all mentions: a few per day, whatever the volume.
        cursor.execute(
            "SELECT DISTINCT lang FROM listening_metricbucket WHERE grain = %s"
            " AND query_id IS NULL AND source_id IS NULL AND lang IS NOT NULL",
            [int(MetricGrain.DAY)],
        )
        return [row[0] for row in cursor.fetchall()]


def _conditions(
    filters: MetricFilters, group_by: GroupBy | None, keys: Iterable[str] = ()
) -> tuple[str, list[Any]]:
    """The WHERE clause: each dimension filtered, grouped (its values named: `keys`, or all of
    them), or NULL ("all")."""
    sql: list[str] = []
    params: list[Any] = []
    for column, value, grouped in (
        ("query_id", filters.query_id, group_by == "query"),
        ("source_id", filters.source_id, group_by == "source"),
        ("lang", filters.lang, group_by == "lang"),
    ):
        if value is not None:
            sql.append(f"{column} = %s")
            params.append(value)
        elif grouped and group_by is not None:
            sql.append(f"{column} = ANY(%s)")
            named = list(keys) or _group_keys(group_by)
            params.append([v if group_by == "lang" else int(v) for v in named])
        else:
            sql.append(f"{column} IS NULL")
    return " AND ".join(sql), params


def current_tenant_id() -> int | None:
    """The id of the tenant the connection is on: from the Tenant that routing or tenant_context
    set, else (a bare schema_context) looked up by schema name; None on the public schema."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(getattr(tenant, "pk", None), int):
        return int(tenant.pk)  # type: ignore[union-attr]
    if connection.schema_name == settings.PUBLIC_SCHEMA_NAME:  # type: ignore[attr-defined]
        return None
    return Tenant.objects.filter(schema_name=connection.schema_name).values_list("pk", flat=True).first()  # type: ignore[attr-defined]


def metrics_version_key(tenant_id: int) -> str:
    return VERSION_KEY.format(tenant_id=tenant_id)


def _rows(sql: str, params: Sequence[Any], *, cached: bool, identity: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The bucket query's rows, from the cache when `cached` and a read of the same query under
    the tenant's current metrics version is there (a read is kept when it took at least
    KEEP_READS_FROM_S). `identity` stands for the parameters in the
    key (it must determine them: hashing hundreds of step boundaries would cost more than the
    query). A cache that fails is skipped, not fatal."""
    tenant_id = current_tenant_id() if cached else None
    timeout = settings.LISTENING_METRICS_CACHE_SECONDS
    key = None
    if cached and timeout > 0 and tenant_id is not None:
        try:
            version_key = metrics_version_key(tenant_id)
            version = cache.get(version_key)
            if version is None:
                version = uuid.uuid4().hex
                if not cache.add(version_key, version, timeout=None):
                    version = cache.get(version_key, version)
            digest = hashlib.sha256(repr((sql, *identity)).encode()).hexdigest()
            key = ROWS_KEY.format(tenant_id=tenant_id, version=version, digest=digest)
            hit = cache.get(key)
        except Exception:  # the database still answers without the cache
            logger.warning("metrics cache unavailable; reading the buckets", exc_info=True)
            key = hit = None
        if hit is not None:
            return list(hit)
    started = perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [tuple(row) for row in cursor.fetchall()]
    if key is not None and perf_counter() - started >= KEEP_READS_FROM_S:
        try:
            cache.set(key, rows, timeout=timeout)
        except Exception:
            logger.warning("metrics cache unavailable; not keeping the read", exc_info=True)
    return rows


_GROUP_COLUMN = {None: "NULL::text", "query": "query_id::text", "source": "source_id::text", "lang": "lang"}


def metric_series_grouped(
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    filters: MetricFilters,
    group_by: GroupBy | None = None,
    tz: ZoneInfo | None = None,
    include: Iterable[str] = (),
    cached: bool = False,
) -> dict[str | None, list[MetricPoint]]:
    """One series per group (query id, source id or language, as text; the key None without
    grouping), each one point per step including empty steps. `include` names the groups to
    read, each shown even when empty; by default every query, source or language is read and
    groups without any mention in the range are absent. `cached`: see the module's notes."""
    include = list(include)
    bounds = metric_steps(start=start, end=end, step=step, tz=tz)
    grain = _grain(bounds)
    where, params = _conditions(filters, group_by, include)
    sql = f"""
        SELECT width_bucket(bucket_start, %s::timestamptz[]) AS i, {_GROUP_COLUMN[group_by]} AS g,
               sum(volume), sum(positive), sum(neutral), sum(negative), sum(reach)
        FROM listening_metricbucket
        WHERE grain = %s AND bucket_start >= %s AND bucket_start < %s AND {where}
        GROUP BY 1, 2
    """  # noqa: S608  (only fixed column names are formatted in; values are parameters)
    # The boundaries follow from the first one, their number, the step and the zone (metric_steps).
    identity = (grain, step, _zone_key(tz), bounds[0], len(bounds), *params)
    rows = _rows(sql, [bounds, grain, bounds[0], bounds[-1], *params], cached=cached, identity=identity)
    steps = len(bounds) - 1
    sums: dict[str | None, list[list[int]]] = {}
    for index, group, *values in rows:
        if group_by is None:
            group = None
        if group not in sums:
            sums[group] = [[0] * 5 for _ in range(steps)]
        sums[group][index - 1] = [int(v) for v in values]
    for group in (None,) if group_by is None else include:
        if group not in sums:
            sums[group] = [[0] * 5 for _ in range(steps)]
    return {
        group: [MetricPoint(bounds[i], *values) for i, values in enumerate(series)]
        for group, series in sums.items()
    }


def metric_series(
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    query_id: int | None = None,
    source_id: int | None = None,
    lang: str | None = None,
    tz: ZoneInfo | None = None,
) -> list[MetricPoint]:
    """Volume, sentiment counts and reach per step from `start` to `end`, one point per step
    including empty (zero) steps; see `metric_steps` for how steps align. Without `query_id`
    every enriched mention counts once; with it, the mentions that query tagged."""
    filters = MetricFilters(query_id=query_id, source_id=source_id, lang=lang)
    return metric_series_grouped(start=start, end=end, step=step, filters=filters, tz=tz)[None]


def _pieces(start: datetime, end: datetime) -> list[tuple[int, datetime, datetime]]:
    """[start, end) (on the 5-minute grid) as at most five runs of whole buckets: 5-minute and
    hour buckets at the edges, UTC days in the middle."""
    pieces: list[tuple[int, datetime, datetime]] = []

    def cut(low: datetime, high: datetime, grains: tuple[int, ...]) -> None:
        if low >= high:
            return
        grain, *finer = grains
        size = timedelta(seconds=grain)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        inner_low = epoch + -(-(low - epoch) // size) * size
        inner_high = epoch + ((high - epoch) // size) * size
        if not finer:
            pieces.append((grain, low, high))
            return
        if inner_low >= inner_high:
            cut(low, high, tuple(finer))
            return
        cut(low, inner_low, tuple(finer))
        pieces.append((grain, inner_low, inner_high))
        cut(inner_high, high, tuple(finer))

    cut(start, end, tuple(int(g) for g in GRAINS))
    return pieces


def metric_totals(
    *,
    start: datetime,
    end: datetime,
    filters: MetricFilters,
    group_by: GroupBy | None = None,
    keys: Iterable[str] = (),
    cached: bool = False,
) -> dict[str | None, MetricPoint]:
    """Sums over [start, end) per group (None without grouping; `keys` the groups to read, by
    default all), `start` floored and `end` ceiled to the 5-minute grid. A year reads day
    buckets, its ragged edges hour and 5-minute ones. `cached`: see the module's notes."""
    low = metric_steps(start=start, end=start + FINEST, step=FINEST)[0]
    high = metric_steps(start=end - FINEST, end=end, step=FINEST)[-1]
    pieces = _pieces(low, high)
    where, params = _conditions(filters, group_by, keys)
    ranges = " OR ".join("(grain = %s AND bucket_start >= %s AND bucket_start < %s)" for _ in pieces)
    sql = f"""
        SELECT {_GROUP_COLUMN[group_by]} AS g,
               sum(volume), sum(positive), sum(neutral), sum(negative), sum(reach)
        FROM listening_metricbucket
        WHERE ({ranges}) AND {where}
        GROUP BY 1
    """  # noqa: S608  (only fixed column names are formatted in; values are parameters)
    values = [value for piece in pieces for value in piece] + params
    rows = _rows(sql, values, cached=cached, identity=values)
    return {group: MetricPoint(low, *(int(v) for v in values)) for group, *values in rows}


@dataclass(frozen=True)
class AuthorReach:
    handle: str
    name: str
    followers: int
    mentions: int


def metric_top_authors(
    *, start: datetime, end: datetime, filters: MetricFilters, limit: int = 20
) -> list[AuthorReach]:
    """The authors with the largest audience (most followers) who posted in [start, end), with
    how many of their mentions fall in it. Read from the mentions (the buckets carry no author):
    the posted-at index narrows the range."""
    mentions = Mention.objects.filter(
        posted_at__gte=start, posted_at__lt=end, enriched_at__isnull=False
    ).exclude(author_handle="")
    if filters.query_id is not None:
        mentions = mentions.filter(
            Exists(QueryMatch.objects.filter(mention_id=OuterRef("pk"), query_id=filters.query_id))
        )
    if filters.source_id is not None:
        mentions = mentions.filter(source_id=filters.source_id)
    if filters.lang is not None:
        mentions = mentions.filter(lang=filters.lang)
    rows = (
        mentions.values("author_handle")
        .annotate(name=Max("author_name"), followers=Max("author_followers"), mentions=Count("id"))
        .filter(followers__isnull=False)
        .order_by("-followers", "author_handle")[:limit]
    )
    return [
        AuthorReach(
            handle=row["author_handle"],
            name=row["name"],
            followers=row["followers"],
            mentions=row["mentions"],
        )
        for row in rows
    ]
