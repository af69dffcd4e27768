"""Enrichment with the real models: language, embedding, sentiment, stories, query tags, search."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from listening.models import Mention, Query, QueryMatch, Story
from listening.services import enrichment, ingest
from tests.listening.conftest import mention_in

TEXTS = {
    "o1": "Acme Cloud is down again, our whole team is blocked. Worst outage this year.",
    "o2": "RT @ops: Acme Cloud is down again, our whole team is blocked. Worst outage this year.",
    "o3": "Acme Cloud is down again, our whole team is blocked. Worst outage this year. https://t.co/abc",
    "p1": "Loving the new Acme dashboard, the team did a fantastic job!",
    "es": "El servicio de Acme no funciona desde esta mañana, muy mal.",
    "img1": "",
    "img2": " ",
}


@pytest.fixture
def enriched(world, api_source):
    with tenant_context(world.a):
        Query.objects.create(name="Outages", expression="acme AND (down OR outage*)")
        result = ingest.mention_ingest(source=api_source, items=[mention_in(k, t) for k, t in TEXTS.items()])
        assert enrichment.mentions_enrich(mention_ids=result.ids) == len(TEXTS)
        yield {m.external_id: m for m in Mention.objects.select_related("story")}


def test_every_mention_gets_language_sentiment_embedding_and_search_vector(enriched):
    assert enriched["p1"].lang == "en" and enriched["es"].lang == "es"
    assert enriched["p1"].sentiment == "positive" and enriched["o1"].sentiment == "negative"
    for mention in enriched.values():
        assert mention.enriched_at is not None and 0.0 <= mention.sentiment_score <= 1.0
        assert len(mention.embedding) == 384


def test_copies_and_retweets_collapse_into_one_story(enriched):
    story = enriched["o1"].story
    assert enriched["o2"].story == story and enriched["o3"].story == story
    assert story.mention_count == 3 and story.first_mention_id == enriched["o1"].pk
    assert enriched["o2"].is_share
    assert enriched["p1"].story != story and enriched["p1"].story.mention_count == 1
    # Posts with no text of their own are nobody's copies.
    assert enriched["img1"].story is None and enriched["img2"].story is None


def test_queries_tag_matching_mentions(enriched):
    tagged = set(QueryMatch.objects.values_list("mention__external_id", flat=True))
    assert tagged == {"o1", "o2", "o3"}


def test_enriching_again_changes_nothing(world, enriched):
    with tenant_context(world.a):
        assert enrichment.mentions_enrich(mention_ids=[m.pk for m in enriched.values()]) == 0
        assert Story.objects.get(pk=enriched["o1"].story_id).mention_count == 3
        assert QueryMatch.objects.count() == 3


def test_a_mention_that_keeps_failing_is_dead_lettered(world, api_source, monkeypatch):
    with tenant_context(world.a):
        result = ingest.mention_ingest(source=api_source, items=[mention_in("boom", "text")])

        def explode(texts):
            raise RuntimeError("model crashed")

        monkeypatch.setattr("listening.nlp.embedder.encode", explode)
        for _ in range(enrichment.MAX_ATTEMPTS):
            with pytest.raises(RuntimeError):
                enrichment.mentions_enrich(mention_ids=result.ids)
        assert enrichment.mentions_enrich(mention_ids=result.ids) == 0
        assert Mention.objects.get(pk=result.ids[0]).enrich_attempts == enrichment.MAX_ATTEMPTS
        from datetime import timedelta

        assert enrichment.unenriched_ids(older_than=timedelta(0)) == []


def test_search_and_more_like_this_through_the_api(world, api_for, enriched):
    api = api_for("a_viewer")
    found = api.get("/api/v1/mentions", {"q": "outages"}).json()["results"]
    assert {m["external_id"] for m in found} == {"o1", "o2", "o3"}
    spanish = api.get("/api/v1/mentions", {"q": "servicio", "lang": "es"}).json()["results"]
    assert [m["external_id"] for m in spanish] == ["es"]
    negative = api.get("/api/v1/mentions", {"sentiment": "negative"}).json()["results"]
    assert "p1" not in {m["external_id"] for m in negative}
    similar = api.get(f"/api/v1/mentions/{enriched['o1'].pk}/similar").json()
    assert similar[0]["external_id"] in {"o2", "o3"} and similar[0]["similarity"] > 0.9
    assert similar[-1]["similarity"] < similar[0]["similarity"]
    other = api_for("b_owner", tenant=world.b)
    assert other.get(f"/api/v1/mentions/{enriched['o1'].pk}").status_code == 404
