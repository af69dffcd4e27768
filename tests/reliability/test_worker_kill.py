"""A real worker killed with SIGKILL (main process and pool child at once) in the middle of an
enrichment batch and in the middle of a publish send; a new worker takes over.

The kill is made deterministic: enrichment is held inside its transaction by a lock the test takes
on the metric buckets (the batch has written its results and waits to count them), and the webhook
receiver of a post holds the request open after acting on it. The broker is a private Redis (acks
are late: the killed worker's message is handed out again) with a short visibility timeout
(tests.reliability.worker_settings)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from config.embedded import url_for
from listening.models import Mention, MetricBucket, MetricGrain, Query, QueryMatch, Source, SourceKind, Story
from listening.services.metrics import metrics_rebuild
from listening.tasks import enrich_mentions
from personalization import post_services
from personalization.post_models import PostSend, PostStatus, PublishingChannel, ScheduledPost, SendStatus
from personalization.publishing import CLAIM_LEASE
from personalization.tasks import publish_due
from tenants.services import token_create
from tenants.tasking import send_in_tenant
from tests.conftest import World, wait_for
from tests.listening.fixtures.httpd import LocalServer, send, serve
from tests.personalization.posts.conftest import scheduled
from tests.reliability.conftest import RedisServer, Worker, broker_at

pytestmark = pytest.mark.worker

DAY = datetime(2026, 3, 3, tzinfo=UTC)  # a day no other test writes to
MENTIONS = 24


def _waiting_on(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query ILIKE %s",
            [f"%{table}%"],
        )
        return bool(cursor.fetchone()[0])


@pytest.fixture
def feed(committed: World) -> Iterator[Source]:
    with tenant_context(committed.b):
        source = Source.objects.create(name="kill feed", kind=SourceKind.API)
        query = Query.objects.create(name="kill outages", expression="outage")
    yield source
    with tenant_context(committed.b):
        Story.objects.filter(mentions__source=source).delete()
        Mention.objects.filter(source=source).delete()
        query.delete()
        source.delete()
        metrics_rebuild(start=DAY, end=DAY + timedelta(days=1))


def _day_volume(source: Source, query: Query | None = None) -> int:
    rows = MetricBucket.objects.filter(
        grain=MetricGrain.DAY, bucket_start=DAY, source=source, lang__isnull=True, query=query
    )
    return int(rows.aggregate(n=Sum("volume"))["n"] or 0)


def test_a_worker_killed_mid_enrichment_leaves_every_mention_enriched_once(
    committed, feed, redis_server: RedisServer, workers: list[Worker], tmp_path
):
    tenant = committed.b
    _, raw = token_create(user=committed.users["b_owner"], name="kill", scope="write", tenants=[tenant])
    api = Client(HTTP_HOST="tenant-b.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    items = [
        {
            "external_id": f"k{i}",
            "text": f"Acme outage number {i}, nothing loads" if i % 2 else f"Acme launch event {i} was great",
            "posted_at": (DAY + timedelta(hours=10, minutes=i)).isoformat(),
        }
        for i in range(MENTIONS)
    ]
    log = tmp_path / "workers.log"
    holder = psycopg.connect(url_for(settings.DATABASES["default"]))
    try:
        # Counting into the buckets waits for this lock: the batch stops mid-transaction.
        holder.execute(f"LOCK TABLE {tenant.schema_name}.listening_metricbucket IN EXCLUSIVE MODE")
        workers.append(first := Worker(redis_server.url, log))
        with broker_at(redis_server.url):
            response = api.post(f"/api/v1/sources/{feed.pk}/mentions", items, content_type="application/json")
        assert response.status_code == 200 and response.json()["stored"] == MENTIONS
        assert wait_for(lambda: _waiting_on("listening_metricbucket"), timeout=180), first.text()[-3000:]
        first.kill()
    finally:
        holder.rollback()
        holder.close()
    with tenant_context(tenant):
        stored = Mention.objects.filter(source=feed)
        # The killed batch's transaction was rolled back with its connection: nothing half-written.
        assert stored.filter(enriched_at__isnull=False).count() == 0
        assert set(stored.values_list("enrich_attempts", flat=True)) == {1}
        assert _day_volume(feed) == 0

    workers.append(second := Worker(redis_server.url, log))

    def all_enriched() -> bool:
        with tenant_context(tenant):
            return Mention.objects.filter(source=feed, enriched_at__isnull=True).count() == 0

    assert wait_for(all_enriched, timeout=180), second.text()[-3000:]
    with tenant_context(tenant):
        query = Query.objects.get(name="kill outages")
        ids = list(Mention.objects.filter(source=feed).values_list("id", flat=True))
        # A duplicate delivery of the same batch on top (a broker redelivering it once more).
        with broker_at(redis_server.url):
            task_id = enrich_mentions.apply_async(args=[ids]).id
    assert wait_for(lambda: f"enrich_mentions[{task_id}] succeeded" in second.text(), timeout=120)
    with tenant_context(tenant):
        assert _day_volume(feed) == MENTIONS
        assert _day_volume(feed, query) == MENTIONS // 2
        tags = Counter(
            QueryMatch.objects.filter(mention__source=feed, query=query).values_list("mention_id", flat=True)
        )
        assert len(tags) == MENTIONS // 2 and set(tags.values()) == {1}
        assert (
            Story.objects.filter(mentions__source=feed).distinct().aggregate(n=Sum("mention_count"))["n"]
            == MENTIONS
        )
        assert set(Mention.objects.filter(source=feed).values_list("enrich_attempts", flat=True)) == {2}


class HoldingReceiver:
    """A webhook receiver that acts once per delivery id (X-Candor-Delivery), as ours do; the first
    request is acted on and then held open until the test lets go, so its sender dies waiting."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.effects: Counter[str] = Counter()
        self.release = threading.Event()
        self.held = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, handler: Any) -> None:
        key = handler.headers.get("X-Candor-Delivery", "")
        with self.lock:
            self.requests[key] += 1
            if not self.effects[key]:
                self.effects[key] += 1
            hold = not self.held.is_set()
            self.held.set()
        if hold:
            self.release.wait(300)
            return
        send(handler, 200, b"ok")


@pytest.fixture
def receiver(committed: World, settings: Any) -> Iterator[tuple[LocalServer, HoldingReceiver]]:
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    holding = HoldingReceiver()
    with serve({"/hook": holding}) as server:
        settings.LISTENING_FETCH_ALLOWED_PORTS = [server.port]
        try:
            yield server, holding
        finally:
            holding.release.set()


def test_a_worker_killed_mid_send_delivers_each_post_once(
    committed, receiver, redis_server: RedisServer, workers: list[Worker], tmp_path
):
    server, holding = receiver
    tenant = committed.b
    env = {
        "LISTENING_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32",
        "LISTENING_FETCH_ALLOWED_PORTS": str(server.port),
    }
    log = tmp_path / "workers.log"
    with tenant_context(tenant):
        channel = post_services.publishing_channel_create(
            name="Kill hook", kind="webhook", url=server.url("/hook"), webhook_secret="s3cret-s3cret-s3cret"
        )
        posts = [scheduled(channel, text=f"Status update {n}") for n in range(2)]
    try:
        workers.append(first := Worker(redis_server.url, log, env))
        with broker_at(redis_server.url):
            send_in_tenant(tenant, publish_due)
        assert wait_for(holding.held.is_set, timeout=120), first.text()[-3000:]
        first.kill()  # while the receiver holds the first send's request open

        with tenant_context(tenant):
            in_flight = PostSend.objects.get(post__in=posts, status=SendStatus.SENDING)
            assert in_flight.attempts == 1
        workers.append(second := Worker(redis_server.url, log, env))

        def delivered(n: int) -> bool:
            with tenant_context(tenant):
                return PostSend.objects.filter(post__in=posts, status=SendStatus.DELIVERED).count() == n

        # The send queued behind the killed one is delivered by the new worker; the killed one's
        # message comes back (late ack) but its claim is still within the lease: left alone.
        assert wait_for(lambda: delivered(1), timeout=120), second.text()[-3000:]
        assert wait_for(
            lambda: "publish_send" in second.text() and "'skipped'" in second.text(), timeout=60
        ), second.text()[-3000:]
        # Once the lease has passed (moved back here instead of waited for), the minute's sweep
        # queues it again: the same delivery id, which the receiver has acted on already.
        with tenant_context(tenant):
            PostSend.objects.filter(pk=in_flight.pk).update(claimed_at=timezone.now() - CLAIM_LEASE)
        with broker_at(redis_server.url):
            send_in_tenant(tenant, publish_due)
        assert wait_for(lambda: delivered(2), timeout=120), second.text()[-3000:]
        with tenant_context(tenant):
            sends = list(PostSend.objects.filter(post__in=posts).order_by("pk"))
            statuses = set(
                ScheduledPost.objects.filter(pk__in=[p.pk for p in posts]).values_list("status", flat=True)
            )
        keys = {str(s.idempotency_key) for s in sends}
        assert set(holding.effects) == keys and set(holding.effects.values()) == {1}
        assert holding.requests[str(in_flight.idempotency_key)] == 2
        assert sum(holding.requests.values()) == 3
        assert statuses == {PostStatus.SENT}
        with tenant_context(tenant):
            assert PostSend.objects.get(pk=in_flight.pk).attempts == 2
    finally:
        with tenant_context(tenant):
            ScheduledPost.objects.filter(pk__in=[p.pk for p in posts]).delete()
            PublishingChannel.objects.filter(pk=channel.pk).delete()
