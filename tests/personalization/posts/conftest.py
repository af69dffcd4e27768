"""Fixtures of the scheduled-posts tests: tenant A's schema, consenting contacts, and local HTTP
servers standing in for a webhook receiver and a Mastodon instance."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from personalization import post_services
from personalization.post_models import PostStatus, PublishingChannel, ScheduledPost
from tests.ethics.conftest import make_contact, record
from tests.listening.fixtures.httpd import LocalServer, send, serve


class Flaky:
    """Answers 500 `failures` times, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def __call__(self, handler: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            send(handler, 500, b"busy")
        else:
            send(handler, 200, b"ok")


class FakeMastodon:
    """POST /api/v1/statuses as Mastodon answers it, Idempotency-Key included: a repeated key
    returns the status created the first time instead of creating another."""

    def __init__(self) -> None:
        self.created: dict[str, dict[str, str]] = {}
        self.ids = itertools.count(1)
        self.failures = 0
        self.answer: bytes | None = None

    def __call__(self, handler: Any) -> None:
        if handler.headers.get("Authorization") != "Bearer tok-123":
            send(handler, 401, b'{"error":"The access token is invalid"}')
            return
        if self.failures > 0:
            self.failures -= 1
            send(handler, 503, b"down")
            return
        if self.answer is not None:
            send(handler, 200, self.answer)
            return
        key = handler.headers.get("Idempotency-Key", "")
        body = handler.server.seen[-1].body
        if key not in self.created:
            status_id = str(next(self.ids))
            self.created[key] = {"id": status_id, "content": json.loads(body)["status"]}
        send(handler, 200, json.dumps(self.created[key]).encode(), {"Content-Type": "application/json"})


@pytest.fixture
def tenant(world):
    with tenant_context(world.a):
        yield world


@pytest.fixture
def receiver(settings: Any) -> Iterator[LocalServer]:
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    mastodon = FakeMastodon()
    routes = {"/hook": Flaky(0), "/api/v1/statuses": mastodon, "/gone": lambda h: send(h, 410, b"gone")}
    with serve(routes) as server:
        settings.LISTENING_FETCH_ALLOWED_PORTS = [server.port]
        server.mastodon = mastodon  # type: ignore[attr-defined]
        yield server


def consenting(email: str, code: str = "outreach", **extra: Any) -> Any:
    contact = make_contact(email=email, handles=[], **extra)
    record(contact, code)
    return contact


ACTOR = post_services.Actor(None, "test")


def scheduled(
    channel: PublishingChannel, *, text: str = "Our status page moved", **extra: Any
) -> ScheduledPost:
    """A post taken through approve and schedule, then made due (its time set to just now)."""
    post = post_services.scheduled_post_create(
        channel=channel, text=text, actor=ACTOR, scheduled_at=timezone.now() + timedelta(hours=1), **extra
    )
    post_services.scheduled_post_approve(post=post, actor=ACTOR)
    post = post_services.scheduled_post_schedule(post=post, actor=ACTOR)
    if post.status == PostStatus.SCHEDULED:
        ScheduledPost.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    post.refresh_from_db()
    return post
