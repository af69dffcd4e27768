"""The broker stops during ingest: the bulk API keeps accepting and storing mentions (2xx), nothing
lost or stored twice; when the broker is back, the sweep (beat's `sweep_unenriched`, one per tenant
every minute) queues what was never queued and enrichment catches up, counted once.

The broker is a private redis-server on a free port, stopped and started again by the test (the
machine's shared Redis is never touched)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from listening.models import Mention, MetricBucket, MetricGrain, Source, SourceKind, Story
from listening.services.metrics import metrics_rebuild
from listening.tasks import sweep_unenriched
from tenants.services import token_create
from tenants.tasking import send_in_tenant
from tests.conftest import World, wait_for
from tests.reliability.conftest import RedisServer, Worker, broker_at

pytestmark = pytest.mark.worker

DAY = datetime(2026, 3, 4, tzinfo=UTC)  # a day no other test writes to


@pytest.fixture
def feed(committed: World) -> Iterator[Source]:
    with tenant_context(committed.b):
        source = Source.objects.create(name="outage feed", kind=SourceKind.API)
    yield source
    with tenant_context(committed.b):
        Story.objects.filter(mentions__source=source).delete()
        Mention.objects.filter(source=source).delete()
        source.delete()
        metrics_rebuild(start=DAY, end=DAY + timedelta(days=1))


def _batch(start: int, count: int) -> list[dict[str, str]]:
    return [
        {
            "external_id": f"o{i}",
            "text": f"Is Acme down? Report {i} from the outage thread",
            "posted_at": (DAY + timedelta(hours=8, minutes=i % 60)).isoformat(),
        }
        for i in range(start, start + count)
    ]


def test_mentions_are_stored_while_the_broker_is_down_and_enriched_once_it_is_back(
    committed, feed, redis_server: RedisServer, workers: list[Worker], tmp_path, caplog
):
    tenant = committed.b
    _, raw = token_create(user=committed.users["b_owner"], name="outage", scope="write", tenants=[tenant])
    api = Client(HTTP_HOST="tenant-b.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    path = f"/api/v1/sources/{feed.pk}/mentions"
    workers.append(worker := Worker(redis_server.url, tmp_path / "worker.log"))

    def enriched() -> int:
        with tenant_context(tenant):
            return Mention.objects.filter(source=feed, enriched_at__isnull=False).count()

    with broker_at(redis_server.url):
        assert api.post(path, _batch(0, 5), content_type="application/json").json()["stored"] == 5
        assert wait_for(lambda: enriched() == 5, timeout=180), worker.text()[-3000:]

        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="listening.services.ingest"):
            answers = [
                api.post(path, _batch(start, 10), content_type="application/json") for start in (5, 15, 25)
            ]
            # A batch sent again while the broker is down (a client retrying) stores nothing twice.
            answers.append(api.post(path, _batch(30, 10), content_type="application/json"))
        assert [a.status_code for a in answers] == [200, 200, 200, 200]
        assert [a.json()["stored"] for a in answers] == [10, 10, 10, 5]
        assert [a.json()["duplicates"] for a in answers] == [0, 0, 0, 5]
        assert sum("the sweep will" in r.getMessage() for r in caplog.records) == 4
        with tenant_context(tenant):
            assert Mention.objects.filter(source=feed).count() == 40
        assert enriched() == 5

        redis_server.start()
        # The sweep takes mentions stored more than a minute ago (so it never races a batch just
        # queued): the minute is moved back here instead of waited for.
        with tenant_context(tenant):
            Mention.objects.filter(source=feed, enriched_at__isnull=True).update(
                received_at=timezone.now() - timedelta(minutes=2)
            )
        send_in_tenant(tenant, sweep_unenriched)
        assert wait_for(lambda: enriched() == 40, timeout=180), worker.text()[-3000:]

    with tenant_context(tenant):
        assert Mention.objects.filter(source=feed).values("external_id").distinct().count() == 40
        day = MetricBucket.objects.filter(
            grain=MetricGrain.DAY, bucket_start=DAY, source=feed, lang__isnull=True, query__isnull=True
        )
        assert day.aggregate(n=Sum("volume"))["n"] == 40
