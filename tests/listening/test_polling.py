"""Polling a feed through the sources service: new entries stored once, the ETag kept so the next
poll is conditional, failures recorded and backed off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from listening.models import Mention, Source, SourceKind
from listening.services import sources
from tests.listening.fixtures.httpd import Handler, send, serve
from tests.listening.test_connectors_rss import ETAG, _conditional


@pytest.fixture
def feed(world, settings: Any):
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    state = {"fail": False}

    def route(handler: Handler) -> None:
        if state["fail"]:
            send(handler, 503, b"busy")
        else:
            _conditional(handler)

    with serve({"/feed": route}) as server:
        settings.LISTENING_FETCH_ALLOWED_PORTS = [server.port]
        with tenant_context(world.a):
            source = Source.objects.create(
                name="Feed", kind=SourceKind.RSS, config={"url": server.url("/feed")}
            )
            yield source, server, state


def test_a_poll_stores_entries_once_and_the_next_one_is_conditional(feed):
    source, server, _ = feed
    first = sources.source_poll(source_id=source.pk)
    assert first is not None and first.stored == Mention.objects.filter(source=source).count() > 0
    source.refresh_from_db()
    assert source.etag == ETAG and source.last_polled_at is not None
    second = sources.source_poll(source_id=source.pk)
    assert second is not None and second.stored == 0
    assert server.seen[-1].headers["if-none-match"] == ETAG


def test_failures_are_recorded_and_backed_off(feed):
    source, _, state = feed
    state["fail"] = True
    assert sources.source_poll(source_id=source.pk) is None
    source.refresh_from_db()
    assert source.consecutive_errors == 1 and "503" in source.last_error
    assert source.pk not in sources.sources_due(), "just polled"
    Source.objects.filter(pk=source.pk).update(
        last_polled_at=timezone.now() - timedelta(seconds=source.poll_interval_s + 1)
    )
    assert source.pk not in sources.sources_due(), "backs off twice the interval after one failure"
    Source.objects.filter(pk=source.pk).update(
        last_polled_at=timezone.now() - timedelta(seconds=2 * source.poll_interval_s + 1)
    )
    assert source.pk in sources.sources_due()
    state["fail"] = False
    assert sources.source_poll(source_id=source.pk) is not None
    source.refresh_from_db()
    assert source.consecutive_errors == 0


def test_paused_sources_are_not_polled(feed):
    source, _, _ = feed
    sources.source_update(source=source, is_active=False)
    assert source.pk not in sources.sources_due()
    assert sources.source_poll(source_id=source.pk) is None
