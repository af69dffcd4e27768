"""Publishing with a real worker: the per-tenant `publish_due` task (what beat fans out every
minute) takes a due post on the `publish` queue, queues its sends, and the worker delivers the email
(its console mail backend writes it into the log) and closes the post as sent."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from personalization import post_services
from personalization.models import Channel, Contact, EngagementEvent
from personalization.post_models import PostSend, PostStatus, ScheduledPost, SendStatus
from personalization.tasks import publish_due
from tenants.tasking import send_in_tenant
from tests.conftest import World, wait_for
from tests.listening.fixtures.httpd import send
from tests.personalization.posts.conftest import consenting

pytestmark = pytest.mark.worker


def test_the_worker_publishes_a_due_post_once(celery_worker, committed: World):
    marker = uuid.uuid4().hex[:8]
    with tenant_context(committed.a):
        contact = consenting(f"worker-{marker}@example.org")
        channel = post_services.publishing_channel_create(
            name=f"Worker list {marker}", kind="email", consent_purpose="outreach"
        )
        actor = post_services.Actor(None, "test")
        post = post_services.scheduled_post_create(
            channel=channel,
            text=f"Maintenance window {marker}",
            actor=actor,
            scheduled_at=timezone.now() + timedelta(minutes=5),
        )
        post_services.scheduled_post_approve(post=post, actor=actor)
        post_services.scheduled_post_schedule(post=post, actor=actor)
        ScheduledPost.objects.filter(pk=post.pk).update(scheduled_at=timezone.now())
    try:
        send_in_tenant(committed.a, publish_due)
        send_in_tenant(committed.a, publish_due)  # beat firing twice sends nothing twice

        def sent() -> bool:
            with tenant_context(committed.a):
                return ScheduledPost.objects.get(pk=post.pk).status == PostStatus.SENT

        assert wait_for(sent, timeout=120), celery_worker.read_text()[-3000:]
        with tenant_context(committed.a):
            (send,) = PostSend.objects.filter(post=post)
        assert send.status == SendStatus.DELIVERED and send.attempts == 1
        log = celery_worker.read_text()
        assert log.count(f"Subject: Maintenance window {marker}") == 1
        assert f"worker-{marker}@example.org" in log and "List-Unsubscribe" in log
    finally:
        with tenant_context(committed.a):
            ScheduledPost.objects.filter(pk=post.pk).delete()
            channel.delete()
            Contact.objects.filter(pk=contact.pk).delete()
            Channel.objects.filter(pk=channel.channel_id).delete()


class ActsThenLosesTheAnswer:
    """A webhook receiver that acts on each delivery id once (de-duplicating on X-Candor-Delivery,
    as Candor's receivers are told to), and whose first answer is lost: it acted, but Candor sees
    an HTTP 500 and must try again."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.effects: dict[str, bytes] = {}

    def __call__(self, handler: Any) -> None:
        key = handler.headers.get("X-Candor-Delivery", "")
        self.calls.append(key)
        self.effects.setdefault(key, handler.server.seen[-1].body)
        send(handler, 500 if len(self.calls) == 1 else 200, b"")


def test_a_send_whose_first_answer_is_lost_is_retried_and_acts_once(
    celery_worker, committed: World, worker_receiver, settings
):
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.LISTENING_FETCH_ALLOWED_PORTS = [worker_receiver.port]
    marker = uuid.uuid4().hex[:8]
    receiver = ActsThenLosesTheAnswer()
    worker_receiver.routes[f"/hook-{marker}"] = receiver
    with tenant_context(committed.a):
        channel = post_services.publishing_channel_create(
            name=f"Worker hook {marker}",
            kind="webhook",
            url=worker_receiver.url(f"/hook-{marker}"),
            webhook_secret="s3cret-s3cret-s3cret",
        )
        actor = post_services.Actor(None, "test")
        post = post_services.scheduled_post_create(
            channel=channel,
            text=f"Status {marker}",
            actor=actor,
            scheduled_at=timezone.now() + timedelta(minutes=5),
        )
        post_services.scheduled_post_approve(post=post, actor=actor)
        post_services.scheduled_post_schedule(post=post, actor=actor)
        ScheduledPost.objects.filter(pk=post.pk).update(scheduled_at=timezone.now())
    try:
        send_in_tenant(committed.a, publish_due)

        def sent() -> bool:
            with tenant_context(committed.a):
                return ScheduledPost.objects.get(pk=post.pk).status == PostStatus.SENT

        # The retry waits for its back-off (publishing.BACKOFF_FIRST_S, 30 s).
        assert wait_for(sent, timeout=150), celery_worker.read_text()[-3000:]
        with tenant_context(committed.a):
            (delivery,) = PostSend.objects.filter(post=post)
            events = EngagementEvent.objects.filter(channel_id=channel.channel_id)
            assert events.count() == 1 and events.get().contact_id is None
        assert delivery.status == SendStatus.DELIVERED and delivery.attempts == 2
        assert receiver.calls == [str(delivery.idempotency_key)] * 2
        assert len(receiver.effects) == 1  # two deliveries, one effect
    finally:
        worker_receiver.routes.pop(f"/hook-{marker}", None)
        with tenant_context(committed.a):
            ScheduledPost.objects.filter(pk=post.pk).delete()
            channel.delete()
            EngagementEvent.objects.filter(channel_id=channel.channel_id).delete()
            Channel.objects.filter(pk=channel.channel_id).delete()
