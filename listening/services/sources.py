"""Sources: creating and configuring them, signed webhooks, and polling feeds and social networks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from listening.connectors import mastodon, rss, safe_http, webhook
from listening.connectors.base import ConnectorError
from listening.connectors.items import ItemError
from listening.models import POLLED_KINDS, Source, SourceKind, WebhookDelivery
from listening.services.ingest import IngestResult, mention_ingest

logger = logging.getLogger(__name__)

SECRET_ROTATION_GRACE = timedelta(hours=24)
MAX_BACKOFF = timedelta(hours=6)


def _validate_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config a kind needs, checked now (including the SSRF rules for URLs) so a bad source
    fails when it is written, not silently at its first poll."""
    if kind == SourceKind.RSS:
        url = str(config.get("url", "")).strip()
        if not url:
            raise ValidationError({"config": "An RSS or Atom source needs a 'url'."})
        try:
            safe_http.check_url(url)
        except ConnectorError as error:
            raise ValidationError({"config": f"url: {error}"}) from error
        return {"url": url}
    if kind == SourceKind.MASTODON:
        instance = str(config.get("instance", "")).strip().lower().removeprefix("https://").rstrip("/")
        tag = str(config.get("tag", "")).strip().lstrip("#")
        account_id = str(config.get("account_id", "")).strip()
        if not instance or bool(tag) == bool(account_id):
            raise ValidationError(
                {"config": "A Mastodon source needs an 'instance' and either a 'tag' or an 'account_id'."}
            )
        try:
            safe_http.check_url(f"https://{instance}/")
        except ConnectorError as error:
            raise ValidationError({"config": f"instance: {error}"}) from error
        return {"instance": instance, **({"tag": tag} if tag else {"account_id": account_id})}
    return {}


@dataclass(frozen=True)
class CreatedSource:
    source: Source
    secret: str  # the webhook signing secret, shown this once ("" for other kinds)


def source_create(
    *, name: str, kind: str, config: Mapping[str, Any] | None = None, poll_interval_s: int = 300
) -> CreatedSource:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A name is required."})
    if kind not in SourceKind.values:
        raise ValidationError({"kind": f"Kind must be one of: {', '.join(SourceKind.values)}."})
    if not 60 <= poll_interval_s <= 86_400:
        raise ValidationError({"poll_interval_s": "Poll between every minute and once a day (60-86400 s)."})
    clean = _validate_config(kind, config or {})
    secret = secrets.token_urlsafe(32) if kind == SourceKind.WEBHOOK else ""
    try:
        with transaction.atomic():
            source = Source.objects.create(
                name=name, kind=kind, config=clean, secret=secret, poll_interval_s=poll_interval_s
            )
    except IntegrityError as error:
        raise ValidationError({"name": f"A source named '{name}' exists already."}) from error
    return CreatedSource(source=source, secret=secret)


def source_update(
    *,
    source: Source,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    is_active: bool | None = None,
    poll_interval_s: int | None = None,
) -> Source:
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "A name is required."})
        if Source.objects.filter(name=name).exclude(pk=source.pk).exists():
            raise ValidationError({"name": f"A source named '{name}' exists already."})
        source.name = name
    if config is not None:
        source.config = _validate_config(source.kind, config)
        source.cursor = source.etag = source.last_modified = ""  # a new place to read from
    if is_active is not None:
        source.is_active = is_active
        if is_active:
            source.consecutive_errors = 0
    if poll_interval_s is not None:
        if not 60 <= poll_interval_s <= 86_400:
            raise ValidationError(
                {"poll_interval_s": "Poll between every minute and once a day (60-86400 s)."}
            )
        source.poll_interval_s = poll_interval_s
    source.save()
    return source


def source_rotate_secret(*, source: Source) -> str:
    """A new webhook secret; the old one keeps working for 24 hours so senders can switch."""
    if source.kind != SourceKind.WEBHOOK:
        raise ValidationError({"kind": "Only webhook sources have a signing secret."})
    new = secrets.token_urlsafe(32)
    with transaction.atomic():
        source = Source.objects.select_for_update().get(pk=source.pk)
        source.previous_secret = source.secret
        source.previous_secret_expires_at = timezone.now() + SECRET_ROTATION_GRACE
        source.secret = new
        source.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return new


@dataclass(frozen=True)
class WebhookOutcome:
    result: IngestResult
    errors: list[ItemError]
    replayed: bool


def webhook_receive(*, source: Source, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
    """Verify, parse and store one signed delivery. Answered only after the mentions and the
    delivery id are committed; the same delivery again is acknowledged and not stored twice."""
    if source.kind != SourceKind.WEBHOOK or not source.is_active:
        raise webhook.WebhookRejected("inactive_source", "This source does not accept webhooks.")
    keys = [source.secret.encode()]
    if (
        source.previous_secret
        and source.previous_secret_expires_at
        and source.previous_secret_expires_at > timezone.now()
    ):
        keys.append(source.previous_secret.encode())
    webhook.verify(headers=headers, body=body, secrets=keys, now=timezone.now().timestamp())
    delivery_id = webhook.parse_delivery_id(headers)
    mentions, errors = webhook.parse_payload(body)
    with transaction.atomic():
        _, created = WebhookDelivery.objects.get_or_create(source=source, delivery_id=delivery_id)
        if not created:
            return WebhookOutcome(result=IngestResult(0, len(mentions), []), errors=[], replayed=True)
        result = mention_ingest(source=source, items=mentions)
        WebhookDelivery.objects.filter(source=source, delivery_id=delivery_id).update(stored=result.stored)
    return WebhookOutcome(result=result, errors=errors, replayed=False)


def sources_due() -> list[int]:
    """Active polled sources whose next poll time has come (with backoff after errors)."""
    now = timezone.now()
    due = []
    for source in Source.objects.filter(is_active=True, kind__in=POLLED_KINDS):
        wait = timedelta(seconds=source.poll_interval_s) * (2 ** min(source.consecutive_errors, 8))
        if source.last_polled_at is None or source.last_polled_at + min(wait, MAX_BACKOFF) <= now:
            due.append(source.pk)
    return due


def source_poll(*, source_id: int) -> IngestResult | None:
    """Read a feed or a social timeline from where the last poll stopped, store what is new, and
    move the source's position on in the same transaction (a crash repeats nothing)."""
    with transaction.atomic():
        source = (
            Source.objects.select_for_update(skip_locked=True).filter(pk=source_id, is_active=True).first()
        )
        if source is None:
            return None  # another worker is polling it, or it was switched off
        source.last_polled_at = timezone.now()
        try:
            result = _poll(source)
        except ConnectorError as error:
            source.consecutive_errors += 1
            source.last_error = str(error)[:2000]
            source.last_error_at = source.last_polled_at
            source.save(update_fields=["last_polled_at", "consecutive_errors", "last_error", "last_error_at"])
            logger.info("source %s: %s", source.pk, error)
            return None
        source.consecutive_errors = 0
        source.save()
        return result


def _poll(source: Source) -> IngestResult:
    if source.kind == SourceKind.RSS:
        feed = rss.poll(
            source.config["url"], etag=source.etag or None, last_modified=source.last_modified or None
        )
        if feed.not_modified:
            return IngestResult(0, 0, [])
        source.etag = (feed.etag or "")[:512]
        source.last_modified = (feed.last_modified or "")[:100]
        return mention_ingest(source=source, items=feed.mentions)
    if source.kind == SourceKind.MASTODON:
        config = source.config
        timeline = mastodon.poll(
            config["instance"],
            tag=config.get("tag"),
            account_id=config.get("account_id"),
            cursor=source.cursor or None,
        )
        source.cursor = timeline.cursor or source.cursor
        return mention_ingest(source=source, items=timeline.mentions)
    raise ConnectorError(f"{source.get_kind_display()} sources are not polled.")
