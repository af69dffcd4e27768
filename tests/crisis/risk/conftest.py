"""Fixtures of the risk score's tests: a tenant's mentions written as listening stores them
(enriched: sentiment, crisis language), counted into the metric buckets by listening's own rebuild."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from crisis.risk_selectors import bucket_floor
from listening.models import Source, SourceKind
from listening.services.metrics import metrics_rebuild

_ids = itertools.count()
# A fixed "now" a little after a 5-minute mark, so the closed buckets are known.
NOW = datetime(2026, 11, 30, 12, 2, 30, tzinfo=UTC)
CALM = "Using the Acme dashboard for our weekly report"
ANGRY = "Acme is down again, total outage, I want a refund"


def write(
    source: Source,
    start: datetime,
    end: datetime,
    per_bucket: int,
    *,
    angry: float = 0.0,
    followers: int = 100,
) -> None:
    """`per_bucket` enriched mentions in every 5-minute bucket of [start, end), `angry` of them
    negative with crisis language (the first of each bucket with 20 times the reach); written in
    one statement, then the buckets are recounted from the mentions by listening's rebuild."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO listening_mention (source_id, external_id, text, author_handle, author_name,
                author_followers, url, posted_at, received_at, lang_hint, raw, lang, sentiment, is_share,
                crisis_language, enriched_at, enrich_attempts)
            SELECT %(source)s, 'm' || %(batch)s || '-' || extract(epoch FROM b)::bigint || '-' || i,
                   CASE WHEN a.angry THEN %(angry_text)s ELSE %(calm_text)s END,
                   'author' || (i %% 50), '',
                   CASE WHEN a.angry AND i = 0 THEN %(followers)s * 20 ELSE %(followers)s END,
                   '', b + make_interval(secs => (i * 7) %% 290), b, '', '{}', 'en',
                   CASE WHEN a.angry THEN 'negative' ELSE 'neutral' END, false, a.angry, b, 1
            FROM generate_series(%(start)s::timestamptz, %(last)s::timestamptz, interval '5 minutes') AS b
            CROSS JOIN generate_series(0, %(per_bucket)s - 1) AS i
            CROSS JOIN LATERAL (SELECT i < round(%(per_bucket)s * %(angry)s) AS angry) AS a
            """,
            {
                "source": source.pk,
                "batch": next(_ids),
                "angry_text": ANGRY,
                "calm_text": CALM,
                "followers": followers,
                "start": bucket_floor(start),
                "last": end - timedelta(minutes=5),
                "per_bucket": per_bucket,
                "angry": angry,
            },
        )
    metrics_rebuild(start=start - timedelta(days=1), end=end + timedelta(days=1))


@pytest.fixture
def tenant_a(world):
    with tenant_context(world.a):
        yield world.a


@pytest.fixture
def feed(tenant_a):
    return Source.objects.create(name="Feed", kind=SourceKind.API)


def warm_up(days: int = 3) -> None:
    """Score the history a day at a time (each run catches up at most a day), up to a day before NOW."""
    from crisis.risk_services import risk_score_run

    for day in range(days, 0, -1):
        risk_score_run(now=NOW - timedelta(days=day) + timedelta(hours=6))


@pytest.fixture
def calm(feed):
    """Three quiet days before NOW (four mentions every 5 minutes)."""
    write(feed, NOW - timedelta(days=3), NOW, 4)
    return feed


@pytest.fixture
def surge(calm):
    """Three quiet days, then the last hour fifteen times as loud, angry, with high-reach authors."""
    write(calm, NOW - timedelta(minutes=60), NOW, 60, angry=0.8, followers=20_000)
    return calm
