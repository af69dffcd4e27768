"""The agency portfolio's summary rows (`tenants.ClientRiskSummary`, public schema): one per client
with its latest risk and trend, open incidents and crisis mode, so the portfolio of hundreds of
clients is one query. Refreshed after every commit that saves a risk snapshot, an incident or a
crisis-mode switch (receivers below), and recomputed from every schema by `portfolio_rebuild`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncHour
from django.db.models.signals import post_save
from django.utils import timezone

from crisis import mode_selectors
from crisis.aftermath_models import CrisisModeSwitch
from crisis.models import Incident, IncidentStatus, RiskSnapshot
from crisis.signals import risk_scored
from personalization.models import CrisisModeChange
from tenants.models import ClientRiskSummary, Tenant
from tenants.tasking import for_each_tenant, in_tenants

logger = logging.getLogger(__name__)

BANDS = ((75.0, "high"), (50.0, "elevated"), (25.0, "moderate"), (0.0, "low"))
OPEN = (IncidentStatus.DECLARED,)  # resolved incidents are over; closing is paperwork
SPARK_HOURS = 24


def risk_band(score: float | None) -> str:
    if score is None:
        return "unknown"
    for floor, band in BANDS:
        if score >= floor:
            return band
    return "low"


def _score_at(moment: datetime) -> float | None:
    """The latest score at or before `moment` (None when there is none within the hour before)."""
    return (
        RiskSnapshot.objects.filter(bucket_start__lte=moment, bucket_start__gt=moment - timedelta(hours=1))
        .order_by("-bucket_start", "-id")
        .values_list("score", flat=True)
        .first()
    )


def client_summary_compute(*, now: datetime | None = None) -> dict[str, Any]:
    """The current tenant's summary values (run inside its schema)."""
    now = now or timezone.now()
    latest = RiskSnapshot.objects.order_by("-bucket_start", "-id").values("score", "bucket_start").first()
    start = (now.astimezone(UTC) - timedelta(hours=SPARK_HOURS - 1)).replace(
        minute=0, second=0, microsecond=0
    )
    hourly = dict(
        RiskSnapshot.objects.filter(bucket_start__gte=start, bucket_start__lte=now)
        .annotate(hour=TruncHour("bucket_start", tzinfo=UTC))
        .values("hour")
        .annotate(top=Max("score"))
        .values_list("hour", "top")
    )
    sparkline = [
        round(hourly[h], 1) if (h := start + timedelta(hours=i)) in hourly else None
        for i in range(SPARK_HOURS)
    ]
    incidents = Incident.objects.filter(status__in=OPEN).aggregate(
        n=Count("id"), worst=Min("severity"), oldest=Min("declared_at")
    )
    return {
        "score": latest["score"] if latest else None,
        "scored_at": latest["bucket_start"] if latest else None,
        "score_1h_ago": _score_at(now - timedelta(hours=1)),
        "score_24h_ago": _score_at(now - timedelta(hours=24)),
        "sparkline": sparkline,
        "open_incidents": incidents["n"],
        "worst_severity": incidents["worst"],
        "oldest_open_at": incidents["oldest"],
        "crisis_mode": mode_selectors.crisis_mode_state().on,
        "updated_at": now,
    }


def client_summary_refresh(tenant: Tenant) -> ClientRiskSummary:
    """Recompute `tenant`'s summary row (call inside its schema)."""
    summary, _ = ClientRiskSummary.objects.update_or_create(tenant=tenant, defaults=client_summary_compute())
    return summary


def portfolio_rebuild() -> tuple[int, int]:
    """Every client's summary from its schema, one tenant at a time. Returns (ok, failed)."""
    return for_each_tenant(lambda tenant: _refresh(tenant))


def _refresh(tenant: Tenant) -> None:
    client_summary_refresh(tenant)


def _refresh_on_commit(sender: Any, **kwargs: Any) -> None:
    """A snapshot, incident or crisis-mode switch was saved in a client's schema: refresh its row
    once the transaction commits (nothing if it rolls back). A failure is logged, never raised
    into the commit of the change itself."""
    tenant = getattr(connection, "tenant", None)
    if not isinstance(tenant, Tenant) or not tenant.is_client:
        return
    transaction.on_commit(lambda: in_tenants([tenant], client_summary_refresh))


def receivers_connect() -> None:
    for model in (RiskSnapshot, Incident, CrisisModeChange, CrisisModeSwitch):
        post_save.connect(_refresh_on_commit, sender=model, dispatch_uid=f"portfolio-{model.__name__}")
    risk_scored.connect(_refresh_on_commit, sender=RiskSnapshot, dispatch_uid="portfolio-risk-scored")
