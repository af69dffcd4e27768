"""The metrics API over real HTTP: time series at the automatic resolution, breakdowns, share of
voice, top authors, CSV downloads (escaped), validation answers and tenant isolation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django_tenants.utils import tenant_context

from listening.connectors.base import MentionIn
from listening.models import Source, SourceKind, Topic
from listening.services import enrichment, ingest, queries

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 20, tzinfo=UTC)


def _at(external_id: str, text: str, posted_at: datetime, handle: str, followers: int) -> MentionIn:
    return MentionIn(
        external_id=external_id,
        text=text,
        posted_at=posted_at,
        author_handle=handle,
        author_name=handle.title(),
        author_followers=followers,
    )


@pytest.fixture
def data(world):
    """Five enriched mentions in tenant A: three about Acme (one a competitor's too), in two
    sources, English and Spanish; one author's handle is a spreadsheet formula."""
    with tenant_context(world.a):
        feed = Source.objects.create(name="Feed", kind=SourceKind.API)
        press = Source.objects.create(name="+Press", kind=SourceKind.API)
        acme = queries.query_create(name="Acme", expression="acme", kind="brand")
        rival = queries.query_create(name="=Rival", expression="globex", kind="competitor")
        queries.query_create(name="Unused", expression="nothingmatchesthis", kind="topic")
        items = [
            (feed, "a", "Acme cloud is down again, worst outage ever", T0, "ops", 5_000),
            (feed, "b", "Loving the new Acme dashboard, fantastic work", T0 + timedelta(hours=2), "fan", 10),
            (feed, "c", "Globex and Acme both had a bad week", T0 + timedelta(days=1), "=HYPERLINK(1)", 900),
            (
                press,
                "d",
                "Globex lanza un producto nuevo, muy bueno",
                T0 + timedelta(days=1),
                "prensa",
                50_000,
            ),
            (press, "e", "Globex support is great", T0 + timedelta(days=1, hours=1), "fan", 10),
        ]
        for source, external_id, text, posted_at, handle, followers in items:
            ids = ingest.mention_ingest(
                source=source, items=[_at(external_id, text, posted_at, handle, followers)]
            ).ids
            enrichment.mentions_enrich(mention_ids=ids)
        return {"feed": feed, "press": press, "acme": acme, "rival": rival}


def _range(days: float, **extra):
    return {"start": DAY.isoformat(), "end": (DAY + timedelta(days=days)).isoformat(), **extra}


def _fields(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("span", "resolution", "points"),
    [
        (timedelta(hours=1), "5m", 12),
        (timedelta(days=2), "5m", 576),
        (timedelta(days=3), "1h", 72),
        (timedelta(days=21), "1h", 504),
        (timedelta(days=22), "1d", 22),
        (timedelta(days=365), "1d", 365),
    ],
)
def test_auto_resolution_follows_the_range(world, api_for, span, resolution, points):
    response = api_for("a_viewer").get(
        "/api/v1/metrics/timeseries", {"start": DAY.isoformat(), "end": (DAY + span).isoformat()}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["resolution"] == resolution and len(body["series"][0]["points"]) == points


def test_timeseries_counts_and_groups(world, api_for, data, django_assert_max_num_queries):
    api = api_for("a_viewer")
    with django_assert_max_num_queries(12):
        body = api.get("/api/v1/metrics/timeseries", _range(2)).json()
    assert body["resolution"] == "5m"
    assert sum(p["volume"] for p in body["series"][0]["points"]) == 5
    assert sum(p["reach"] for p in body["series"][0]["points"]) == 5_000 + 10 + 900 + 50_000 + 10

    days = api.get("/api/v1/metrics/timeseries", _range(2, resolution="1d", tz="UTC")).json()
    assert [p["volume"] for p in days["series"][0]["points"]] == [2, 3]
    assert days["start"].startswith("2026-11-20T00:00") and days["end"].startswith("2026-11-22T00:00")

    with django_assert_max_num_queries(12):
        by_query = api.get("/api/v1/metrics/timeseries", _range(2, resolution="1d", group_by="query")).json()
    volumes = {s["label"]: [p["volume"] for p in s["points"]] for s in by_query["series"]}
    assert volumes == {"=Rival": [0, 3], "Acme": [2, 1], "Unused": [0, 0]}

    by_source = api.get(
        "/api/v1/metrics/timeseries", _range(2, resolution="1d", group_by="source", query=data["rival"].pk)
    ).json()
    assert {s["label"]: [p["volume"] for p in s["points"]] for s in by_source["series"]} == {
        "+Press": [0, 2],
        "Feed": [0, 1],
    }
    by_sentiment = api.get(
        "/api/v1/metrics/timeseries", _range(2, resolution="1d", group_by="sentiment")
    ).json()
    assert [s["key"] for s in by_sentiment["series"]] == ["positive", "neutral", "negative"]
    assert sum(p["volume"] for s in by_sentiment["series"] for p in s["points"]) == 5
    by_lang = api.get("/api/v1/metrics/timeseries", _range(2, resolution="1d", group_by="lang")).json()
    assert {s["key"]: sum(p["volume"] for p in s["points"]) for s in by_lang["series"]} == {"en": 4, "es": 1}


def test_day_steps_in_a_time_zone(world, api_for, data):
    params = {"start": "2026-11-19T00:00:00-11:00", "end": "2026-11-22T00:00:00-11:00"}
    api = api_for("a_viewer")
    body = api.get(
        "/api/v1/metrics/timeseries", {**params, "resolution": "1d", "tz": "Pacific/Pago_Pago"}
    ).json()
    points = body["series"][0]["points"]
    assert [p["start"] for p in points] == [
        "2026-11-19T11:00:00Z",
        "2026-11-20T11:00:00Z",
        "2026-11-21T11:00:00Z",
    ]
    # 10:00 UTC on the 20th is 23:00 on the 19th in Pago Pago; 11:00 UTC on the 21st is midnight.
    assert [p["volume"] for p in points] == [1, 3, 1]


def test_share_of_voice_sources_languages_and_top_authors(
    world, api_for, data, django_assert_max_num_queries
):
    api = api_for("a_viewer")
    with django_assert_max_num_queries(12):
        share = api.get("/api/v1/metrics/share-of-voice", _range(2)).json()
    assert [(r["name"], r["kind"], r["volume"], r["share"]) for r in share["results"]] == [
        ("=Rival", "competitor", 3, 0.5),
        ("Acme", "brand", 3, 0.5),
        ("Unused", "topic", 0, 0.0),
    ]
    with django_assert_max_num_queries(12):
        sources = api.get("/api/v1/metrics/sources", _range(2)).json()
    assert [(r["label"], r["volume"]) for r in sources["results"]] == [("Feed", 3), ("+Press", 2)]
    assert sources["results"][1]["reach"] == 50_010
    languages = api.get("/api/v1/metrics/languages", _range(2, source=data["press"].pk)).json()
    assert {r["lang"]: r["volume"] for r in languages["results"]} == {"en": 1, "es": 1}
    with django_assert_max_num_queries(12):
        authors = api.get("/api/v1/metrics/top-authors", _range(2, limit=3)).json()
    assert [(a["handle"], a["followers"], a["mentions"]) for a in authors["results"]] == [
        ("prensa", 50_000, 1),
        ("ops", 5_000, 1),
        ("=HYPERLINK(1)", 900, 1),
    ]
    only_acme = api.get("/api/v1/metrics/top-authors", _range(2, query=data["acme"].pk)).json()
    assert {a["handle"] for a in only_acme["results"]} == {"ops", "fan", "=HYPERLINK(1)"}


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_every_breakdown_downloads_as_csv_with_formulas_escaped(world, api_for, data):
    api = api_for("a_viewer")
    authors = _csv(api.get("/api/v1/metrics/top-authors", _range(2, format="csv")))
    assert authors[0] == ["handle", "name", "followers", "mentions"]
    assert ["'=HYPERLINK(1)", "'=Hyperlink(1)", "900", "1"] in authors
    share = _csv(api.get("/api/v1/metrics/share-of-voice", _range(2), HTTP_ACCEPT="text/csv"))
    assert share[1][:3] == [str(data["rival"].pk), "'=Rival", "competitor"]
    sources = _csv(api.get("/api/v1/metrics/sources", _range(2, format="csv")))
    assert [row[1] for row in sources[1:]] == ["Feed", "'+Press"]
    assert _csv(api.get("/api/v1/metrics/languages", _range(2, format="csv")))[0][0] == "lang"
    series = _csv(
        api.get("/api/v1/metrics/timeseries", _range(2, resolution="1d", group_by="query", format="csv"))
    )
    assert series[0] == ["series", "label", "start", "volume", "positive", "neutral", "negative", "reach"]
    assert [str(data["rival"].pk), "'=Rival", "2026-11-21T00:00:00+00:00"] == series[2][:3]
    assert sum(int(row[3]) for row in series[1:]) == 6


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-11-20T00:00:00Z", "end": "2026-11-19T00:00:00Z"}, "end"),
        ({"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T00:30:00Z"}, "start"),
        ({"start": "2025-01-01T00:00:00Z", "end": "2026-11-20T00:00:00Z"}, "start"),
        ({"start": "2026-10-01T00:00:00Z", "end": "2026-11-20T00:00:00Z", "resolution": "5m"}, "resolution"),
        ({"resolution": "1w"}, "resolution"),
        ({"group_by": "author"}, "group_by"),
        ({"group_by": "query", "query": "1"}, "group_by"),
        ({"query": "abc"}, "query"),
        ({"source": "-1"}, "source"),
        ({"lang": "English"}, "lang"),
    ],
)
def test_bad_parameters_answer_400_naming_the_field(world, api_for, params, field):
    assert field in _fields(api_for("a_viewer").get("/api/v1/metrics/timeseries", params))


def test_bad_parameters_answer_json_even_when_csv_was_asked(world, api_for):
    api = api_for("a_viewer")
    for path in ("sources", "languages", "share-of-voice", "top-authors"):
        response = api.get(f"/api/v1/metrics/{path}", {"tz": "Nowhere", "format": "csv"})
        assert response["Content-Type"] == "application/json"
        assert "tz" in _fields(response)
    assert "limit" in _fields(api.get("/api/v1/metrics/top-authors", {"limit": "1000"}))


def test_other_tenants_see_nothing_of_a(world, api_for, data):
    outsider = api_for("b_owner", tenant=world.a)
    for path in ("timeseries", "share-of-voice", "top-authors", "sources", "languages"):
        assert outsider.get(f"/api/v1/metrics/{path}", _range(2)).status_code == 404
    own = api_for("b_owner", tenant=world.b)
    body = own.get("/api/v1/metrics/timeseries", _range(2)).json()
    assert sum(p["volume"] for p in body["series"][0]["points"]) == 0
    assert own.get("/api/v1/metrics/top-authors", _range(2)).json()["results"] == []
    assert own.get("/api/v1/metrics/sources", _range(2)).json()["results"] == []


def test_the_dashboard_page_frames_every_panel_for_members_only(world, api_for, data):
    page = api_for("a_viewer").get("/listening/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    for endpoint in ("timeseries", "share-of-voice", "top-authors", "sources", "languages"):
        assert f'data-endpoint="/api/v1/metrics/{endpoint}"' in html
    assert "vendor/chart.umd.min.js" in html and ">=Rival</option>" in html
    assert api_for("b_owner", tenant=world.a).get("/listening/dashboard/").status_code == 404


def test_top_topics_of_the_range_biggest_first_with_csv(world, api_for, django_assert_max_num_queries):
    """The dashboard's topics panel: topics alive in the range, biggest first; merged ones left out."""
    centroid = [1.0] + [0.0] * 383

    def topic(label: str, first: datetime, last: datetime, volume: int, **extra) -> Topic:
        return Topic.objects.create(
            label=label,
            terms=label.split(" · "),
            centroid=centroid,
            first_seen_at=first,
            last_seen_at=last,
            volume=volume,
            **extra,
        )

    with tenant_context(world.a):
        outage = topic("=login · outage", DAY, DAY + timedelta(hours=20), 40, growth=1.5, negative_share=0.6)
        topic("keynote · launch", DAY + timedelta(hours=2), DAY + timedelta(hours=5), 90, growth=0.2)
        topic("last week", DAY - timedelta(days=9), DAY - timedelta(days=8), 500)
        absorbed = topic("login", DAY, DAY + timedelta(hours=3), 300)
        Topic.objects.filter(pk=absorbed.pk).update(merged_into=outage)
    api = api_for("a_viewer")
    with django_assert_max_num_queries(10):
        body = api.get("/api/v1/metrics/top-topics", _range(1)).json()
    assert [(t["label"], t["volume"]) for t in body["results"]] == [
        ("keynote · launch", 90),
        ("=login · outage", 40),
    ]
    assert body["results"][1]["growth"] == 1.5 and body["results"][1]["negative_share"] == 0.6
    rows = _csv(api.get("/api/v1/metrics/top-topics", _range(1, format="csv", limit=1)))
    assert rows[0][:3] == ["id", "label", "terms"] and len(rows) == 2
    assert _fields(api.get("/api/v1/metrics/top-topics", _range(1, limit=0))) == {
        "limit": ["Ensure this value is greater than or equal to 1."]
    }
    assert api_for("b_owner", tenant=world.a).get("/api/v1/metrics/top-topics", _range(1)).status_code == 404
