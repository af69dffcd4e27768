"""Metric buckets: counted by the real enrichment, kept right by query backfills, rebuilt from the
mentions, and read back at 5-minute, hour and day steps in time zones (with DST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import tenant_context

from listening.connectors.base import MentionIn
from listening.models import MetricBucket, Query, QueryMatch, Source, SourceKind
from listening.selectors import MetricPoint, metric_series
from listening.selectors_metrics import MetricFilters, metric_steps, metric_totals
from listening.services import enrichment, ingest, queries

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NEGATIVE = "Acme cloud is down again, worst outage ever, I am furious"
POSITIVE = "Loving the new Acme dashboard, the team did a fantastic job!"


def _at(external_id: str, text: str, posted_at: datetime, followers: int | None = 100) -> MentionIn:
    return MentionIn(
        external_id=external_id,
        text=text,
        posted_at=posted_at,
        author_handle=f"author-{external_id}",
        author_followers=followers,
    )


def _deliver(source: Source, *items: MentionIn) -> list[int]:
    ids = ingest.mention_ingest(source=source, items=items).ids
    enrichment.mentions_enrich(mention_ids=ids)
    return ids


def _rows() -> set[tuple]:
    """Every non-empty bucket row, for comparing incremental counts with a rebuild."""
    return set(
        MetricBucket.objects.exclude(volume=0, reach=0).values_list(
            "grain", "bucket_start", "query_id", "source_id", "lang", "volume", "positive", "neutral",
            "negative", "reach", "negative_reach", "crisis_language", "press",
        )
    )  # fmt: skip


@pytest.fixture
def feed(world):
    with tenant_context(world.a):
        source = Source.objects.create(name="Feed", kind=SourceKind.API)
        yield source


def test_enrichment_counts_volume_sentiment_and_reach_in_5_minute_buckets(world, feed):
    with tenant_context(world.a):
        _deliver(
            feed,
            _at("a", NEGATIVE, T0 + timedelta(minutes=1), followers=1_000),
            _at("b", POSITIVE, T0 + timedelta(minutes=4, seconds=59), followers=None),
            _at("c", NEGATIVE, T0 + timedelta(minutes=5), followers=50),
        )
        points = metric_series(start=T0, end=T0 + timedelta(minutes=15), step=timedelta(minutes=5))
        assert points == [
            MetricPoint(T0, 2, 1, 0, 1, 1_000),
            MetricPoint(T0 + timedelta(minutes=5), 1, 0, 0, 1, 50),
            MetricPoint(T0 + timedelta(minutes=10), 0, 0, 0, 0, 0),
        ]
        # The same mentions at hour and day steps (read from the rollups).
        hour = metric_series(start=T0, end=T0 + timedelta(hours=2), step=timedelta(hours=1))
        assert [(p.start, p.volume, p.reach) for p in hour] == [
            (T0, 3, 1_050),
            (T0 + timedelta(hours=1), 0, 0),
        ]
        day = metric_series(start=T0, end=T0 + timedelta(hours=1), step=timedelta(days=1))
        assert day == [MetricPoint(datetime(2026, 11, 20, tzinfo=UTC), 3, 1, 0, 2, 1_050)]


def test_a_batch_delivered_twice_or_a_mention_sent_twice_counts_once(world, feed):
    with tenant_context(world.a):
        ids = _deliver(feed, _at("a", NEGATIVE, T0), _at("b", POSITIVE, T0))
        assert enrichment.mentions_enrich(mention_ids=ids) == 0  # the batch again: nothing claimed
        _deliver(feed, _at("a", NEGATIVE, T0))  # the mention again: stored once
        point = metric_series(start=T0, end=T0 + timedelta(minutes=5), step=timedelta(minutes=5))[0]
        assert point.volume == 2 and point.reach == 200


def test_a_late_mention_lands_in_its_old_bucket(world, feed):
    with tenant_context(world.a):
        _deliver(feed, _at("now", NEGATIVE, T0))
        late = T0 - timedelta(days=10, minutes=7)
        _deliver(feed, _at("late", POSITIVE, late))
        days = metric_series(
            start=T0 - timedelta(days=11), end=T0 + timedelta(hours=1), step=timedelta(days=1)
        )
        assert [p.volume for p in days] == [0, 1] + [0] * 9 + [1]
        assert days[1].start == datetime(2026, 11, 10, tzinfo=UTC) and days[1].positive == 1
        five = metric_series(start=late, end=late + timedelta(minutes=5), step=timedelta(minutes=5))
        assert five[0].start == datetime(2026, 11, 10, 9, 50, tzinfo=UTC) and five[0].volume == 1


def test_query_and_source_and_language_filters(world, feed):
    with tenant_context(world.a):
        outages = Query.objects.create(name="Outages", expression="acme AND (down OR outage*)")
        other = Source.objects.create(name="Other", kind=SourceKind.API)
        _deliver(feed, _at("a", NEGATIVE, T0), _at("b", POSITIVE, T0))
        _deliver(other, _at("c", NEGATIVE, T0), _at("d", "El servicio de Acme no funciona, muy mal.", T0))
        window = {"start": T0, "end": T0 + timedelta(minutes=5), "step": timedelta(minutes=5)}
        assert metric_series(**window)[0].volume == 4
        assert metric_series(**window, query_id=outages.pk)[0].volume == 2
        assert metric_series(**window, query_id=outages.pk, source_id=other.pk)[0].volume == 1
        assert metric_series(**window, source_id=other.pk, lang="es")[0].volume == 1
        assert metric_series(**window, lang="fr")[0].volume == 0
        by_source = metric_totals(
            start=T0, end=T0 + timedelta(days=1), filters=MetricFilters(), group_by="source"
        )
        assert {k: v.volume for k, v in by_source.items()} == {str(feed.pk): 2, str(other.pk): 2}


def test_day_steps_follow_local_midnight_across_a_dst_change(world, feed):
    berlin = ZoneInfo("Europe/Berlin")  # 2026-10-25: clocks go back, the day has 25 hours
    with tenant_context(world.a):
        _deliver(
            feed,
            _at("early", NEGATIVE, datetime(2026, 10, 24, 22, 30, tzinfo=UTC)),  # 25th 00:30 CEST
            _at("late", NEGATIVE, datetime(2026, 10, 25, 22, 30, tzinfo=UTC)),  # 25th 23:30 CET
            _at("next", NEGATIVE, datetime(2026, 10, 25, 23, 30, tzinfo=UTC)),  # 26th 00:30 CET
        )
        days = metric_series(
            start=datetime(2026, 10, 24, 12, tzinfo=berlin),
            end=datetime(2026, 10, 26, 12, tzinfo=berlin),
            step=timedelta(days=1),
            tz=berlin,
        )
        assert [(p.start, p.volume) for p in days] == [
            (datetime(2026, 10, 23, 22, tzinfo=UTC), 0),
            (datetime(2026, 10, 24, 22, tzinfo=UTC), 2),
            (datetime(2026, 10, 25, 23, tzinfo=UTC), 1),
        ]
        # In UTC the first two fall on different days.
        utc = metric_series(
            start=datetime(2026, 10, 24, tzinfo=UTC),
            end=datetime(2026, 10, 26, tzinfo=UTC),
            step=timedelta(days=1),
        )
        assert [p.volume for p in utc] == [1, 2]


def test_half_hour_time_zones_read_5_minute_buckets(world, feed):
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: local midnight is 18:30 UTC
    with tenant_context(world.a):
        _deliver(
            feed,
            _at("before", NEGATIVE, datetime(2026, 11, 20, 18, 29, tzinfo=UTC)),
            _at("after", NEGATIVE, datetime(2026, 11, 20, 18, 31, tzinfo=UTC)),
        )
        days = metric_series(
            start=datetime(2026, 11, 20, tzinfo=kolkata),
            end=datetime(2026, 11, 22, tzinfo=kolkata),
            step=timedelta(days=1),
            tz=kolkata,
        )
        assert [p.volume for p in days] == [1, 1]
        hours = metric_series(
            start=datetime(2026, 11, 20, 23, tzinfo=kolkata),
            end=datetime(2026, 11, 21, 1, tzinfo=kolkata),
            step=timedelta(hours=1),
            tz=kolkata,
        )
        assert [(p.start, p.volume) for p in hours] == [
            (datetime(2026, 11, 20, 17, 30, tzinfo=UTC), 1),
            (datetime(2026, 11, 20, 18, 30, tzinfo=UTC), 1),
        ]


def test_enrichment_counts_the_risk_signals_negative_reach_crisis_language_and_press(world, feed):
    with tenant_context(world.a):
        news = Source.objects.create(name="News", kind=SourceKind.RSS)
        _deliver(
            feed,
            _at("a", NEGATIVE, T0 + timedelta(minutes=1), followers=1_000),
            _at("b", POSITIVE, T0 + timedelta(minutes=2), followers=50_000),
            _at(
                "c",
                "Acme is refunding everyone after the data breach",
                T0 + timedelta(minutes=3),
                followers=10,
            ),
        )
        _deliver(news, _at("d", "Acme ships a new release", T0 + timedelta(minutes=4), followers=None))
        row = MetricBucket.objects.get(grain=300, bucket_start=T0, query=None, source=None, lang=None)
        negative = set(feed.mentions.filter(sentiment="negative").values_list("external_id", flat=True))
        assert "a" in negative and "b" not in negative
        followers = {"a": 1_000, "c": 10}
        assert row.negative_reach == sum(followers[e] for e in negative if e in followers)
        assert row.crisis_language == 2  # "outage"/"down" and "refund"/"breach"
        assert row.press == 2  # 50,000 followers, and a news feed


def test_steps_are_validated():
    for step in (timedelta(minutes=7), timedelta(hours=5), timedelta(hours=36), timedelta(0)):
        with pytest.raises(ValueError, match="step"):
            metric_steps(start=T0, end=T0 + timedelta(days=1), step=step)
    with pytest.raises(ValueError, match="after"):
        metric_steps(start=T0, end=T0, step=timedelta(hours=1))
    assert len(metric_steps(start=T0, end=T0 + timedelta(days=1), step=timedelta(hours=1))) == 25


def test_a_backfill_moves_the_query_buckets_with_the_tags(world, feed):
    with tenant_context(world.a):
        query = queries.query_create(name="Acme", expression="outage", kind="brand")
        _deliver(
            feed,
            _at("a", NEGATIVE, T0),
            _at("b", POSITIVE, T0 + timedelta(hours=1)),
            _at("c", "Acme support answered in minutes", T0 + timedelta(days=2)),
        )
        day = datetime(2026, 11, 20, tzinfo=UTC)
        window = {
            "start": day,
            "end": day + timedelta(days=3),
            "step": timedelta(days=1),
            "query_id": query.pk,
        }
        assert [p.volume for p in metric_series(**window)] == [1, 0, 0]
        queries.query_update(query=query, expression="acme AND NOT outage")
        assert (
            queries.query_backfill(query_id=query.pk, revision=Query.objects.get(pk=query.pk).revision) == 2
        )
        assert [p.volume for p in metric_series(**window)] == [1, 0, 1]  # -a, +b (same day), +c
        tagged = set(QueryMatch.objects.filter(query=query).values_list("mention__external_id", flat=True))
        assert tagged == {"b", "c"}
        point = metric_series(**window)[0]
        assert (point.positive, point.negative) == (1, 0)
        # The risk signals move with the tags too: "a" (crisis language) left the query's day.
        first_day = MetricBucket.objects.get(
            grain=86400, bucket_start=day, query=query, source=None, lang=None
        )
        assert (first_day.crisis_language, first_day.negative_reach) == (0, 0)
        assert metric_series(**{**window, "query_id": None})[0].volume == 2  # all mentions unchanged


def test_rebuild_gives_the_incremental_numbers(world, feed):
    with tenant_context(world.a):
        queries.query_create(name="Outages", expression="down OR outage", kind="brand")
        queries.query_create(name="Rival", expression="dashboard", kind="competitor")
        news = Source.objects.create(name="News", kind=SourceKind.RSS)
        _deliver(
            feed,
            *[
                _at(
                    f"m{i}", NEGATIVE if i % 3 else POSITIVE, T0 - timedelta(hours=7 * i), followers=i * 1_000
                )
                for i in range(30)
            ],
        )
        _deliver(
            news, *[_at(f"n{i}", NEGATIVE, T0 - timedelta(hours=5 * i), followers=None) for i in range(5)]
        )
        incremental = _rows()
        assert len(incremental) > 30
        # The risk score's columns are in the comparison, and not all zero.
        totals = MetricBucket.objects.filter(grain=86400, query=None, source=None, lang=None)
        assert sum(totals.values_list("negative_reach", flat=True)) > 0
        assert sum(totals.values_list("crisis_language", flat=True)) == 20 + 5
        assert sum(totals.values_list("press", flat=True)) == 20 + 5  # m10..m29 (>= 10,000) and news
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE listening_metricbucket SET volume = volume + 5, negative_reach = negative_reach + 1,"
                " crisis_language = crisis_language + 1, press = press + 1"
            )  # damage
        call_command("metrics_rebuild", "--since", "2026-11-01", "--until", "2026-11-21")
        assert _rows() == incremental


def test_the_rebuild_command_checks_its_arguments_and_refuses_the_public_schema(world):
    with pytest.raises(CommandError, match="tenant_command"):
        call_command("metrics_rebuild", "--since", "2026-11-01", "--until", "2026-11-02")
    with tenant_context(world.a):
        with pytest.raises(CommandError, match="--since"):
            call_command("metrics_rebuild", "--since", "last week", "--until", "2026-11-02")
        with pytest.raises(CommandError, match="after"):
            call_command("metrics_rebuild", "--since", "2026-11-02", "--until", "2026-11-01")
