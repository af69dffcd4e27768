"""Listening's Celery tasks: thin, tenant-bound, retried; the work is in the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from listening.models import WebhookDelivery
from listening.services import alert_delivery, alerts, enrichment, queries, sources, topics, uploads
from listening.services.ingest import enrichment_queue
from tenants.tasking import tenant_task


@tenant_task()
def enrich_mentions(mention_ids: list[int]) -> int:
    return enrichment.mentions_enrich(mention_ids=mention_ids)


@tenant_task()
def sweep_unenriched() -> int:
    """Every minute per tenant: queue mentions whose enrichment was never queued (broker down)
    or was lost. Enrichment is idempotent, so queueing one twice costs only time."""
    return enrichment_queue(enrichment.unenriched_ids())


@tenant_task(bind=True)
def backfill_query(self: Any, query_id: int, revision: int) -> int:
    try:
        return queries.query_backfill(query_id=query_id, revision=revision)
    except Exception as error:
        if self.request.retries >= self.max_retries:
            queries.query_backfill_failed(query_id=query_id, revision=revision, error=str(error))
        raise


@tenant_task()
def purge_webhook_deliveries() -> int:
    """Delivery ids are kept 3 days: senders retry for up to 3 days (RELIABILITY 13)."""
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=timezone.now() - timedelta(days=4)).delete()
    return deleted


@tenant_task()
def poll_due_sources() -> int:
    """Every minute per tenant: one poll task per source whose time has come."""
    due = sources.sources_due()
    for source_id in due:
        poll_source.delay(source_id)
    return len(due)


@tenant_task()
def poll_source(source_id: int) -> int:
    result = sources.source_poll(source_id=source_id)
    return result.stored if result else 0


@tenant_task()
def import_upload(job_id: int) -> int:
    return uploads.upload_import(job_id=job_id).stored


@tenant_task()
def evaluate_alert_rules() -> int:
    """Every minute per tenant (beat fan-out): every active rule; also re-queues lost deliveries."""
    return len(alerts.alert_rules_evaluate())


@tenant_task()
def evaluate_keyword_alerts(mention_ids: list[int]) -> int:
    """Right after enrichment: keyword rules on the mentions just enriched."""
    return len(alerts.keyword_rules_evaluate(mention_ids=mention_ids))


@tenant_task()
def deliver_alert(delivery_id: int) -> str:
    """One delivery attempt (publish queue); the service schedules the next one on failure."""
    delivery = alert_delivery.alert_delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery is not None else "skipped"


@tenant_task()
def refresh_topics() -> int:
    """Every 15 minutes per tenant: re-cluster recent mentions into emerging topics."""
    return topics.topics_refresh().clusters
