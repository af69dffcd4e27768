"""The topics API over real HTTP: list (sorts, filters, validation, pinned queries), detail with
history and examples, a topic's mentions, and isolation between tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django_tenants.utils import tenant_context

from listening.models import Topic
from listening.services.topics import topics_refresh
from tests.listening.topic_data import centers, seed_mentions

DAY = timedelta(hours=24)


@pytest.fixture
def topics(world, api_source) -> dict[str, Topic]:
    """Two runs: outage steady then growing, pricing new in the second run, keynote gone dormant."""
    themes = centers()
    now = datetime.now(UTC).replace(microsecond=0)

    def say(theme: str, count: int, days_ago: int, sentiment: str, seed: int = 0) -> None:
        seed_mentions(
            source=api_source, theme=theme, center=themes[theme], count=count,
            start=now - days_ago * DAY, span=DAY, sentiment=sentiment, seed=seed,
        )  # fmt: skip

    with tenant_context(world.a):
        say("outage", 20, 3, "negative")
        say("keynote", 20, 3, "positive")
        topics_refresh(now=now - 2 * DAY)
        say("outage", 20, 2, "negative", seed=1)
        topics_refresh(now=now - DAY)
        say("outage", 40, 1, "negative", seed=2)
        say("pricing", 12, 1, "neutral")
        topics_refresh(now=now)
        return {
            "outage": Topic.objects.get(label__contains="login"),
            "keynote": Topic.objects.get(label__contains="keynote"),
            "pricing": Topic.objects.get(label__contains="pricing"),
        }


def test_the_list_shows_active_topics_by_growth_with_terms_volume_sentiment_and_first_seen(
    api_for, topics, django_assert_max_num_queries
):
    api = api_for("a_viewer")
    # Each query counts twice: django-tenants sets the search path before it.
    with django_assert_max_num_queries(10):
        response = api.get("/api/v1/topics")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [t["id"] for t in results] == [topics["pricing"].pk, topics["outage"].pk]  # 12/5-1 > 40/20-1
    outage = results[1]
    assert outage["volume"] == 40 and outage["previous_volume"] == 20 and outage["growth"] == 1.0
    assert outage["sentiment"] == {"positive": 0, "neutral": 0, "negative": 40}
    assert outage["negative_share"] == 1.0 and outage["status"] == "active"
    assert "login" in " ".join(outage["terms"]) and outage["label"]
    assert outage["first_seen_at"] < results[0]["first_seen_at"]


def test_the_list_sorts_by_volume_and_filters(api_for, topics):
    api = api_for("a_viewer")
    by_volume = api.get("/api/v1/topics", {"sort": "volume"}).json()["results"]
    assert [t["id"] for t in by_volume] == [topics["outage"].pk, topics["pricing"].pk]
    dormant = api.get("/api/v1/topics", {"status": "dormant"}).json()["results"]
    assert [t["id"] for t in dormant] == [topics["keynote"].pk]
    assert len(api.get("/api/v1/topics", {"status": "all"}).json()["results"]) == 3
    big = api.get("/api/v1/topics", {"min_volume": 20}).json()["results"]
    assert [t["id"] for t in big] == [topics["outage"].pk]
    named = api.get("/api/v1/topics", {"q": "PRICING"}).json()["results"]
    assert [t["id"] for t in named] == [topics["pricing"].pk]
    recent = topics["pricing"].first_seen_at.isoformat()
    new = api.get("/api/v1/topics", {"new_since": recent}).json()["results"]
    assert [t["id"] for t in new] == [topics["pricing"].pk]


def test_the_list_pages_by_cursor(api_for, topics):
    api = api_for("a_viewer")
    first = api.get("/api/v1/topics", {"status": "all", "sort": "volume", "page_size": 2}).json()
    second = api.get(first["next"]).json()
    ids = [t["id"] for t in first["results"] + second["results"]]
    assert ids == [topics["outage"].pk, topics["keynote"].pk, topics["pricing"].pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "loudest"}, "sort"),
        ({"status": "asleep"}, "status"),
        ({"min_volume": "-1"}, "min_volume"),
        ({"min_volume": "many"}, "min_volume"),
        ({"new_since": "yesterday"}, "new_since"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_bad_list_parameters_are_a_400_naming_the_field(api_for, params, field):
    response = api_for("a_viewer").get("/api/v1/topics", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_topic_shows_its_history_and_example_mentions(api_for, topics, django_assert_max_num_queries):
    api = api_for("a_viewer")
    with django_assert_max_num_queries(18):
        response = api.get(f"/api/v1/topics/{topics['outage'].pk}")
    assert response.status_code == 200
    body = response.json()
    assert [h["volume"] for h in body["history"]] == [20, 20, 40]
    assert [h["negative"] for h in body["history"]] == [20, 20, 40]
    assert body["history"][0]["taken_at"] < body["history"][-1]["taken_at"]
    assert 1 <= len(body["examples"]) <= 5
    assert all("login" in e["text"] or "outage" in e["text"] for e in body["examples"])
    recent = api.get(f"/api/v1/topics/{topics['outage'].pk}", {"since": body["history"][-1]["taken_at"]})
    assert [h["volume"] for h in recent.json()["history"]] == [40]
    assert api.get(f"/api/v1/topics/{topics['outage'].pk}", {"since": "soon"}).status_code == 400
    dormant = api.get(f"/api/v1/topics/{topics['keynote'].pk}").json()
    assert dormant["status"] == "dormant" and [h["volume"] for h in dormant["history"]] == [20]


def test_a_topics_mentions_are_listed_newest_first_with_filters(
    api_for, topics, django_assert_max_num_queries
):
    api = api_for("a_viewer")
    with django_assert_max_num_queries(14):
        response = api.get(f"/api/v1/topics/{topics['pricing'].pk}/mentions", {"page_size": 5})
    assert response.status_code == 200
    page = response.json()
    assert len(page["results"]) == 5 and page["next"]
    assert all("pricing" in m["text"] or "invoice" in m["text"] for m in page["results"])
    times = [m["posted_at"] for m in page["results"]]
    assert times == sorted(times, reverse=True)
    negative = api.get(f"/api/v1/topics/{topics['pricing'].pk}/mentions", {"sentiment": "negative"})
    assert negative.json()["results"] == []
    bad = api.get(f"/api/v1/topics/{topics['pricing'].pk}/mentions", {"sentiment": "angry"})
    assert bad.status_code == 400 and "sentiment" in bad.json()["error"]["fields"]


def test_unknown_topics_and_other_tenants_topics_are_404(world, api_for, topics):
    pk = topics["outage"].pk
    assert api_for("a_viewer").get("/api/v1/topics/999999").status_code == 404
    outsider = api_for("b_owner", tenant=world.b)
    assert outsider.get(f"/api/v1/topics/{pk}").status_code == 404
    assert outsider.get(f"/api/v1/topics/{pk}/mentions").status_code == 404
    assert outsider.get("/api/v1/topics").json()["results"] == []
    # B's credentials on A's host reach nothing of A.
    intruder = api_for("b_owner", tenant=world.a)
    assert intruder.get(f"/api/v1/topics/{pk}").status_code == 404
    assert intruder.get("/api/v1/topics").status_code == 404


def test_a_read_token_lists_topics(api_for, topics):
    api = api_for("a_admin", scope="read")
    assert api.get("/api/v1/topics").status_code == 200
    assert api.post("/api/v1/topics", {}).status_code in (403, 405)
