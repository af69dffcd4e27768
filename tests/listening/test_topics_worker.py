"""The topic task through a real worker: sent in tenant A's context (as the beat fan-out does),
it clusters A's mentions in A's schema and leaves tenant B alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from listening import tasks
from listening.models import Mention, Source, SourceKind, Topic, TopicRun
from tenants.tasking import send_in_tenant
from tests.conftest import World, wait_for
from tests.listening.topic_data import centers, seed_mentions

pytestmark = pytest.mark.worker


@pytest.fixture
def source(committed: World) -> Iterator[Source]:
    with tenant_context(committed.a):
        source = Source.objects.create(name="topics worker", kind=SourceKind.API)
    yield source
    for tenant in (committed.a, committed.b):
        with tenant_context(tenant):
            Topic.objects.all().delete()
            TopicRun.objects.all().delete()
    with tenant_context(committed.a):
        Mention.objects.filter(source=source).delete()
        source.delete()


def test_the_beat_task_clusters_the_senders_tenant_only(celery_worker, committed, source):
    themes = centers()
    start = timezone.now() - timedelta(hours=12)
    with tenant_context(committed.a):
        for theme in ("outage", "pricing"):
            seed_mentions(
                source=source,
                theme=theme,
                center=themes[theme],
                count=20,
                start=start,
                span=timedelta(hours=6),
            )
    send_in_tenant(committed.a, tasks.refresh_topics)

    def ran() -> bool:
        with tenant_context(committed.a):
            return TopicRun.objects.filter(finished_at__isnull=False).exists()

    assert wait_for(ran, timeout=120), celery_worker.read_text()[-3000:]
    with tenant_context(committed.a):
        run = TopicRun.objects.get()
        assert (run.considered, run.clusters) == (40, 2)
        assert Topic.objects.count() == 2
    with tenant_context(committed.b):
        assert not TopicRun.objects.exists() and not Topic.objects.exists()
