"""The risk score's Celery tasks: thin, tenant-bound, retried; the work is in crisis.risk_services."""

from __future__ import annotations

from crisis import risk_services
from tenants.tasking import tenant_task


@tenant_task()
def score_risk() -> int:
    """Every 5 minutes per tenant (beat fan-out): score the buckets closed since the last run."""
    return len(risk_services.risk_score_run())


@tenant_task()
def recalibrate_risk() -> int:
    """Weekly per tenant, and after an incident is declared: refit the tenant's calibration."""
    return risk_services.risk_recalibrate().calibration_incidents
