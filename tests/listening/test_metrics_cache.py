"""What the dashboard's reads cost, and the cache of the metrics API's bucket reads: a repeated read
is served from the cache, every bucket change through the services retires it at once, a tenant
never reads another's, and a failing cache only means reading the buckets."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from listening.connectors.base import MentionIn
from listening.models import Source, SourceKind
from listening.services import enrichment, ingest, queries
from listening.services.metrics import metrics_rebuild

DAY = datetime(2026, 11, 20, tzinfo=UTC)
SERIES = "/api/v1/metrics/timeseries"
RANGE = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=2)).isoformat(), "resolution": "1d"}


def _mention(source: Source, external_id: str, text: str, posted_at: datetime) -> list[int]:
    item = MentionIn(
        external_id=external_id,
        text=text,
        posted_at=posted_at,
        author_handle="ops",
        author_name="Ops",
        author_followers=100,
    )
    ids = ingest.mention_ingest(source=source, items=[item]).ids
    enrichment.mentions_enrich(mention_ids=ids)
    return ids


@pytest.fixture(autouse=True)
def _keep_every_read():
    """The test data is small, so every read is quick: keep them all, as slow reads are kept."""
    with mock.patch("listening.selectors_metrics.KEEP_READS_FROM_S", 0):
        yield


@pytest.fixture
def feed(world):
    with tenant_context(world.a):
        source = Source.objects.create(name="Feed", kind=SourceKind.API)
        queries.query_create(name="Acme", expression="acme", kind="brand")
        _mention(source, "a", "Acme cloud is down again", DAY + timedelta(hours=10))
        return source


def _volumes(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [p["volume"] for p in response.json()["series"][0]["points"]]


def _count(api, path: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(path, params).status_code == 200
    return len(captured)


def test_the_dashboard_page_and_a_series_read_cost_pinned_queries(world, api_for, feed):
    """Each statement follows django-tenants' SET search_path: the session, the user and their
    roles, and the page's two filter lists. A series read costs the bucket query when it is not
    cached, nothing when it is."""
    api = api_for("a_viewer")
    api.get("/listening/dashboard/")
    assert _count(api, "/listening/dashboard/") == 2 * 5
    assert _count(api, SERIES, RANGE) == 2 * 4
    assert _count(api, SERIES, RANGE) == 2 * 3


def test_a_repeated_read_is_cached_until_the_buckets_change(world, api_for, feed):
    api = api_for("a_viewer")
    assert _volumes(api.get(SERIES, RANGE)) == [1, 0]
    cold = _count(api, SERIES, {**RANGE, "tz": "Europe/Berlin"})
    assert _count(api, SERIES, {**RANGE, "tz": "Europe/Berlin"}) == cold - 2

    with tenant_context(world.a):  # enrichment counts a new mention: the next read sees it
        _mention(feed, "b", "Acme again", DAY + timedelta(days=1, hours=3))
    assert _volumes(api.get(SERIES, RANGE)) == [1, 1]

    with tenant_context(world.a):  # a query's backfill re-tags: its series changes at once
        again = queries.query_create(name="Again", expression="again", kind="topic")
    by_query = api.get(SERIES, {**RANGE, "group_by": "query"}).json()["series"]
    assert {s["label"]: [p["volume"] for p in s["points"]] for s in by_query}["Again"] == [0, 0]
    with tenant_context(world.a):
        queries.query_backfill(query_id=again.pk, revision=again.revision)
    by_query = api.get(SERIES, {**RANGE, "group_by": "query"}).json()["series"]
    assert {s["label"]: [p["volume"] for p in s["points"]] for s in by_query}["Again"] == [1, 1]

    with tenant_context(world.a):  # the recovery rebuild too
        metrics_rebuild(start=DAY, end=DAY + timedelta(days=2))
    assert _count(api, SERIES, RANGE) == cold


def test_a_tenant_never_reads_what_another_cached(world, api_for, feed):
    assert _volumes(api_for("a_viewer").get(SERIES, RANGE)) == [1, 0]
    assert _volumes(api_for("b_owner", tenant=world.b).get(SERIES, RANGE)) == [0, 0]
    shares = api_for("a_viewer").get("/api/v1/metrics/sources", RANGE).json()
    assert shares["volume"] == 1
    assert api_for("b_owner", tenant=world.b).get("/api/v1/metrics/sources", RANGE).json()["volume"] == 0


def test_a_failing_cache_reads_the_buckets(world, api_for, feed, settings):
    api = api_for("a_viewer")
    with mock.patch("listening.selectors_metrics.cache") as broken:
        broken.get.side_effect = ConnectionError("cache down")
        assert _volumes(api.get(SERIES, RANGE)) == [1, 0]
    settings.LISTENING_METRICS_CACHE_SECONDS = 0  # switched off: every read asks the database
    assert _count(api, SERIES, RANGE) == _count(api, SERIES, RANGE)


def test_points_are_written_as_before(world, api_for, feed):
    """The JSON answer formats each step's start once for every series: the same text DRF's encoder
    wrote for a datetime (UTC as Z); the CSV keeps Python's ISO form."""
    api = api_for("a_viewer")
    body = api.get(SERIES, {**RANGE, "group_by": "sentiment"}).json()
    assert body["start"] == "2026-11-20T00:00:00Z" and body["end"] == "2026-11-22T00:00:00Z"
    assert [s["key"] for s in body["series"]] == ["positive", "neutral", "negative"]
    for series in body["series"]:
        assert [p["start"] for p in series["points"]] == ["2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"]
        assert set(series["points"][0]) == {"start", "volume"}
    berlin = api.get(SERIES, {**RANGE, "tz": "Europe/Berlin"}).json()
    assert berlin["series"][0]["points"][0]["start"] == "2026-11-19T23:00:00Z"
    fields = {"start", "volume", "positive", "neutral", "negative", "reach"}
    assert set(berlin["series"][0]["points"][0]) == fields
    rows = list(csv.reader(io.StringIO(api.get(SERIES, {**RANGE, "format": "csv"}).content.decode())))
    assert rows[0] == ["series", "label", "start", "volume", "positive", "neutral", "negative", "reach"]
    assert rows[1][:4] == ["all", "All mentions", "2026-11-20T00:00:00+00:00", "1"]
