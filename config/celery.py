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
app.conf.beat_schedule = {
    # Beat has no tenant: one periodic task per kind of work fans out one task per tenant.
    "tenants-heartbeat": {
        "task": "tenants.tasks.fan_out",
        "schedule": crontab(minute="*/5"),
        "args": ("tenants.tasks.tenant_heartbeat",),
    },
    "tenants-purge-expired": {
        "task": "tenants.tasks.purge_expired",
        "schedule": crontab(minute=17),
    },
}
app.autodiscover_tasks()
