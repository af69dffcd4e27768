"""Retrying a post's failed sends from the API and the portal: edit capability, audited, refused
while publishing is paused, another tenant's post is 404."""

from __future__ import annotations

from personalization import post_services, publishing
from personalization.post_models import PostSend, PostStatus, ScheduledPost, SendStatus
from tenants.models import AuditEvent
from tests.personalization.posts.conftest import Flaky, scheduled


def failed_post(receiver):
    receiver.routes["/hook"] = Flaky(100)
    channel = post_services.publishing_channel_create(
        name="Status hook", kind="webhook", url=receiver.url("/hook"), webhook_secret="s3cret-s3cret-s3cret"
    )
    post = scheduled(channel)
    publishing.posts_publish_due()
    (send,) = PostSend.objects.filter(post=post)
    for _ in range(publishing.MAX_ATTEMPTS):
        publishing.post_send_attempt(send_id=send.pk)
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED
    return post, send


def test_an_analyst_retries_the_failed_sends_and_it_is_audited(tenant, receiver, api_for, world):
    post, send = failed_post(receiver)
    assert api_for("a_viewer").post(f"/api/v1/posts/{post.pk}/retry", {}).status_code == 403
    receiver.routes["/hook"] = Flaky(0)
    response = api_for("a_analyst").post(f"/api/v1/posts/{post.pk}/retry", {})
    assert response.status_code == 200, response.json()
    assert [(s["id"], s["status"]) for s in response.json()] == [(send.pk, "pending")]
    post.refresh_from_db()
    last = post.transitions.last()
    assert post.status == PostStatus.SENDING and last.actor_label == "a-analyst@example.com"
    assert last.reason == "1 failed send retried"
    event = AuditEvent.objects.get(action="post_sends_retried")
    assert event.actor == world.users["a_analyst"] and event.tenant == world.a
    assert event.details["sends"] == [send.pk]
    assert publishing.post_send_attempt(send_id=send.pk).status == SendStatus.DELIVERED
    assert ScheduledPost.objects.get(pk=post.pk).status == PostStatus.SENT
    # Nothing failed any more: a second retry is a 400 naming the field.
    again = api_for("a_analyst").post(f"/api/v1/posts/{post.pk}/retry", {})
    assert again.status_code == 400 and "sends" in again.json()["error"]["fields"]


def test_named_sends_must_be_failed_sends_of_that_post(tenant, receiver, api_for):
    post, send = failed_post(receiver)
    api = api_for("a_analyst")
    for bad in ({"sends": [send.pk + 1000]}, {"sends": []}, {"sends": ["x"]}):
        response = api.post(f"/api/v1/posts/{post.pk}/retry", bad)
        fields = response.json()["error"]["fields"]
        assert response.status_code == 400 and any(f.startswith("sends") for f in fields), bad
    assert api.post(f"/api/v1/posts/{post.pk}/retry", {"sends": [send.pk]}).status_code == 200


def test_no_retry_while_publishing_is_paused(tenant, receiver, api_for):
    post, send = failed_post(receiver)
    post_services.posts_pause(
        target=post_services.PauseTarget(scope="tenant"), reason="crisis", actor=post_services.SYSTEM
    )
    response = api_for("a_analyst").post(f"/api/v1/posts/{post.pk}/retry", {})
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]
    assert PostSend.objects.get(pk=send.pk).status == SendStatus.FAILED


def test_another_tenants_post_is_not_found(tenant, receiver, api_for, world):
    post, _ = failed_post(receiver)
    other = api_for("b_owner", tenant=world.b)
    assert other.post(f"/api/v1/posts/{post.pk}/retry", {}).status_code == 404


def test_the_calendar_offers_the_retry_and_it_works(tenant, receiver, api_for):
    post, send = failed_post(receiver)
    day = post.scheduled_at.date().isoformat()
    page = api_for("a_analyst").get(f"/audience/calendar/?date={day}")
    assert f'data-testid="retry-{post.pk}"' in page.content.decode()
    assert (
        f'data-testid="retry-{post.pk}"'
        not in api_for("a_viewer").get(f"/audience/calendar/?date={day}").content.decode()
    )
    assert api_for("a_viewer").post(f"/audience/calendar/posts/{post.pk}/retry/", {}).status_code == 403
    analyst = api_for("a_analyst").client
    answer = analyst.post(f"/audience/calendar/posts/{post.pk}/retry/", {"date": day, "view": "week"})
    assert answer.status_code == 302 and f"date={day}" in answer["Location"]
    assert PostSend.objects.get(pk=send.pk).status == SendStatus.PENDING
