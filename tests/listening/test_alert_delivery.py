"""Delivering alerts to the outside world, faked by local HTTP servers and Django's locmem outbox:
retry with back-off through a failing receiver, a signature the receiver can verify, Slack's
message shape, email, and SSRF refusal at send time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from listening.connectors import webhook
from listening.models import (
    AlertDelivery,
    AlertKind,
    DeliveryChannel,
    DeliveryStatus,
    Mention,
    Source,
    SourceKind,
)
from listening.services import alert_delivery, alerts
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


@pytest.fixture
def receiver(settings: Any) -> Iterator[LocalServer]:
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    routes = {"/hook": Flaky(1), "/slack": Flaky(0), "/gone": lambda h: send(h, 410, b"gone")}
    with serve(routes) as server:
        settings.LISTENING_FETCH_ALLOWED_PORTS = [server.port]
        yield server


@pytest.fixture
def tenant(world):
    with tenant_context(world.a):
        yield world.a


def fire(**channels: Any) -> tuple[Any, str]:
    created = alerts.alert_rule_create(
        name="Outages", kind=AlertKind.KEYWORD, expression="outage", **channels
    )
    source = Source.objects.create(name="Feed", kind=SourceKind.API)
    mention = Mention.objects.create(
        source=source,
        external_id="1",
        text="Acme outage, everything is down",
        author_handle="dana",
        author_followers=12000,
        posted_at=datetime.now(UTC),
        sentiment="negative",
        enriched_at=datetime.now(UTC),
    )
    (alert,) = alerts.keyword_rules_evaluate(mention_ids=[mention.pk])
    return alert, created.webhook_secret


def test_a_failing_webhook_is_retried_with_backoff_then_delivered_signed(tenant, receiver):
    alert, secret = fire(webhook_url=receiver.url("/hook"))
    delivery = AlertDelivery.objects.get(alert=alert, channel=DeliveryChannel.WEBHOOK)
    assert delivery.status == DeliveryStatus.PENDING and delivery.target.endswith("/…")

    first = alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk)
    assert first.status == DeliveryStatus.RETRYING and first.attempts == 1
    assert "HTTP 500" in first.last_error
    assert 25 <= (first.next_retry_at - datetime.now(UTC)).total_seconds() <= 31

    second = alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk)
    assert second.status == DeliveryStatus.SENT and second.attempts == 2 and second.last_error == ""
    assert alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk) is None  # sent: never again

    seen = [s for s in receiver.seen if s.path == "/hook"]
    assert len(seen) == 2
    assert {s.headers["x-candor-delivery"] for s in seen} == {str(delivery.delivery_id)}
    last = seen[-1]
    # The receiver verifies with the inbound scheme's own function: HMAC over timestamp + raw body.
    webhook.verify(headers=last.headers, body=last.body, secrets=[secret.encode()], now=time.time())
    with pytest.raises(webhook.WebhookRejected):
        webhook.verify(
            headers=last.headers, body=last.body + b" ", secrets=[secret.encode()], now=time.time()
        )
    payload = json.loads(last.body)
    assert payload["event"] == "alert.fired" and payload["alert"]["id"] == alert.pk
    assert payload["alert"]["url"].endswith(f"/listening/alerts/{alert.pk}/")
    assert payload["alert"]["evidence"][0]["reach"] == 12000


def test_retries_stop_after_the_last_attempt(tenant, receiver):
    receiver.routes["/hook"] = Flaky(100)
    alert, _ = fire(webhook_url=receiver.url("/hook"))
    delivery = AlertDelivery.objects.get(alert=alert)
    for _ in range(alert_delivery.MAX_ATTEMPTS):
        result = alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk)
    assert result.status == DeliveryStatus.FAILED and result.attempts == alert_delivery.MAX_ATTEMPTS
    assert alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk) is None
    # A person retries it: one more attempt, which now succeeds.
    receiver.routes["/hook"] = Flaky(0)
    assert alert_delivery.alert_delivery_retry(delivery=result).status == DeliveryStatus.PENDING
    assert alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.SENT


def test_a_client_error_is_not_retried(tenant, receiver):
    alert, _ = fire(webhook_url=receiver.url("/gone"))
    delivery = AlertDelivery.objects.get(alert=alert)
    result = alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk)
    assert result.status == DeliveryStatus.FAILED and "HTTP 410" in result.last_error


def test_slack_gets_text_and_blocks(tenant, receiver):
    alert, _ = fire(slack_url=receiver.url("/slack"))
    delivery = AlertDelivery.objects.get(alert=alert, channel=DeliveryChannel.SLACK)
    assert alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.SENT
    message = json.loads(receiver.seen[-1].body)
    assert "Outages" in message["text"] and alert.why in message["text"]
    kinds = [block["type"] for block in message["blocks"]]
    assert kinds == ["header", "section", "section", "actions"]
    assert "@dana" in message["blocks"][2]["text"]["text"]
    assert message["blocks"][3]["elements"][0]["url"].endswith(f"/listening/alerts/{alert.pk}/")


def test_email_lands_in_the_outbox(tenant, mailoutbox):
    alert, _ = fire(email_to=["comms@example.com", "cto@example.com"])
    delivery = AlertDelivery.objects.get(alert=alert, channel=DeliveryChannel.EMAIL)
    assert delivery.target == "comms@example.com, cto@example.com"
    assert alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.SENT
    (mail,) = mailoutbox
    assert mail.to == ["comms@example.com", "cto@example.com"]
    assert "Outages" in mail.subject and alert.why in mail.body and "@dana" in mail.body
    assert f"/listening/alerts/{alert.pk}/" in mail.body


def test_an_internal_address_is_refused_at_send_time(tenant, receiver, settings):
    alert, _ = fire(webhook_url=receiver.url("/hook"))
    # The address was allowed when the rule was saved; it is checked again when sending (DNS can
    # change, and so can the policy).
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = []
    delivery = AlertDelivery.objects.get(alert=alert)
    result = alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk)
    assert result.status == DeliveryStatus.FAILED and result.attempts == 1
    assert "127.0.0.1" not in result.last_error  # generic: no network mapping through errors
    assert [s for s in receiver.seen if s.path == "/hook"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
    ],
)
def test_internal_webhook_targets_are_refused_when_saved(tenant, url):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        alerts.alert_rule_create(name="x", kind=AlertKind.VOLUME_SPIKE, webhook_url=url)
    assert "webhook_url" in error.value.message_dict


def test_delivery_secrets_are_encrypted_at_rest(tenant, receiver):
    from django.db import connection

    fire(webhook_url=receiver.url("/hook"), slack_url=receiver.url("/slack"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_url, webhook_secret, slack_url FROM listening_alertrule")
        stored = cursor.fetchone()
    assert all(value and "127.0.0.1" not in value and "/hook" not in value for value in stored)


def test_a_redirect_to_an_internal_address_is_not_followed(tenant, receiver):
    """SSRF through the receiver: a 302 to the metadata service is a failed delivery, never a
    request there (deliveries never follow redirects; safe_http refuses them by default)."""
    receiver.routes["/moved"] = lambda h: send(h, 302, b"", {"Location": "http://169.254.169.254/latest"})
    receiver.routes["/inside"] = lambda h: send(h, 200, b"ok")
    alert, _ = fire(webhook_url=receiver.url("/moved"))
    delivery = AlertDelivery.objects.get(alert=alert)
    result = alert_delivery.alert_delivery_attempt(delivery_id=delivery.pk)
    assert result.status != DeliveryStatus.SENT
    assert "169.254" not in result.last_error
    assert [s.path for s in receiver.seen] == ["/moved"]
