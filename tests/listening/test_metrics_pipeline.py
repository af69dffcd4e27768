"""Metrics with a real worker: mentions posted to the bulk API are counted into the buckets as
the `nlp` queue enriches them (once, even when the batch is posted again), and a query written
afterwards gets its buckets from the backfill job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from listening.models import Mention, Query, Source, SourceKind
from listening.services.metrics import metrics_rebuild
from listening.tasks import enrich_mentions
from tenants.services import token_create
from tests.conftest import World, wait_for

pytestmark = pytest.mark.worker

DAY = datetime(2026, 6, 1, tzinfo=UTC)  # a day no other test writes to


@pytest.fixture
def source(committed: World) -> Iterator[Source]:
    with tenant_context(committed.a):
        source = Source.objects.create(name="metrics pipeline", kind=SourceKind.API)
    yield source
    with tenant_context(committed.a):
        Query.objects.filter(name="metrics outages").delete()
        Mention.objects.filter(source=source).delete()
        source.delete()
        metrics_rebuild(start=DAY, end=DAY + timedelta(days=1))  # the all-sources rows too


def test_the_worker_counts_enriched_mentions_once_and_backfills_query_buckets(
    celery_worker, committed, source
):
    token, raw = token_create(
        user=committed.users["a_owner"], name="metrics", scope="write", tenants=[committed.a]
    )
    api = Client(HTTP_HOST="tenant-a.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    items = [
        {
            "external_id": "m1",
            "text": "Acme Cloud is down and support is not answering. Terrible.",
            "posted_at": (DAY + timedelta(hours=9, minutes=2)).isoformat(),
            "author_followers": 1200,
        },
        {
            "external_id": "m2",
            "text": "Great keynote from Acme today, loved the new features!",
            "posted_at": (DAY + timedelta(hours=9, minutes=4)).isoformat(),
            "author_followers": 30,
        },
    ]
    window = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat(), "resolution": "1h"}

    def nine_oclock(**extra) -> dict:
        body = api.get("/api/v1/metrics/timeseries", {**window, "source": source.pk, **extra}).json()
        return body["series"][0]["points"][9]

    response = api.post(f"/api/v1/sources/{source.pk}/mentions", items, content_type="application/json")
    assert response.status_code == 200 and response.json()["stored"] == 2
    assert wait_for(lambda: nine_oclock()["volume"] == 2, timeout=120), celery_worker.read_text()[-3000:]
    point = nine_oclock()
    assert (point["positive"], point["negative"], point["reach"]) == (1, 1, 1230)

    again = api.post(f"/api/v1/sources/{source.pk}/mentions", items, content_type="application/json")
    assert again.json()["stored"] == 0
    with tenant_context(committed.a):
        ids = list(Mention.objects.filter(source=source).values_list("id", flat=True))
    with tenant_context(committed.a):
        redelivered = enrich_mentions.delay(ids)  # the same batch delivered to the worker again
    created = api.post(
        "/api/v1/queries",
        {"name": "metrics outages", "expression": "acme AND down"},
        content_type="application/json",
    )
    assert created.status_code == 201
    query_id = created.json()["id"]
    assert wait_for(lambda: nine_oclock(query=query_id)["volume"] == 1, timeout=60), (
        celery_worker.read_text()[-3000:]
    )
    log = celery_worker
    assert wait_for(lambda: f"{redelivered.id}] succeeded" in log.read_text(), timeout=60), log.read_text()[
        -3000:
    ]
    assert nine_oclock()["volume"] == 2
    token.delete()
