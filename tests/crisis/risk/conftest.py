"""Fixtures of the risk score's tests: a tenant's mentions written as listening stores them
(enriched: sentiment, crisis language), counted into the metric buckets by listening's own rebuild."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django_tenants.utils import tenant_context

from crisis.risk_selectors import bucket_floor
from listening.models import Mention, Source, SourceKind
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
    """`per_bucket` mentions in every 5-minute bucket of [start, end), `angry` of them negative with
    crisis language; then the buckets are recounted from the mentions."""
    rows = []
    moment = bucket_floor(start)
    while moment < end:
        for i in range(per_bucket):
            is_angry = i < round(per_bucket * angry)
            n = next(_ids)
            rows.append(
                Mention(
                    source=source,
                    external_id=f"m{n}",
                    text=ANGRY if is_angry else CALM,
                    author_handle=f"author{n % 50}",
                    author_followers=followers * (20 if is_angry and i == 0 else 1),
                    posted_at=moment + timedelta(seconds=(i * 7) % 290),
                    lang="en",
                    sentiment="negative" if is_angry else "neutral",
                    crisis_language=is_angry,
                    enriched_at=moment,
                )
            )
        moment += timedelta(minutes=5)
    Mention.objects.bulk_create(rows, batch_size=5000)
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
