"""The listening API over real HTTP: sources, bulk ingest, signed webhooks, queries, mentions."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from listening.connectors import webhook
from listening.models import Mention, Query, Source, SourceKind, WebhookDelivery


def _item(i: int, **extra):
    return {
        "external_id": f"ext-{i}",
        "text": f"Acme cloud is down again #{i}",
        "posted_at": "2026-11-25T10:00:00Z",
        "author_handle": "user",
        **extra,
    }


def _source(world, kind=SourceKind.API, **fields) -> Source:
    with tenant_context(world.a):
        return Source.objects.create(name=fields.pop("name", f"src-{kind}"), kind=kind, **fields)


def _count(world, **filters) -> int:
    with tenant_context(world.a):
        return Mention.objects.filter(**filters).count()


# sources ------------------------------------------------------------------------------------------


def test_analyst_creates_sources_and_a_webhook_secret_is_shown_once(world, api_for):
    api = api_for("a_analyst")
    created = api.post("/api/v1/sources", {"name": "Push", "kind": "webhook"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"] and body["webhook_url"].endswith(f"/api/v1/hooks/sources/{body['id']}")
    assert "secret" not in api.get(f"/api/v1/sources/{body['id']}").json()
    with tenant_context(world.a):
        stored = Source.objects.get(pk=body["id"])
        assert stored.secret == body["secret"]
    from django.db import connection

    with tenant_context(world.a), connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM listening_source WHERE id = %s", [body["id"]])
        assert body["secret"] not in cursor.fetchone()[0], "secrets are encrypted at rest"


def test_viewers_cannot_create_sources(world, api_for):
    response = api_for("a_viewer").post("/api/v1/sources", {"name": "x", "kind": "api"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        ("rss", {}),
        ("rss", {"url": "http://127.0.0.1/feed"}),
        ("rss", {"url": "file:///etc/passwd"}),
        ("rss", {"url": "http://169.254.169.254/latest"}),
        ("mastodon", {"instance": "mastodon.social"}),
    ],
)
def test_bad_source_configs_are_refused_when_written(world, api_for, kind, config):
    response = api_for("a_admin").post("/api/v1/sources", {"name": "bad", "kind": kind, "config": config})
    assert response.status_code == 400
    assert "config" in response.json()["error"]["fields"]


# bulk ingest ------------------------------------------------------------------------------------


def test_bulk_json_stores_valid_items_and_reports_invalid_ones_by_index(world, api_for):
    source = _source(world)
    api = api_for("a_analyst", scope=None)
    items = [_item(0), {"text": "no id"}, _item(2), _item(3, posted_at="yesterday")]
    response = api.post(f"/api/v1/sources/{source.pk}/mentions", items)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["stored"], body["duplicates"], body["rejected"]) == (2, 0, 2)
    assert sorted({e["index"] for e in body["errors"]}) == [1, 3]
    again = api.post(f"/api/v1/sources/{source.pk}/mentions", items).json()
    assert (again["stored"], again["duplicates"]) == (0, 2)
    assert _count(world, source=source) == 2


def test_bulk_ndjson(world, api_for):
    source = _source(world)
    body = "\n".join(json.dumps(_item(i)) for i in range(50)).encode()
    response = api_for("a_analyst").client.post(
        f"/api/v1/sources/{source.pk}/mentions", data=body, content_type="application/x-ndjson"
    )
    assert response.status_code == 200, response.content
    assert response.json()["stored"] == 50


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'"a string"', b"[" * 100_000])
def test_bulk_rejects_malformed_bodies_with_400_and_stores_nothing(world, api_for, body):
    source = _source(world)
    response = api_for("a_analyst").client.post(
        f"/api/v1/sources/{source.pk}/mentions", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert _count(world, source=source) == 0


def test_bulk_refuses_more_than_10000_items_and_oversized_bodies(world, api_for, settings):
    source = _source(world)
    api = api_for("a_analyst")
    too_many = api.post(f"/api/v1/sources/{source.pk}/mentions", [_item(i) for i in range(10_001)])
    assert too_many.status_code == 400
    settings.API_MAX_BODY_BYTES = 1000
    huge = api.post(f"/api/v1/sources/{source.pk}/mentions", [_item(i) for i in range(50)])
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"


def test_bulk_goes_to_api_sources_only_and_needs_write(world, api_for):
    feed = _source(world, SourceKind.RSS, config={"url": "https://example.com/feed"})
    assert api_for("a_analyst").post(f"/api/v1/sources/{feed.pk}/mentions", [_item(0)]).status_code == 400
    source = _source(world, name="api2")
    assert (
        api_for("a_owner", scope="read").post(f"/api/v1/sources/{source.pk}/mentions", [_item(0)]).status_code
        == 403
    )
    assert (
        api_for("b_owner", tenant=world.a)
        .post(f"/api/v1/sources/{source.pk}/mentions", [_item(0)])
        .status_code
        == 404
    )


# signed webhooks --------------------------------------------------------------------------------


def _signed(secret: str, body: bytes, delivery: str = "d-1", at: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if at is None else at
    return {
        "HTTP_X_CANDOR_TIMESTAMP": str(timestamp),
        "HTTP_X_CANDOR_SIGNATURE": webhook.sign(secret.encode(), timestamp, body),
        "HTTP_X_CANDOR_DELIVERY": delivery,
    }


def _hook(world, body: bytes, headers: dict[str, str], source: Source):
    return Client(HTTP_HOST="tenant-a.localhost").post(
        f"/api/v1/hooks/sources/{source.pk}", data=body, content_type="application/json", **headers
    )


def test_signed_webhook_is_stored_once_and_replays_are_acknowledged(world):
    source = _source(world, SourceKind.WEBHOOK, secret="s3cret")
    body = json.dumps([_item(1), _item(2)]).encode()
    first = _hook(world, body, _signed("s3cret", body), source)
    assert first.status_code == 200, first.content
    assert first.json()["stored"] == 2 and not first.json()["replayed"]
    for _ in range(4):
        replay = _hook(world, body, _signed("s3cret", body), source)
        assert replay.status_code == 200 and replay.json()["replayed"]
    assert _count(world, source=source) == 2
    with tenant_context(world.a):
        assert WebhookDelivery.objects.get(source=source).stored == 2


@pytest.mark.parametrize(
    "case", ["unsigned", "wrong secret", "reserialised", "stale", "future", "other tenant"]
)
def test_bad_webhooks_are_refused_and_store_nothing(world, case):
    source = _source(world, SourceKind.WEBHOOK, secret="s3cret")
    body = json.dumps([_item(1)]).encode()
    headers = _signed("s3cret", body)
    if case == "unsigned":
        headers.pop("HTTP_X_CANDOR_SIGNATURE")
    elif case == "wrong secret":
        headers = _signed("other", body)
    elif case == "reserialised":
        headers = _signed("s3cret", json.dumps(json.loads(body), indent=2).encode())
    elif case == "stale":
        headers = _signed("s3cret", body, at=int(time.time()) - 301)
    elif case == "future":
        headers = _signed("s3cret", body, at=int(time.time()) + 301)
    elif case == "other tenant":
        with tenant_context(world.b):
            other = Source.objects.create(name="b-hook", kind=SourceKind.WEBHOOK, secret="b-secret")
        headers = _signed("b-secret", body)
        assert other.pk is not None
    response = _hook(world, body, headers, source)
    assert response.status_code in (400, 401), response.content
    assert response.json()["error"]["message"]
    assert _count(world, source=source) == 0


def test_webhook_secret_rotation_accepts_both_during_the_window(world, api_for):
    source = _source(world, SourceKind.WEBHOOK, secret="old-secret")
    rotated = api_for("a_admin").post(f"/api/v1/sources/{source.pk}/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    body = json.dumps([_item(1)]).encode()
    assert _hook(world, body, _signed("old-secret", body, "d-old"), source).status_code == 200
    assert _hook(world, body, _signed(new, body, "d-new"), source).status_code == 200
    with tenant_context(world.a):
        Source.objects.filter(pk=source.pk).update(previous_secret_expires_at="2000-01-01T00:00:00Z")
    assert _hook(world, body, _signed("old-secret", body, "d-late"), source).status_code == 401


# queries ----------------------------------------------------------------------------------------


def test_query_syntax_errors_point_at_the_position(world, api_for):
    api = api_for("a_analyst")
    response = api.post("/api/v1/queries", {"name": "Broken", "expression": "acme AND (outage OR"})
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["expression"][0]
    assert "at character" in message
    preview = api.post("/api/v1/queries/preview", {"expression": "acme AND"})
    assert preview.status_code == 400


def test_query_create_schedules_a_backfill_and_preview_counts(
    world, api_for, django_capture_on_commit_callbacks
):
    source = _source(world)
    api = api_for("a_analyst")
    api.post(f"/api/v1/sources/{source.pk}/mentions", [_item(1), _item(2, text="Nothing to see")])
    with tenant_context(world.a):
        from django.utils import timezone

        Mention.objects.update(enriched_at=timezone.now(), lang="en")
    preview = api.post("/api/v1/queries/preview", {"expression": "acme AND down"})
    assert preview.status_code == 200 and preview.json()["matched"] == 1 and preview.json()["scanned"] == 2
    with django_capture_on_commit_callbacks() as callbacks:
        created = api.post(
            "/api/v1/queries", {"name": "Outages", "expression": "acme AND down", "kind": "brand"}
        )
    assert created.status_code == 201 and created.json()["backfill"]["status"] == "queued"
    assert callbacks, "a backfill is queued once the query is committed"
    with tenant_context(world.a):
        from listening.services.queries import query_backfill

        query = Query.objects.get(name="Outages")
        assert query_backfill(query_id=query.pk, revision=query.revision) == 1
    listed = api.get("/api/v1/mentions", {"query": query.pk}).json()["results"]
    assert [m["external_id"] for m in listed] == ["ext-1"]
    assert api.get(f"/api/v1/queries/{query.pk}").json()["backfill"]["status"] == "idle"


def test_mention_filters_are_validated(world, api_for):
    api = api_for("a_viewer")
    assert api.get("/api/v1/mentions", {"sentiment": "angry"}).status_code == 400
    assert (
        api.get(
            "/api/v1/mentions", {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
        ).status_code
        == 400
    )
    assert api.get("/api/v1/mentions", {"page_size": "500"}).status_code == 200
