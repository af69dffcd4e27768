"""Ingest: bulk, idempotent per (source, external id), committed before enrichment is queued, and
nothing lost when the broker is down (the sweep finds what was never queued)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django_tenants.utils import tenant_context

from listening.models import Mention, Source, SourceKind
from listening.services import enrichment, ingest
from tests.listening.conftest import mention_in


@pytest.fixture
def in_a(world):
    with tenant_context(world.a):
        yield world


def test_ingest_stores_once_per_source_and_external_id(in_a, api_source):
    first = ingest.mention_ingest(
        source=api_source, items=[mention_in("1", "hello"), mention_in("2", "world")]
    )
    again = ingest.mention_ingest(source=api_source, items=[mention_in("2", "world"), mention_in("3", "new")])
    assert (first.stored, first.duplicates) == (2, 0)
    assert (again.stored, again.duplicates) == (1, 1)
    assert Mention.objects.filter(source=api_source).count() == 3
    # The same external id from another source is another mention (RELIABILITY 19).
    other = Source.objects.create(name="Other", kind=SourceKind.API)
    assert ingest.mention_ingest(source=other, items=[mention_in("1", "hello")]).stored == 1


def test_ingest_counts_repeats_inside_one_batch(in_a, api_source):
    result = ingest.mention_ingest(source=api_source, items=[mention_in("9", "a"), mention_in("9", "a")])
    assert (result.stored, result.duplicates) == (1, 1)


def test_ingest_keeps_every_field_and_strips_nul(in_a, api_source):
    item = mention_in(
        "x1",
        "bad\x00 outage",
        author_handle="ops\x00",
        author_name="Ops Team",
        author_followers=1200,
        url="https://example.com/p/1",
        lang_hint="en",
        raw={"k\x00": ["v\x00", 1]},
    )
    ingest.mention_ingest(source=api_source, items=[item])
    stored = Mention.objects.get(external_id="x1")
    assert stored.text == "bad outage" and stored.author_handle == "ops"
    assert (stored.author_name, stored.author_followers, stored.url) == (
        "Ops Team",
        1200,
        "https://example.com/p/1",
    )
    assert stored.raw == {"k": ["v", 1]} and stored.lang_hint == "en"
    assert stored.posted_at == item.posted_at and stored.enriched_at is None


def test_enrichment_is_queued_only_after_commit(
    in_a, api_source, django_capture_on_commit_callbacks, monkeypatch
):
    queued: list[list[int]] = []
    monkeypatch.setattr("listening.tasks.enrich_mentions.apply_async", lambda args: queued.append(args[0]))
    with django_capture_on_commit_callbacks() as callbacks:
        result = ingest.mention_ingest(source=api_source, items=[mention_in(str(i), "t") for i in range(300)])
        assert queued == []
    for callback in callbacks:
        callback()
    assert sorted(i for batch in queued for i in batch) == sorted(result.ids)
    assert max(len(batch) for batch in queued) <= 128


def test_a_broker_outage_loses_nothing_and_the_sweep_finds_it(in_a, api_source, monkeypatch):
    def broker_down(args: list) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("listening.tasks.enrich_mentions.apply_async", broker_down)
    result = ingest.mention_ingest(source=api_source, items=[mention_in(str(i), "t") for i in range(5)])
    assert ingest.enrichment_queue(result.ids) == 0
    assert Mention.objects.filter(id__in=result.ids).count() == 5
    assert sorted(enrichment.unenriched_ids(older_than=timedelta(0))) == sorted(result.ids)
    assert enrichment.unenriched_ids(older_than=timedelta(minutes=5)) == []
