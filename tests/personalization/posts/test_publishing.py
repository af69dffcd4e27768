"""Publishing against the faked outside world (local HTTP servers, Django's locmem outbox): exactly
once under retries and redelivery, back-off, the consent gate at send time, third-party answers
validated, SSRF refusal."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ethics import selectors as ethics_selectors
from ethics import services as ethics_services
from ethics.personal_data import person_erase, person_export
from listening.connectors import webhook
from personalization import post_services, publishing
from personalization.post_models import PostSend, PostStatus, ScheduledPost, SendStatus
from tests.ethics.conftest import make_contact, record
from tests.listening.fixtures.httpd import send as reply
from tests.personalization.posts.conftest import Flaky, consenting, scheduled


def webhook_channel(receiver, path="/hook"):
    return post_services.publishing_channel_create(
        name="Status hook", kind="webhook", url=receiver.url(path), webhook_secret="s3cret-s3cret-s3cret"
    )


def mastodon_channel(receiver):
    return post_services.publishing_channel_create(
        name="Mastodon", kind="mastodon", url=receiver.url("/"), access_token="tok-123"
    )


def email_channel():
    return post_services.publishing_channel_create(
        name="Newsletter", kind="email", consent_purpose="outreach"
    )


def only_send(post):
    (send,) = PostSend.objects.filter(post=post)
    return send


def test_a_failing_webhook_is_retried_with_backoff_then_delivered_once_signed(tenant, receiver):
    receiver.routes["/hook"] = Flaky(1)
    post = scheduled(webhook_channel(receiver))
    assert publishing.posts_publish_due() == 1
    assert publishing.posts_publish_due() == 0  # taken once
    send = only_send(post)

    first = publishing.post_send_attempt(send_id=send.pk)
    assert first.status == SendStatus.RETRYING and first.attempts == 1 and "HTTP 500" in first.last_error
    assert 25 <= (first.next_retry_at - datetime.now(UTC)).total_seconds() <= 31
    second = publishing.post_send_attempt(send_id=send.pk)
    assert second.status == SendStatus.DELIVERED and second.attempts == 2
    assert publishing.post_send_attempt(send_id=send.pk) is None  # delivered: never again

    hits = [s for s in receiver.seen if s.path == "/hook"]
    assert len(hits) == 2 and {h.headers["x-candor-delivery"] for h in hits} == {str(send.idempotency_key)}
    webhook.verify(
        headers=hits[-1].headers, body=hits[-1].body, secrets=[b"s3cret-s3cret-s3cret"], now=time.time()
    )
    assert json.loads(hits[-1].body)["post"]["text"] == "Our status page moved"
    post.refresh_from_db()
    assert post.status == PostStatus.SENT
    assert [t.to_status for t in post.transitions.all()] == [
        "draft",
        "approved",
        "scheduled",
        "sending",
        "sent",
    ]


def test_retries_stop_after_the_last_attempt_and_a_person_can_retry(tenant, receiver):
    receiver.routes["/hook"] = Flaky(100)
    post = scheduled(webhook_channel(receiver))
    publishing.posts_publish_due()
    send = only_send(post)
    for _ in range(publishing.MAX_ATTEMPTS):
        result = publishing.post_send_attempt(send_id=send.pk)
    assert result.status == SendStatus.FAILED and result.attempts == publishing.MAX_ATTEMPTS
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED
    receiver.routes["/hook"] = Flaky(0)
    publishing.post_sends_retry(post=post, user=None)
    assert publishing.post_send_attempt(send_id=send.pk).status == SendStatus.DELIVERED
    post.refresh_from_db()
    assert post.status == PostStatus.SENT


def test_a_client_error_fails_at_once(tenant, receiver):
    post = scheduled(webhook_channel(receiver, "/gone"))
    publishing.posts_publish_due()
    result = publishing.post_send_attempt(send_id=only_send(post).pk)
    assert result.status == SendStatus.FAILED and result.attempts == 1 and "HTTP 410" in result.last_error


def died_after_sending(*args, **kwargs):
    raise SystemExit("worker killed")


def test_mastodon_worker_killed_after_posting_is_redelivered_without_a_second_status(tenant, receiver):
    post = scheduled(mastodon_channel(receiver))
    publishing.posts_publish_due()
    send = only_send(post)
    # The status is created, then the worker dies before writing the outcome.
    with mock.patch.object(publishing, "_finish", died_after_sending), pytest.raises(SystemExit):
        publishing.post_send_attempt(send_id=send.pk)
    send.refresh_from_db()
    assert send.status == SendStatus.SENDING and len(receiver.mastodon.created) == 1
    # Redelivered at once: the claim is live, so it is left alone (never two attempts at a time).
    assert publishing.post_send_attempt(send_id=send.pk) is None
    # Redelivered after the lease: repeated with the same Idempotency-Key; Mastodon answers the
    # status it created instead of creating another.
    PostSend.objects.filter(pk=send.pk).update(claimed_at=timezone.now() - publishing.CLAIM_LEASE)
    again = publishing.post_send_attempt(send_id=send.pk)
    assert again.status == SendStatus.DELIVERED and again.external_id == "1"
    calls = [s for s in receiver.seen if s.path == "/api/v1/statuses"]
    assert len(calls) == 2 and len({c.headers["idempotency-key"] for c in calls}) == 1
    assert len(receiver.mastodon.created) == 1
    assert publishing.post_send_attempt(send_id=send.pk) is None


def test_the_stale_sweep_requeues_an_abandoned_claim(tenant, receiver):
    post = scheduled(mastodon_channel(receiver))
    publishing.posts_publish_due()
    send = only_send(post)
    with mock.patch.object(publishing, "_finish", died_after_sending), pytest.raises(SystemExit):
        publishing.post_send_attempt(send_id=send.pk)
    assert publishing.sends_requeue_stale() == 0
    assert publishing.sends_requeue_stale(now=timezone.now() + timedelta(minutes=3)) == 1


def test_email_killed_after_handing_over_is_not_sent_again(tenant, mailoutbox):
    consenting("ada@example.org")
    post = scheduled(email_channel())
    publishing.posts_publish_due()
    send = only_send(post)
    with mock.patch.object(publishing, "_finish", died_after_sending), pytest.raises(SystemExit):
        publishing.post_send_attempt(send_id=send.pk)
    PostSend.objects.filter(pk=send.pk).update(claimed_at=timezone.now() - publishing.CLAIM_LEASE)
    result = publishing.post_send_attempt(send_id=send.pk)
    assert result.status == SendStatus.FAILED and "outcome unknown" in result.last_error
    assert len(mailoutbox) == 1


def test_mastodon_answers_are_validated(tenant, receiver):
    receiver.mastodon.answer = b'{"error": "no id here"}'
    post = scheduled(mastodon_channel(receiver))
    publishing.posts_publish_due()
    result = publishing.post_send_attempt(send_id=only_send(post).pk)
    assert result.status == SendStatus.FAILED and "no status id" in result.last_error
    receiver.mastodon.answer = b"<html>maintenance</html>"
    post2 = scheduled(mastodon_channel_named(receiver, "Mastodon 2"))
    publishing.posts_publish_due()
    assert "not JSON" in publishing.post_send_attempt(send_id=only_send(post2).pk).last_error


def mastodon_channel_named(receiver, name):
    return post_services.publishing_channel_create(
        name=name, kind="mastodon", url=receiver.url("/"), access_token="tok-123"
    )


def test_mastodon_outage_then_success(tenant, receiver):
    receiver.mastodon.failures = 2
    post = scheduled(mastodon_channel(receiver))
    publishing.posts_publish_due()
    send = only_send(post)
    statuses = [publishing.post_send_attempt(send_id=send.pk).status for _ in range(3)]
    assert statuses == [SendStatus.RETRYING, SendStatus.RETRYING, SendStatus.DELIVERED]
    assert len(receiver.mastodon.created) == 1


def test_email_goes_to_each_consenting_contact_once_with_an_unsubscribe_link(tenant, mailoutbox):
    ada = consenting("ada@example.org", language="en")
    consenting("bo@example.org", language="de")
    make_contact(email="never@example.org", handles=[])  # no consent: never written to
    post = scheduled(email_channel(), targeting={"language": "en"}, call_to_action="Read the update")
    publishing.posts_publish_due()
    (send,) = PostSend.objects.filter(post=post)
    assert send.contact_id == ada.pk and send.recipient == f"contact:{ada.pk}"
    assert publishing.post_send_attempt(send_id=send.pk).status == SendStatus.DELIVERED
    (mail,) = mailoutbox
    assert mail.to == ["ada@example.org"] and "Read the update" in mail.body
    assert mail.extra_headers["List-Unsubscribe"].startswith("<http") and "/preferences/" in mail.body
    assert mail.extra_headers["Message-ID"] == f"<{send.idempotency_key}@candor>"


def test_a_contact_who_withdraws_after_the_fan_out_receives_nothing(tenant, mailoutbox):
    ada = consenting("ada@example.org")
    bo = consenting("bo@example.org")
    post = scheduled(email_channel())
    publishing.posts_publish_due()
    record(ada, "outreach", action="withdraw")
    sends = {s.contact_id: s for s in PostSend.objects.filter(post=post)}
    # The attempt asks the gate again, even before the withdrawal handler has run.
    assert publishing.post_send_attempt(send_id=sends[ada.pk].pk).status == SendStatus.SKIPPED
    assert publishing.post_send_attempt(send_id=sends[bo.pk].pk).status == SendStatus.DELIVERED
    assert [m.to for m in mailoutbox] == [["bo@example.org"]]
    post.refresh_from_db()
    assert post.status == PostStatus.SENT


def test_the_withdrawal_handler_drops_pending_sends(tenant, mailoutbox):
    ada = consenting("ada@example.org")
    post = scheduled(email_channel())
    publishing.posts_publish_due()
    record(ada, "outreach", action="withdraw")
    dropped = ethics_services.consent_withdrawal_propagate(contact_id=ada.pk, purpose="outreach")
    assert dropped["scheduled-post-sends"] == 1
    assert only_send(post).status == SendStatus.SKIPPED
    post.refresh_from_db()
    assert post.status == PostStatus.SENT and mailoutbox == []


def test_an_internal_address_is_refused_when_saved_and_when_sending(tenant, receiver, settings):
    channel = webhook_channel(receiver)
    post = scheduled(channel)
    publishing.posts_publish_due()
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = []
    result = publishing.post_send_attempt(send_id=only_send(post).pk)
    assert result.status == SendStatus.FAILED and "127.0.0.1" not in result.last_error
    assert [s for s in receiver.seen if s.path == "/hook"] == []
    for url in ("http://127.0.0.1/hook", "http://169.254.169.254/latest", "file:///etc/passwd"):
        with pytest.raises(ValidationError) as error:
            post_services.publishing_channel_create(name=url, kind="webhook", url=url)
        assert "url" in error.value.message_dict


def test_channel_secrets_are_encrypted_at_rest(tenant, receiver):
    from django.db import connection

    mastodon_channel(receiver)
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, access_token FROM personalization_publishingchannel")
        url, token = cursor.fetchone()
    assert "127.0.0.1" not in url and "tok-123" not in token


def test_a_held_post_sends_nothing(tenant, receiver):
    post = scheduled(webhook_channel(receiver))
    publishing.posts_publish_due()
    send = only_send(post)
    post_services.posts_pause(
        target=post_services.PauseTarget(scope="post", post=post), reason="hold", actor=post_services.SYSTEM
    )
    assert publishing.post_send_attempt(send_id=send.pk) is None
    assert ScheduledPost.objects.get(pk=post.pk).status == PostStatus.PAUSED
    assert receiver.seen == []


def test_a_delivery_is_recorded_once_as_an_engagement_event_of_the_audience_channel(tenant, mailoutbox):
    from personalization.models import EngagementEvent
    from personalization.services import channel_create

    audience = channel_create(kind="email", name="Customers list", config={})
    connector = post_services.publishing_channel_create(
        name="Newsletter", kind="email", consent_purpose="outreach", channel=audience
    )
    ada = consenting("ada@example.org")
    post = scheduled(connector, tone="empathetic", call_to_action="Read more")
    publishing.posts_publish_due()
    send = only_send(post)
    publishing.post_send_attempt(send_id=send.pk)
    publishing._delivered_event(PostSend.objects.select_related("post__channel").get(pk=send.pk))  # again
    (event,) = EngagementEvent.objects.filter(channel=audience)
    assert event.contact_id == ada.pk and event.kind == "delivered"
    assert event.external_id == f"send:{send.idempotency_key}"
    assert event.message.key == f"post:{post.pk}" and event.message.tone == "empathetic"
    assert event.message.call_to_action is True
    with pytest.raises(ValidationError) as error:
        post_services.publishing_channel_create(
            name="Second", kind="email", consent_purpose="outreach", channel=audience
        )
    assert "channel" in error.value.message_dict


def test_crisis_mode_pauses_every_post_and_lifting_it_frees_them(tenant, receiver, world):
    from personalization.services import crisis_mode_set

    channel = webhook_channel(receiver)
    due = scheduled(channel)
    future = post_services.scheduled_post_create(
        channel=channel,
        text="Later",
        actor=post_services.SYSTEM,
        scheduled_at=timezone.now() + timedelta(days=1),
    )
    post_services.scheduled_post_approve(post=future, actor=post_services.SYSTEM)
    future = post_services.scheduled_post_schedule(post=future, actor=post_services.SYSTEM)
    crisis_mode_set(on=True, reason="Outage incident #4", actor=world.users["a_admin"])
    assert publishing.posts_publish_due() == 0 and receiver.seen == []
    for post in (due, future):
        post.refresh_from_db()
        assert post.status == PostStatus.PAUSED and post.pause_scope == "tenant"
        assert post.pause_reason == "Crisis mode: Outage incident #4"
        assert post.transitions.last().actor_label == "a-admin@example.com"
    # Scheduled during the crisis: held at once.
    during = scheduled(webhook_channel_named(receiver, "Hook 2"))
    assert during.status == PostStatus.PAUSED
    crisis_mode_set(on=False, reason="Resolved", actor=None)
    due.refresh_from_db()
    future.refresh_from_db()
    assert due.status == PostStatus.NEEDS_RESCHEDULE  # its time passed while held: a person decides
    assert future.status == PostStatus.SCHEDULED
    assert future.transitions.last().actor_label == "crisis mode"


def webhook_channel_named(receiver, name):
    return post_services.publishing_channel_create(
        name=name, kind="webhook", url=receiver.url("/hook"), webhook_secret="s3cret-s3cret-s3cret"
    )


def test_a_persons_sends_are_in_their_export_and_go_with_their_erasure(tenant, mailoutbox):
    ada = consenting("ada@example.org")
    bo = consenting("bo@example.org")
    post = scheduled(email_channel())
    publishing.posts_publish_due()
    for send in PostSend.objects.filter(post=post):
        publishing.post_send_attempt(send_id=send.pk)
    person = ethics_selectors.person_for(contact=ada)
    exported = person_export(person=person)
    assert [(s["post_id"], s["status"]) for s in exported["personalization.post_send"]] == [
        (post.pk, SendStatus.DELIVERED)
    ]
    assert person_erase(person=person)["personalization.post_send"] == 1
    assert list(PostSend.objects.filter(post=post).values_list("contact_id", flat=True)) == [bo.pk]


def test_a_redirect_to_an_internal_address_is_not_followed(tenant, receiver):
    """SSRF through the connector's target: its 302 to the metadata service fails the send and
    nothing is requested there."""
    receiver.routes["/moved"] = lambda h: reply(h, 302, b"", {"Location": "http://169.254.169.254/latest"})
    post = scheduled(webhook_channel(receiver, path="/moved"))
    publishing.posts_publish_due()
    result = publishing.post_send_attempt(send_id=only_send(post).pk)
    assert result.status != SendStatus.DELIVERED and "169.254" not in result.last_error
    assert [s.path for s in receiver.seen] == ["/moved"]
