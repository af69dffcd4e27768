"""The Celery app. tenant-schemas-celery's CeleryApp puts the sender's schema in every message
header and switches the worker's connection to it before the task runs (DESIGN: Celery tasks run
in `public` otherwise)."""

import os

from celery.schedules import crontab
from kombu import Queue
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = CeleryApp("candor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "ingest", "nlp", "ml", "publish")]
app.conf.task_default_queue = "default"
app.conf.task_routes = {
    "listening.tasks.enrich_mentions": {"queue": "nlp"},
    "listening.tasks.backfill_query": {"queue": "ingest"},
    "listening.tasks.poll_source": {"queue": "ingest"},
    "listening.tasks.import_upload": {"queue": "ingest"},
    "listening.tasks.deliver_alert": {"queue": "publish"},
    "listening.tasks.refresh_topics": {"queue": "ml"},
    "personalization.tasks.train_segments": {"queue": "ml"},
    "personalization.tasks.train_engagement": {"queue": "ml"},
    "personalization.tasks.embed_messages": {"queue": "nlp"},
    "personalization.tasks.publish_due": {"queue": "publish"},
    "personalization.tasks.publish_send": {"queue": "publish"},
    "personalization.tasks.fetch_post_metrics": {"queue": "publish"},
    "personalization.records_tasks.import_contacts": {"queue": "ingest"},
    "crisis.risk_tasks.score_risk": {"queue": "ml"},
    "crisis.risk_tasks.recalibrate_risk": {"queue": "ml"},
}
# Publishing must not hold an ingest request when the broker is down: try once more, briefly, then
# give up (the mention is stored; the sweep queues its enrichment later).
app.conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
app.conf.broker_connection_timeout = 2
app.conf.beat_schedule = {
    # Beat has no tenant: one periodic task per kind of work fans out one task per tenant.
    "tenants-heartbeat": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="*/5"),
        "args": ("tenants.tasks.tenant_heartbeat",),
    },
    "listening-sweep-unenriched": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="*"),
        "args": ("listening.tasks.sweep_unenriched",),
    },
    "listening-poll-sources": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="*"),
        "args": ("listening.tasks.poll_due_sources",),
    },
    "listening-evaluate-alert-rules": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="*"),
        "args": ("listening.tasks.evaluate_alert_rules",),
    },
    "listening-purge-webhook-deliveries": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute=41, hour=3),
        "args": ("listening.tasks.purge_webhook_deliveries",),
    },
    "listening-refresh-topics": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="*/15"),
        "args": ("listening.tasks.refresh_topics",),
    },
    "personalization-publish-due": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="*"),
        "args": ("personalization.tasks.publish_due",),
    },
    "personalization-fetch-post-metrics": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute=7),
        "args": ("personalization.tasks.fetch_post_metrics",),
    },
    "ethics-retention": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute=23, hour=2),
        "args": ("ethics.tasks.retention_enforce",),
    },
    "ethics-ledger-check": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute=37, hour=2),
        "args": ("ethics.tasks.ledger_check_nightly",),
    },
    "personalization-train-segments": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute=10, hour=1),
        "args": ("personalization.tasks.train_segments",),
    },
    "personalization-train-engagement": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute=40, hour=1),
        "args": ("personalization.tasks.train_engagement",),
    },
    "crisis-escalate-statements": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="*"),
        "args": ("crisis.statement_tasks.escalate_overdue_statements",),
    },
    "crisis-portfolio-rebuild": {
        "task": "crisis.tasks.portfolio_rebuild",
        "schedule": crontab(minute=29),
    },
    # A minute after each 5-minute mark: the bucket that just closed has been enriched and counted.
    "crisis-score-risk": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="1-59/5"),
        "args": ("crisis.risk_tasks.score_risk",),
    },
    "crisis-recalibrate-risk": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute=50, hour=3, day_of_week=1),
        "args": ("crisis.risk_tasks.recalibrate_risk",),
    },
    "tenants-purge-expired": {
        "task": "tenants.tasks.purge_expired",
        "schedule": crontab(minute=17),
    },
}
app.autodiscover_tasks()
app.autodiscover_tasks(["crisis"], related_name="statement_tasks")
