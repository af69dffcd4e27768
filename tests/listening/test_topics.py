"""The topic run on real PostgreSQL: topics found in the window with their figures, identity kept
across runs, dormancy and revival, sampling, retention, and assignment at enrichment time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django_tenants.utils import tenant_context

from listening.models import Mention, Topic, TopicMention, TopicRun, TopicSnapshot, TopicStatus
from listening.services import enrichment, ingest
from listening.services.topics import topics_refresh
from tests.listening.conftest import mention_in
from tests.listening.topic_data import centers, seed_mentions

DAY = timedelta(hours=24)
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def themes() -> dict[str, np.ndarray]:
    return centers()


@pytest.fixture
def in_a(world, api_source):
    with tenant_context(world.a):
        yield api_source


def test_a_run_finds_the_themes_with_volume_sentiment_reach_and_growth(in_a, themes):
    seed_mentions(
        source=in_a, theme="outage", center=themes["outage"], count=30, start=T0 - DAY, span=DAY,
        sentiment="negative", followers=1000,
    )  # fmt: skip
    seed_mentions(source=in_a, theme="pricing", center=themes["pricing"], count=20, start=T0 - DAY, span=DAY)
    # The day before: the pricing talk had already started, the outage had not.
    seed_mentions(
        source=in_a, theme="pricing", center=themes["pricing"], count=10, start=T0 - 2 * DAY, span=DAY, seed=1
    )

    run = topics_refresh(now=T0)

    assert (run.considered, run.sampled, run.clusters, run.new_topics) == (50, 50, 2, 2)
    assert run.window_start == T0 - DAY and run.window_end == T0 and run.finished_at is not None
    outage = Topic.objects.get(label__contains="login")
    pricing = Topic.objects.get(label__contains="pricing")
    assert outage.status == pricing.status == TopicStatus.ACTIVE
    assert outage.first_seen_at == outage.last_seen_at == T0 and outage.first_run == run
    assert (outage.volume, outage.previous_volume, outage.growth) == (30, 0, 6.0)  # 30 / the floor of 5
    assert (pricing.volume, pricing.previous_volume, pricing.growth) == (20, 10, 1.0)
    assert (outage.negative, outage.neutral, outage.positive, outage.negative_share) == (30, 0, 0, 1.0)
    assert (pricing.negative, pricing.neutral, pricing.negative_share) == (0, 20, 0.0)
    assert outage.reach == 30_000
    assert set(" ".join(outage.terms[:3]).split()) <= {"login", "outage", "status", "page"}
    snapshot = TopicSnapshot.objects.get(topic=outage)
    assert (snapshot.run, snapshot.taken_at, snapshot.volume, snapshot.is_new) == (run, T0, 30, True)
    assert TopicMention.objects.filter(topic=outage).count() == 30
    assert TopicMention.objects.filter(topic=pricing).count() == 20  # the previous window's stay out


def test_a_persisting_topic_keeps_its_id_a_new_one_is_born_and_a_vanished_one_sleeps(in_a, themes):
    seed_mentions(source=in_a, theme="outage", center=themes["outage"], count=30, start=T0 - DAY, span=DAY)
    seed_mentions(source=in_a, theme="pricing", center=themes["pricing"], count=20, start=T0 - DAY, span=DAY)
    first = topics_refresh(now=T0)
    outage = Topic.objects.get(label__contains="login")
    pricing = Topic.objects.get(label__contains="pricing")

    # A day later: other people on the same outage, its centre moved a bit; a conference starts;
    # nobody speaks of pricing any more.
    rng = np.random.default_rng(5)
    moved = themes["outage"] + 0.3 * rng.normal(size=384) / np.sqrt(384)
    assert 0.9 < float(moved @ themes["outage"]) / np.linalg.norm(moved) < 0.99
    seed_mentions(source=in_a, theme="outage", center=moved, count=40, start=T0, span=DAY, seed=2)
    seed_mentions(source=in_a, theme="keynote", center=themes["keynote"], count=25, start=T0, span=DAY)
    second = topics_refresh(now=T0 + DAY)

    assert second.clusters == 2 and second.new_topics == 1
    outage.refresh_from_db()
    pricing.refresh_from_db()
    assert (
        outage.status == TopicStatus.ACTIVE and outage.first_run == first and outage.last_seen_at == T0 + DAY
    )
    assert (outage.volume, outage.previous_volume, outage.growth) == (40, 30, pytest.approx(1 / 3))
    assert pricing.status == TopicStatus.DORMANT and pricing.last_seen_at == T0  # kept, not deleted
    keynote = Topic.objects.get(label__contains="keynote")
    assert keynote.pk not in (outage.pk, pricing.pk) and keynote.first_seen_at == T0 + DAY
    assert [s.volume for s in outage.snapshots.order_by("taken_at")] == [30, 40]
    assert [s.is_new for s in outage.snapshots.order_by("taken_at")] == [True, False]

    # Two days on, pricing comes back: it wakes up under its old id.
    seed_mentions(
        source=in_a, theme="pricing", center=themes["pricing"], count=20, start=T0 + 2 * DAY, span=DAY, seed=3
    )
    third = topics_refresh(now=T0 + 3 * DAY)
    pricing.refresh_from_db()
    outage.refresh_from_db()
    assert third.new_topics == 0 and pricing.status == TopicStatus.ACTIVE
    assert outage.status == TopicStatus.DORMANT
    assert Topic.objects.count() == 3


def test_two_topics_that_became_one_merge_into_the_closer(in_a, themes):
    a = themes["outage"]
    b = (a + 0.45 * themes["keynote"]) / np.linalg.norm(a + 0.45 * themes["keynote"])
    seed_mentions(source=in_a, theme="outage", center=a, count=25, start=T0 - DAY, span=DAY)
    seed_mentions(source=in_a, theme="keynote", center=themes["keynote"], count=25, start=T0 - DAY, span=DAY)
    topics_refresh(now=T0)
    outage = Topic.objects.get(label__contains="login")
    keynote = Topic.objects.get(label__contains="keynote")
    assert outage.pk != keynote.pk
    # The keynote's talk now sounds like the outage's (it is about the outage during the keynote):
    # one cluster; the outage keeps its id, the keynote topic is absorbed.
    Topic.objects.filter(pk=keynote.pk).update(centroid=b, terms=["login", "keynote"])
    seed_mentions(source=in_a, theme="outage", center=a, count=30, start=T0, span=DAY, seed=4)
    topics_refresh(now=T0 + DAY)
    outage.refresh_from_db()
    keynote.refresh_from_db()
    assert outage.status == TopicStatus.ACTIVE
    assert keynote.status == TopicStatus.DORMANT and keynote.merged_into == outage


def test_a_big_window_is_sampled_and_its_counts_scaled(in_a, themes):
    seed_mentions(source=in_a, theme="outage", center=themes["outage"], count=80, start=T0 - DAY, span=DAY)
    seed_mentions(source=in_a, theme="pricing", center=themes["pricing"], count=40, start=T0 - DAY, span=DAY)
    run = topics_refresh(now=T0, cap=60)
    assert (run.considered, run.sampled) == (120, 60)
    volumes = sorted(Topic.objects.values_list("volume", flat=True))
    # Each sampled mention stands for two: the scaled volumes add up to the window's mentions.
    assert sum(volumes) == 120 and all(v % 2 == 0 for v in volumes)
    assert 50 <= volumes[-1] <= 110
    assert TopicMention.objects.count() == 60


def test_an_empty_window_sends_every_topic_to_sleep(in_a, themes):
    seed_mentions(source=in_a, theme="outage", center=themes["outage"], count=30, start=T0 - DAY, span=DAY)
    topics_refresh(now=T0)
    run = topics_refresh(now=T0 + 3 * DAY)
    assert run.clusters == 0 and run.sampled == 0
    assert list(Topic.objects.values_list("status", flat=True)) == [TopicStatus.DORMANT]


def test_old_runs_and_their_snapshots_are_dropped_after_30_days(in_a, themes):
    seed_mentions(source=in_a, theme="outage", center=themes["outage"], count=30, start=T0 - DAY, span=DAY)
    old = topics_refresh(now=T0)
    topic = Topic.objects.get()
    topics_refresh(now=T0 + timedelta(days=31))
    assert not TopicRun.objects.filter(pk=old.pk).exists()
    assert not TopicSnapshot.objects.filter(run_id=old.pk).exists()
    topic.refresh_from_db()  # the topic itself stays
    assert topic.first_run is None and topic.status == TopicStatus.DORMANT


def test_newly_enriched_mentions_join_the_nearest_active_topic_when_close_enough(in_a):
    from listening.nlp import embedder

    outage_texts = [
        "Acme login is down for our whole company",
        "Cannot sign in to Acme, the login page keeps failing",
        "Acme SSO outage again, nobody can log in",
    ]
    centroid = embedder.encode(outage_texts).mean(axis=0)
    now = datetime.now(UTC)
    topic = Topic.objects.create(
        label="login · outage", terms=["login", "outage"], centroid=centroid / np.linalg.norm(centroid),
        first_seen_at=now, last_seen_at=now,
    )  # fmt: skip
    Topic.objects.create(
        label="old", terms=["old"], centroid=centroid / np.linalg.norm(centroid), first_seen_at=now,
        last_seen_at=now, status=TopicStatus.DORMANT,
    )  # fmt: skip
    items = [
        mention_in("near", "Is the Acme login broken? I can't sign in since this morning"),
        mention_in("far", "Lovely sunset over the harbour tonight"),
    ]
    result = ingest.mention_ingest(source=in_a, items=items)
    assert enrichment.mentions_enrich(mention_ids=result.ids) == 2
    joined = {a.mention.external_id: a for a in TopicMention.objects.select_related("mention")}
    assert set(joined) == {"near"}
    assert joined["near"].topic == topic and joined["near"].similarity >= 0.65
    assert joined["near"].posted_at == Mention.objects.get(external_id="near").posted_at


def test_topics_stay_in_their_tenant(world, in_a, themes):
    seed_mentions(source=in_a, theme="outage", center=themes["outage"], count=30, start=T0 - DAY, span=DAY)
    topics_refresh(now=T0)
    with tenant_context(world.b):
        run = topics_refresh(now=T0)
        assert run.considered == 0 and not Topic.objects.exists()
