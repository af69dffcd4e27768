"""Delivering alerts: email, a signed outbound webhook, and a Slack-compatible incoming webhook.
(In-portal notifications are rows, written when the alert fires.)

Each channel's delivery is a row with its status, attempts, last error and next retry, so people
see what reached whom. An attempt runs in a `publish` worker; a failure that can pass (a timeout,
a 5xx, a 429) is retried with exponential back-off up to MAX_ATTEMPTS, one that cannot (a refused
address, a 4xx) fails at once. A person may retry a failed delivery.

Outbound webhook (for receivers)
--------------------------------
    POST <the rule's webhook URL>
    Content-Type: application/json
    X-Candor-Event: alert.fired
    X-Candor-Timestamp: 1714555800
    X-Candor-Delivery: 7d9f5c1e-...   (the same on every retry of this delivery: de-duplicate on it)
    X-Candor-Signature: v1=<hex HMAC-SHA256>

The signature is the scheme of Candor's inbound webhooks (listening.connectors.webhook): the lower-
case hex HMAC-SHA256, keyed with the rule's webhook secret, of the ASCII timestamp, a full stop and
the raw body bytes. Verify it over the bytes received, in constant time, and refuse timestamps more
than 5 minutes from your clock. Answer 2xx once processed; anything else is retried.

Every URL goes through the SSRF-safe fetcher (listening.connectors.safe_http): private, loopback
and link-local addresses are refused, the connection goes to the address that was checked, and
redirects are not followed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from listening.connectors import safe_http, webhook
from listening.models import Alert, AlertDelivery, AlertRule, DeliveryChannel, DeliveryStatus
from tenants.services import tenant_url

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_FIRST_S = 30
BACKOFF_MAX_S = 3600
SEND_TIMEOUT_S = 10.0
# A queued attempt whose message was lost (broker restart) is queued again after this long.
STALE_AFTER = timedelta(minutes=2)
EVIDENCE_IN_MESSAGE = 3


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _mask(url: str) -> str:
    """What people see of a URL that is a credential (Slack's carry the token in the path)."""
    head, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{head}://{host}/…" if rest.count("/") else url


def deliveries_create(*, alert: Alert, rule: AlertRule) -> list[AlertDelivery]:
    """One delivery per configured channel, queued after the alert's transaction commits."""
    targets = {
        DeliveryChannel.EMAIL: ", ".join(rule.email_to),
        DeliveryChannel.WEBHOOK: _mask(rule.webhook_url) if rule.webhook_url else "",
        DeliveryChannel.SLACK: _mask(rule.slack_url) if rule.slack_url else "",
    }
    created = AlertDelivery.objects.bulk_create(
        [
            AlertDelivery(alert=alert, channel=channel, target=target[:300], delivery_id=uuid.uuid4())
            for channel, target in targets.items()
            if target
        ]
    )
    for delivery in created:
        _queue(delivery.pk)
    return created


def _queue(delivery_id: int, countdown: float = 0) -> None:
    from listening.tasks import deliver_alert

    transaction.on_commit(lambda: deliver_alert.apply_async((delivery_id,), countdown=countdown))


def alert_delivery_attempt(*, delivery_id: int) -> AlertDelivery | None:
    """One attempt. The row lock is held only while the attempt is counted, not while sending: a
    slow receiver must not hold a transaction open."""
    with transaction.atomic():
        delivery = (
            AlertDelivery.objects.select_for_update(skip_locked=True)
            .select_related("alert__rule")
            .filter(pk=delivery_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING])
            .first()
        )
        if delivery is None:
            return None  # sent, given up, or being attempted by another worker right now
        delivery.attempts += 1
        delivery.next_retry_at = None
        delivery.save(update_fields=["attempts", "next_retry_at"])
    try:
        _send(delivery)
    except DeliveryFailed as error:
        return _failed(delivery, str(error), retryable=error.retryable)
    delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, timezone.now(), ""
    delivery.save(update_fields=["status", "sent_at", "last_error"])
    return delivery


def _failed(delivery: AlertDelivery, message: str, *, retryable: bool) -> AlertDelivery:
    delivery.last_error = message[:2000]
    if retryable and delivery.attempts < MAX_ATTEMPTS:
        delay = min(BACKOFF_FIRST_S * 2 ** (delivery.attempts - 1), BACKOFF_MAX_S)
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_retry_at = timezone.now() + timedelta(seconds=delay)
        with transaction.atomic():
            delivery.save(update_fields=["status", "last_error", "next_retry_at"])
            _queue(delivery.pk, countdown=delay)
    else:
        delivery.status = DeliveryStatus.FAILED
        delivery.save(update_fields=["status", "last_error"])
    logger.warning("alert delivery %s (%s) failed: %s", delivery.pk, delivery.channel, message)
    return delivery


def alert_delivery_retry(*, delivery: AlertDelivery) -> AlertDelivery:
    """A person asks for another attempt now (a failed delivery, or one waiting for its retry)."""
    with transaction.atomic():
        AlertDelivery.objects.filter(pk=delivery.pk).exclude(status=DeliveryStatus.SENT).update(
            status=DeliveryStatus.PENDING, next_retry_at=None
        )
        _queue(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def deliveries_requeue_stale(*, now: datetime) -> int:
    """Queue again the attempts whose message never ran (lost with a broker restart)."""
    stale = AlertDelivery.objects.filter(
        Q(status=DeliveryStatus.PENDING, created_at__lt=now - STALE_AFTER, attempts=0)
        | Q(status=DeliveryStatus.RETRYING, next_retry_at__lt=now - STALE_AFTER)
    ).values_list("pk", flat=True)[:500]
    ids = list(stale)
    for delivery_id in ids:
        _queue(delivery_id)
    return len(ids)


# Messages --------------------------------------------------------------------------------------------


def alert_link(alert: Alert) -> str:
    return tenant_url(connection.tenant, f"/listening/alerts/{alert.pk}/")  # type: ignore[attr-defined]


def alert_payload(alert: Alert) -> dict[str, Any]:
    from listening.selectors import alert_evidence_top

    return {
        "event": "alert.fired",
        "tenant": connection.tenant.slug,  # type: ignore[attr-defined]
        "alert": {
            "id": alert.pk,
            "rule": {"id": alert.rule_id, "name": alert.rule.name, "kind": alert.kind},
            "fired_at": alert.fired_at.isoformat(),
            "window_start": alert.window_start.isoformat(),
            "window_end": alert.window_end.isoformat(),
            "expected": alert.expected,
            "observed": alert.observed,
            "why": alert.why,
            "mention_count": alert.mention_count,
            "url": alert_link(alert),
            "evidence": [
                {
                    "id": e.mention_id,
                    "text": e.mention.text[:500],
                    "author": e.mention.author_handle,
                    "reach": e.reach,
                    "url": e.mention.url,
                    "posted_at": e.mention.posted_at.isoformat(),
                }
                for e in alert_evidence_top(alert=alert, limit=EVIDENCE_IN_MESSAGE)
            ],
        },
    }


def _title(alert: Alert) -> str:
    return f"Candor alert: {alert.rule.name} ({alert.get_kind_display()})"


def _send(delivery: AlertDelivery) -> None:
    alert, rule = delivery.alert, delivery.alert.rule
    if delivery.channel == DeliveryChannel.EMAIL:
        _send_email(alert, rule)
    elif delivery.channel == DeliveryChannel.WEBHOOK:
        _send_webhook(alert, rule, delivery)
    else:
        _send_slack(alert, rule)


def _send_email(alert: Alert, rule: AlertRule) -> None:
    if not rule.email_to:
        raise DeliveryFailed("the rule has no email addresses any more", retryable=False)
    payload = alert_payload(alert)["alert"]
    lines = [alert.why, "", f"Open it: {payload['url']}", ""]
    for item in payload["evidence"]:
        lines.append(f"- @{item['author']} (reach {item['reach']}): {item['text'][:200]}")
    try:
        send_mail(_title(alert), "\n".join(lines), settings.DEFAULT_FROM_EMAIL, list(rule.email_to))
    except OSError as error:  # SMTP down or refusing: worth another try
        raise DeliveryFailed(f"the mail server failed: {error}", retryable=True) from error


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    if not url:
        raise DeliveryFailed("the rule has no URL for this channel any more", retryable=False)
    try:
        response = safe_http.post(
            url, body=body, headers=headers, timeout=SEND_TIMEOUT_S, max_bytes=64 * 1024
        )
    except safe_http.FetchError as error:
        raise DeliveryFailed(str(error), retryable=error.retryable) from error
    if not 200 <= response.status < 300:
        failure = safe_http.UpstreamStatusError(response.status)
        raise DeliveryFailed(str(failure), retryable=failure.retryable)


def _send_webhook(alert: Alert, rule: AlertRule, delivery: AlertDelivery) -> None:
    body = json.dumps(alert_payload(alert), separators=(",", ":")).encode()
    timestamp = int(time.time())
    _post(
        rule.webhook_url,
        body,
        {
            "Content-Type": "application/json",
            "X-Candor-Event": "alert.fired",
            webhook.TIMESTAMP_HEADER: str(timestamp),
            webhook.DELIVERY_HEADER: str(delivery.delivery_id),
            webhook.SIGNATURE_HEADER: webhook.sign(rule.webhook_secret.encode(), timestamp, body),
        },
    )


def slack_message(alert: Alert) -> dict[str, Any]:
    """Slack's incoming-webhook format (text as the notification fallback, blocks for the
    message); Mattermost and Rocket.Chat read the same."""
    payload = alert_payload(alert)["alert"]
    evidence = "\n".join(
        f"• *@{item['author']}* (reach {item['reach']}): {item['text'][:200]}" for item in payload["evidence"]
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _title(alert)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.why}},
    ]
    if evidence:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": evidence[:2900]}})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in Candor"},
                    "url": payload["url"],
                }
            ],
        }
    )
    return {"text": f"{_title(alert)}: {alert.why} {payload['url']}", "blocks": blocks}


def _send_slack(alert: Alert, rule: AlertRule) -> None:
    body = json.dumps(slack_message(alert)).encode()
    _post(rule.slack_url, body, {"Content-Type": "application/json"})
