"""The whole pipeline with a real worker: mentions posted to the bulk API are stored, then
enriched by the `nlp` queue; a query written afterwards tags them through the backfill job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from listening.models import Mention, Query, Source, SourceKind
from tenants.services import token_create
from tests.conftest import World, wait_for

pytestmark = pytest.mark.worker


@pytest.fixture
def source(committed: World) -> Iterator[Source]:
    with tenant_context(committed.a):
        source = Source.objects.create(name="pipeline", kind=SourceKind.API)
    yield source
    with tenant_context(committed.a):
        Query.objects.filter(name="pipeline outages").delete()
        Mention.objects.filter(source=source).delete()
        source.delete()


def test_posted_mentions_are_enriched_by_the_worker_and_backfilled_by_a_new_query(
    celery_worker, committed, source
):
    token, raw = token_create(
        user=committed.users["a_owner"], name="pipeline", scope="write", tenants=[committed.a]
    )
    api = Client(HTTP_HOST="tenant-a.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    now = datetime.now(UTC).isoformat()
    items = [
        {
            "external_id": "p1",
            "text": "Acme Cloud is down and support is not answering. Terrible.",
            "posted_at": now,
        },
        {
            "external_id": "p2",
            "text": "Great keynote from Acme today, loved the new features!",
            "posted_at": now,
        },
    ]
    response = api.post(f"/api/v1/sources/{source.pk}/mentions", items, content_type="application/json")
    assert response.status_code == 200 and response.json()["stored"] == 2

    def enriched() -> bool:
        with tenant_context(committed.a):
            return Mention.objects.filter(source=source, enriched_at__isnull=False).count() == 2

    assert wait_for(enriched, timeout=120), celery_worker.read_text()[-3000:]
    with tenant_context(committed.a):
        sentiments = dict(Mention.objects.filter(source=source).values_list("external_id", "sentiment"))
    assert sentiments == {"p1": "negative", "p2": "positive"}

    created = api.post(
        "/api/v1/queries",
        {"name": "pipeline outages", "expression": "acme AND down"},
        content_type="application/json",
    )
    assert created.status_code == 201

    def tagged() -> list[str]:
        found = api.get("/api/v1/mentions", {"query": created.json()["id"], "source": source.pk}).json()[
            "results"
        ]
        return [m["external_id"] for m in found]

    assert wait_for(lambda: tagged() == ["p1"], timeout=60), celery_worker.read_text()[-3000:]
    token.delete()
