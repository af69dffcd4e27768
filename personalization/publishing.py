"""Publishing scheduled posts, exactly once in effect, through three connectors: a signed outbound
webhook, email through Django's mail backend (one message per consenting contact), and Mastodon.

How a post goes out
-------------------
1. Every minute, per tenant, `posts_publish_due` takes the due scheduled posts (row-locked, skipping
   locked ones), moves them to `sending` and creates their `PostSend` rows: one per consenting
   contact for email (the consent gate at this moment, narrowed to the members of the post's
   segment and to its targeting, the campaign's holdout left out), one for the channel otherwise.
   The unique (post, recipient) makes this safe to run twice. After commit, one `publish`-queue
   task per send.
2. `post_send_attempt` claims the send in a short transaction (status `sending`, `claimed_at`,
   attempts + 1), commits, and only then calls the outside world; the outcome is written after.
   Email sends check consent again at this point: a withdrawal between the fan-out and the send wins.
3. A transient failure (timeout, 5xx, 429, SMTP down) is retried with exponential back-off up to
   MAX_ATTEMPTS; a permanent one (4xx, a refused address, a bad answer) fails at once. When no send
   of a post is left open, the post becomes `sent` (something was delivered) or `failed`.

Exactly once in effect, and the window
--------------------------------------
A send that is `delivered` is never attempted again. The window is between the outside call and the
write of its outcome: a worker that dies there leaves the send `sending`, and the task is
redelivered (acks_late). A redelivered attempt finds the claim and, once the claim is older than
CLAIM_LEASE (so it never races a live attempt), acts by connector:
- Mastodon and webhook: the attempt is repeated with the SAME key (`Idempotency-Key`, which
  Mastodon honours for an hour, and `X-Candor-Delivery`, which our receivers de-duplicate on), so
  the receiver returns the status it created the first time instead of creating another.
- Email: SMTP has no idempotency key, so a claim whose outcome is unknown is not sent again; the
  send is marked failed with "outcome unknown" for a person to check (at most once: a duplicate
  message to a customer is worse than one that a person re-sends knowingly).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ethics.selectors import consented_contacts
from listening.connectors import safe_http, webhook
from personalization.models import EngagementEvent, EngagementKind, Message, SegmentMembership
from personalization.post_models import (
    CampaignGroup,
    CampaignMember,
    ConnectorKind,
    PostSend,
    PostStatus,
    PublishingState,
    ScheduledPost,
    SendStatus,
)
from personalization.post_services import SYSTEM, Actor, _transition
from personalization.selectors import ALL_CONTACTS, segment_by_key
from personalization.services import message_upsert
from tenants.http import ClientInfo
from tenants.models import AuditAction, User
from tenants.services import audit_record, tenant_url

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_FIRST_S = 30
BACKOFF_MAX_S = 3600
SEND_TIMEOUT_S = 10.0
# A claim older than this belongs to a worker that died (an attempt takes at most SEND_TIMEOUT_S).
CLAIM_LEASE = timedelta(minutes=2)
# A queued send whose message was lost (broker restart) is queued again after this long.
STALE_AFTER = timedelta(minutes=2)
DUE_BATCH = 200
OPEN = (SendStatus.PENDING, SendStatus.RETRYING, SendStatus.SENDING)


class SendFailed(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _queue(send_id: int, countdown: float = 0) -> None:
    from personalization.tasks import publish_send

    transaction.on_commit(lambda: publish_send.apply_async((send_id,), countdown=countdown))


def _recipients(post: ScheduledPost) -> list[PostSend]:
    if post.channel.kind != ConnectorKind.EMAIL:
        return [PostSend(post=post, recipient="channel")]
    contacts = consented_contacts(purpose=post.channel.consent_purpose).exclude(email="")
    contacts = contacts.filter(**{field: value for field, value in post.targeting.items()})
    if post.segment_key not in ("", ALL_CONTACTS):
        # The segment as it is now (a retired or deleted one reaches nobody): its members, still
        # within the gate's queryset, so a withdrawn member gets nothing.
        segment = segment_by_key(key=post.segment_key)
        members = (
            SegmentMembership.objects.filter(segment=segment) if segment else SegmentMembership.objects.none()
        )
        contacts = contacts.filter(pk__in=members.values("contact_id"))
    if post.campaign_id:
        holdout = CampaignMember.objects.filter(campaign_id=post.campaign_id, group=CampaignGroup.HOLDOUT)
        contacts = contacts.exclude(pk__in=holdout.values("contact_id"))
    return [
        PostSend(post=post, recipient=f"contact:{contact_id}", contact_id=contact_id)
        for contact_id in contacts.values_list("pk", flat=True)
    ]


def posts_publish_due(*, now: datetime | None = None) -> int:
    """Move due scheduled posts to `sending` and queue their sends. Returns the posts taken."""
    moment = now or timezone.now()
    with transaction.atomic():
        due = list(
            ScheduledPost.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel")
            .filter(status=PostStatus.SCHEDULED, scheduled_at__lte=moment)
            .order_by("scheduled_at", "id")[:DUE_BATCH]
        )
        for post in due:
            PostSend.objects.bulk_create(_recipients(post), ignore_conflicts=True, batch_size=2000)
            _transition(post, PostStatus.SENDING, actor=SYSTEM, reason="due")
            post.save(update_fields=["status", "updated_at"])
            for send_id in post.sends.filter(
                status__in=(SendStatus.PENDING, SendStatus.RETRYING)
            ).values_list("pk", flat=True):
                _queue(send_id)
            _post_settle(post)
    return len(due)


def sends_requeue_stale(*, now: datetime | None = None) -> int:
    """Queue again sends whose message was lost, and claims whose worker died (see the module)."""
    moment = now or timezone.now()
    stale = (
        PostSend.objects.filter(post__status=PostStatus.SENDING)
        .filter(
            Q(status=SendStatus.PENDING, created_at__lt=moment - STALE_AFTER, attempts=0)
            | Q(status=SendStatus.RETRYING, next_retry_at__lt=moment - STALE_AFTER)
            | Q(status=SendStatus.SENDING, claimed_at__lt=moment - CLAIM_LEASE)
        )
        .values_list("pk", flat=True)[:500]
    )
    ids = list(stale)
    with transaction.atomic():
        for send_id in ids:
            _queue(send_id)
    return len(ids)


def post_send_attempt(*, send_id: int) -> PostSend | None:
    """One attempt of one send (see the module for the claim and its window). Returns None when
    there was nothing to do: delivered or given up already, its post held, or another worker's
    attempt in flight."""
    with transaction.atomic():
        send = (
            PostSend.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("post__channel")
            .filter(pk=send_id, status__in=OPEN, post__status=PostStatus.SENDING)
            .first()
        )
        if send is None:
            return None
        now = timezone.now()
        if send.status == SendStatus.SENDING:
            if send.claimed_at and now - send.claimed_at < CLAIM_LEASE:
                return None  # a live attempt holds it
            if send.post.channel.kind == ConnectorKind.EMAIL:
                return _finish(
                    send,
                    SendStatus.FAILED,
                    "outcome unknown: the worker stopped after handing the message to the mail server; "
                    "not sent again (check the mailbox, then reschedule if it did not arrive)",
                )
        if send.contact_id is not None and not _still_consented(send, send.contact_id):
            return _finish(send, SendStatus.SKIPPED, "consent withdrawn before sending")
        send.status, send.claimed_at, send.next_retry_at = SendStatus.SENDING, now, None
        send.attempts += 1
        send.save(update_fields=["status", "claimed_at", "next_retry_at", "attempts"])
    try:
        external_id = _send(send)
    except SendFailed as error:
        return _failed(send, str(error), retryable=error.retryable)
    send.external_id = external_id[:200]
    return _finish(send, SendStatus.DELIVERED, "")


def _still_consented(send: PostSend, contact_id: int) -> bool:
    purpose = send.post.channel.consent_purpose
    return consented_contacts(purpose=purpose).filter(pk=contact_id).exists()


def _finish(send: PostSend, status: str, error: str) -> PostSend:
    with transaction.atomic():
        send.status, send.last_error = status, error[:2000]
        if status == SendStatus.DELIVERED:
            send.sent_at = timezone.now()
            _delivered_event(send)
        send.save(update_fields=["status", "last_error", "sent_at", "external_id"])
        _post_settle(send.post)
    return send


def _post_message(post: ScheduledPost) -> Message:
    return message_upsert(
        key=f"post:{post.pk}",
        text=post.text,
        tone=post.tone or "neutral",
        media_type=post.media_type,
        call_to_action=bool(post.call_to_action),
    )


def _delivered_event(send: PostSend) -> None:
    """Every delivery is an engagement event of the connector's audience channel, for the post as a
    message: to a contact (email), or to the channel itself (webhook, status page, Mastodon: no
    contact). What the engagement model and the uplift report learn from. Keyed by the send's
    idempotency key, so it is stored once however often this runs."""
    post = send.post
    EngagementEvent.objects.bulk_create(
        [
            EngagementEvent(
                channel_id=post.channel.channel_id,
                contact_id=send.contact_id,
                message=_post_message(post),
                kind=EngagementKind.DELIVERED,
                external_id=f"send:{send.idempotency_key}",
                occurred_at=send.sent_at or timezone.now(),
            )
        ],
        ignore_conflicts=True,
    )


def _failed(send: PostSend, message: str, *, retryable: bool) -> PostSend:
    logger.warning("post send %s failed (attempt %s): %s", send.pk, send.attempts, message)
    if retryable and send.attempts < MAX_ATTEMPTS:
        delay = min(BACKOFF_FIRST_S * 2 ** (send.attempts - 1), BACKOFF_MAX_S)
        with transaction.atomic():
            send.status, send.last_error = SendStatus.RETRYING, message[:2000]
            send.next_retry_at = timezone.now() + timedelta(seconds=delay)
            send.save(update_fields=["status", "last_error", "next_retry_at"])
            _queue(send.pk, countdown=delay)
        return send
    return _finish(send, SendStatus.FAILED, message)


def _post_settle(post: ScheduledPost) -> None:
    """Close a sending post once none of its sends is open. Called inside the caller's transaction."""
    locked = ScheduledPost.objects.select_for_update().filter(pk=post.pk, status=PostStatus.SENDING).first()
    if locked is None or locked.sends.filter(status__in=OPEN).exists():
        return
    delivered = locked.sends.filter(status=SendStatus.DELIVERED).count()
    failed = locked.sends.filter(status=SendStatus.FAILED).count()
    if not locked.sends.exists():
        # Nobody to send to (no consenting contact matches): a person should know, not a silent "sent".
        _transition(
            locked, PostStatus.FAILED, actor=SYSTEM, reason="no recipient: no consenting contact matches"
        )
    elif delivered or not failed:
        _transition(locked, PostStatus.SENT, actor=SYSTEM, reason=f"{delivered} delivered, {failed} failed")
    else:
        _transition(locked, PostStatus.FAILED, actor=SYSTEM, reason=f"all {failed} sends failed")
    locked.save(update_fields=["status", "updated_at"])


def post_sends_retry(
    *,
    post: ScheduledPost,
    user: User | None,
    send_ids: list[int] | None = None,
    client: ClientInfo | None = None,
) -> list[PostSend]:
    """A person asks for another attempt of a post's failed sends (all of them, or those named),
    including an email whose outcome was unknown (the person checked the mailbox). The post goes
    back to `sending`; nothing is retried while the post, its channel or the tenant is paused.
    Recorded in the post's history and in the audit log."""
    actor = Actor.of(user)
    with transaction.atomic():
        locked = ScheduledPost.objects.select_for_update().select_related("channel").get(pk=post.pk)
        if locked.status not in (PostStatus.SENDING, PostStatus.SENT, PostStatus.FAILED):
            raise ValidationError(
                {"status": f"A {locked.get_status_display().lower()} post has no send to retry."}
            )
        state = PublishingState.objects.filter(singleton=True, is_paused=True).first()
        if state is not None or locked.channel.is_paused:
            raise ValidationError({"status": "Publishing is paused: resume it before retrying a send."})
        failed = PostSend.objects.select_for_update().filter(post=locked, status=SendStatus.FAILED)
        if send_ids is not None:
            failed = failed.filter(pk__in=send_ids)
            missing = sorted(set(send_ids) - set(failed.values_list("pk", flat=True)))
            if missing:
                raise ValidationError(
                    {"sends": f"Not failed sends of this post: {', '.join(map(str, missing[:20]))}."}
                )
        sends = list(failed.order_by("id"))
        if not sends:
            raise ValidationError({"sends": "This post has no failed send to retry."})
        reason = f"{len(sends)} failed send{'s' if len(sends) != 1 else ''} retried"
        if locked.status != PostStatus.SENDING:
            _transition(locked, PostStatus.SENDING, actor=actor, reason=reason)
            locked.save(update_fields=["status", "updated_at"])
        ids = [send.pk for send in sends]
        PostSend.objects.filter(pk__in=ids).update(
            status=SendStatus.PENDING, next_retry_at=None, claimed_at=None
        )
        for send_id in ids:
            _queue(send_id)
        audit_record(
            action=AuditAction.POST_SENDS_RETRIED,
            actor=user,
            actor_label=actor.label,
            tenant=connection.tenant,  # type: ignore[attr-defined]
            target=f"post {locked.pk}",
            client=client,
            details={"post": locked.pk, "sends": ids[:1000], "count": len(ids)},
        )
    return list(PostSend.objects.filter(pk__in=ids).order_by("id"))


def pending_sends_drop_withdrawn(contact_id: int, purpose: str) -> int:
    """Withdrawal handler (ethics.withdrawal): a withdrawn contact leaves pending email sends of
    channels under that purpose. (The attempt checks the gate again, so this only tidies the list.)"""
    with transaction.atomic():
        dropped = PostSend.objects.filter(
            contact_id=contact_id,
            status__in=(SendStatus.PENDING, SendStatus.RETRYING),
            post__channel__consent_purpose=purpose,
        ).update(status=SendStatus.SKIPPED, last_error="consent withdrawn before sending")
        for post in ScheduledPost.objects.filter(status=PostStatus.SENDING, sends__contact_id=contact_id):
            _post_settle(post)
    return dropped


# Engagement counted back on Mastodon -------------------------------------------------------------------

# How long after its delivery a status's favourites, boosts and replies are still fetched (hourly).
METRICS_WINDOW = timedelta(days=3)
MASTODON_COUNTS = (
    ("favourites_count", EngagementKind.LIKED),
    ("reblogs_count", EngagementKind.SHARED),
    ("replies_count", EngagementKind.REPLIED),
)
# A count above this is not believed (and would mean as many rows): the fetch fails instead.
MAX_COUNT = 1_000_000


class MetricsUnavailable(Exception):
    pass


def mastodon_status_url(instance_url: str, status_id: str) -> str:
    parts = urlsplit(instance_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/api/v1/statuses/{quote(status_id, safe='')}", "", ""))


def _mastodon_counts(send: PostSend) -> dict[str, int] | None:
    """GET /api/v1/statuses/:id through the connector: its counts, or None when the status is gone."""
    channel = send.post.channel
    try:
        response = safe_http.fetch(
            mastodon_status_url(channel.url, send.external_id),
            headers={"Authorization": f"Bearer {channel.access_token}", "Accept": "application/json"},
            timeout=SEND_TIMEOUT_S,
            max_bytes=256 * 1024,
            max_redirects=0,
        )
    except safe_http.FetchError as error:
        raise MetricsUnavailable(str(error)) from error
    if response.status in (404, 410):
        return None
    if not 200 <= response.status < 300:
        raise MetricsUnavailable(str(safe_http.UpstreamStatusError(response.status)))
    try:
        status = json.loads(response.body)
    except ValueError as error:
        raise MetricsUnavailable("Mastodon answered something that is not JSON") from error
    if not isinstance(status, dict) or status.get("id") != send.external_id:
        raise MetricsUnavailable("Mastodon's answer is not the status that was posted")
    counts: dict[str, int] = {}
    for field, kind in MASTODON_COUNTS:
        value = status.get(field)
        # bool is an int in Python; JSON true is not a count.
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
            raise MetricsUnavailable(f"Mastodon's {field} is not a count")
        counts[str(kind)] = value
    return counts


def post_metrics_record(*, send: PostSend, counts: dict[str, int], at: datetime | None = None) -> int:
    """Record a public post's counts as channel engagement events: the n-th favourite, boost or
    reply is the event keyed (send, kind, n), so fetching the same counts again stores nothing, and
    a grown count stores only the new ones. A count that shrinks (an unfavourite) removes nothing:
    the engagement happened. Returns the events stored."""
    moment = at or timezone.now()
    post = send.post
    message = Message.objects.filter(key=f"post:{post.pk}").first() or _post_message(post)
    stored = 0
    with transaction.atomic():
        for kind, count in counts.items():
            prefix = f"metric:{send.idempotency_key}:{kind}:"
            known = EngagementEvent.objects.filter(
                channel_id=post.channel.channel_id, external_id__startswith=prefix
            ).count()
            created = EngagementEvent.objects.bulk_create(
                [
                    EngagementEvent(
                        channel_id=post.channel.channel_id,
                        contact=None,
                        message=message,
                        kind=kind,
                        external_id=f"{prefix}{n}",
                        occurred_at=moment,
                    )
                    for n in range(known + 1, count + 1)
                ],
                ignore_conflicts=True,
                batch_size=2000,
            )
            stored += len(created)
    return stored


def post_metrics_fetch(*, now: datetime | None = None) -> int:
    """Fetch the counts of the Mastodon statuses delivered in the last METRICS_WINDOW and record
    them (hourly, per tenant). One status's failure is logged and does not stop the others.
    Returns the events stored."""
    moment = now or timezone.now()
    sends = (
        PostSend.objects.select_related("post__channel")
        .filter(
            status=SendStatus.DELIVERED,
            post__channel__kind=ConnectorKind.MASTODON,
            sent_at__gte=moment - METRICS_WINDOW,
        )
        .exclude(external_id="")
        .order_by("sent_at", "id")
    )
    stored = 0
    for send in sends[:DUE_BATCH]:
        try:
            counts = _mastodon_counts(send)
        except MetricsUnavailable as error:
            logger.warning("counts of post send %s unavailable: %s", send.pk, error)
            continue
        if counts is not None:
            stored += post_metrics_record(send=send, counts=counts, at=moment)
    return stored


# Connectors ---------------------------------------------------------------------------------------------


def _send(send: PostSend) -> str:
    kind = send.post.channel.kind
    if kind == ConnectorKind.WEBHOOK:
        return _send_webhook(send)
    if kind == ConnectorKind.MASTODON:
        return _send_mastodon(send)
    return _send_email(send)


def post_payload(post: ScheduledPost) -> dict[str, Any]:
    return {
        "event": "post.published",
        "tenant": connection.tenant.slug,  # type: ignore[attr-defined]
        "post": {
            "id": post.pk,
            "channel": post.channel.name,
            "text": post.text,
            "variant": post.variant,
            "media_type": post.media_type,
            "tone": post.tone,
            "call_to_action": post.call_to_action,
            "segment": post.segment_key,
            "scheduled_at": post.scheduled_at.isoformat() if post.scheduled_at else None,
        },
    }


def _post(url: str, body: bytes, headers: dict[str, str]) -> safe_http.Response:
    try:
        response = safe_http.post(
            url, body=body, headers=headers, timeout=SEND_TIMEOUT_S, max_bytes=256 * 1024
        )
    except safe_http.FetchError as error:
        raise SendFailed(str(error), retryable=error.retryable) from error
    if not 200 <= response.status < 300:
        failure = safe_http.UpstreamStatusError(response.status)
        raise SendFailed(str(failure), retryable=failure.retryable)
    return response


def _send_webhook(send: PostSend) -> str:
    channel = send.post.channel
    body = json.dumps(post_payload(send.post), separators=(",", ":")).encode()
    timestamp = int(time.time())
    _post(
        channel.url,
        body,
        {
            "Content-Type": "application/json",
            "X-Candor-Event": "post.published",
            webhook.TIMESTAMP_HEADER: str(timestamp),
            webhook.DELIVERY_HEADER: str(send.idempotency_key),
            webhook.SIGNATURE_HEADER: webhook.sign(channel.webhook_secret.encode(), timestamp, body),
        },
    )
    return ""


def mastodon_statuses_url(instance_url: str) -> str:
    parts = urlsplit(instance_url)
    return urlunsplit((parts.scheme, parts.netloc, "/api/v1/statuses", "", ""))


def _send_mastodon(send: PostSend) -> str:
    """POST /api/v1/statuses; the answer must be a Status whose `id` is a string (Mastodon's API)."""
    channel, post = send.post.channel, send.post
    text = f"{post.text}\n\n{post.call_to_action}".strip() if post.call_to_action else post.text
    body = json.dumps({"status": text, "visibility": "public"}).encode()
    response = _post(
        mastodon_statuses_url(channel.url),
        body,
        {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {channel.access_token}",
            "Idempotency-Key": str(send.idempotency_key),
        },
    )
    try:
        status = json.loads(response.body)
    except ValueError as error:
        raise SendFailed("Mastodon answered something that is not JSON", retryable=False) from error
    status_id = status.get("id") if isinstance(status, dict) else None
    if not isinstance(status_id, str) or not status_id or len(status_id) > 200:
        raise SendFailed("Mastodon's answer has no status id", retryable=False)
    return status_id


def _send_email(send: PostSend) -> str:
    from ethics.services import preference_token

    post = send.post
    if send.contact_id is None:
        raise SendFailed("an email send needs a contact", retryable=False)
    contact = consented_contacts(purpose=post.channel.consent_purpose).filter(pk=send.contact_id).first()
    if contact is None or not contact.email:
        raise SendFailed("the contact has no email address any more", retryable=False)
    preferences = tenant_url(connection.tenant, f"/preferences/{preference_token(contact=contact)}/")  # type: ignore[attr-defined]
    lines = [post.text]
    if post.call_to_action:
        lines += ["", post.call_to_action]
    lines += ["", f"Your preferences, or unsubscribe: {preferences}"]
    message = EmailMessage(
        subject=post.text.splitlines()[0][:120],
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[contact.email],
        headers={
            "List-Unsubscribe": f"<{preferences}>",
            "Message-ID": f"<{send.idempotency_key}@candor>",
        },
    )
    try:
        message.send()
    except OSError as error:  # SMTP down or refusing: worth another try
        raise SendFailed(f"the mail server failed: {error}", retryable=True) from error
    return ""
