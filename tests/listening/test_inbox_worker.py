"""The inbox with a real worker: mentions posted to the bulk API are enriched on the `nlp` queue,
and the ones that need an answer appear in the inbox, once, with the copy counted on them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from listening.models import InboxItem, Mention, Source, SourceKind
from tenants.services import token_create
from tests.conftest import World, wait_for

pytestmark = pytest.mark.worker


@pytest.fixture
def source(committed: World) -> Iterator[Source]:
    with tenant_context(committed.a):
        source = Source.objects.create(name="inbox pipeline", kind=SourceKind.API)
    yield source
    with tenant_context(committed.a):
        Mention.objects.filter(source=source).delete()  # their inbox items and events go with them
        source.delete()


def test_the_worker_queues_what_needs_an_answer(celery_worker, committed, source):
    token, raw = token_create(
        user=committed.users["a_owner"], name="inbox", scope="write", tenants=[committed.a]
    )
    api = Client(HTTP_HOST="tenant-a.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    now = datetime.now(UTC).isoformat()
    texts = {
        "q1": "@acme how do I rotate my API keys without downtime?",
        "q1-copy": "@acme how do I rotate my API keys without downtime? https://t.co/x",
        "p1": "Great keynote from Acme today, loved the new features!",
    }
    items = [{"external_id": k, "text": t, "posted_at": now} for k, t in texts.items()]
    # Delivered twice (a sender's retry): stored once, queued once.
    for _ in range(2):
        response = api.post(f"/api/v1/sources/{source.pk}/mentions", items, content_type="application/json")
        assert response.status_code == 200

    def enriched() -> bool:
        with tenant_context(committed.a):
            return Mention.objects.filter(source=source, enriched_at__isnull=False).count() == len(texts)

    assert wait_for(enriched, timeout=120), celery_worker.read_text()[-3000:]
    listed = api.get("/api/v1/inbox", {"q": "rotate"}).json()["results"]
    assert [row["mention"]["text"] for row in listed] == [texts["q1"]]
    assert listed[0]["reasons"][0] == "question" and listed[0]["copies"] == 1
    with tenant_context(committed.a):
        assert InboxItem.objects.filter(mention__source=source).count() == 1
    token.delete()
