"""Publishing with a real worker: the per-tenant `publish_due` task (what beat fans out every
minute) takes a due post on the `publish` queue, queues its sends, and the worker delivers the email
(its console mail backend writes it into the log) and closes the post as sent."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from personalization import post_services
from personalization.models import Contact
from personalization.post_models import PostSend, PostStatus, ScheduledPost, SendStatus
from personalization.tasks import publish_due
from tenants.tasking import send_in_tenant
from tests.conftest import World, wait_for
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
