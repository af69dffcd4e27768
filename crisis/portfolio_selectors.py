"""The agency portfolio: every client of one agency with its summary row, riskiest first, in one
query (clients without a summary yet sort last)."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

from crisis.portfolio_services import risk_band
from tenants.access import AgencyAccess
from tenants.models import ClientRiskSummary, Tenant
from tenants.selectors import tenant_list_for_agency


def portfolio_list(*, access: AgencyAccess) -> QuerySet[Tenant]:
    return (
        tenant_list_for_agency(access=access)
        .select_related("risk_summary")
        .order_by(F("risk_summary__score").desc(nulls_last=True), "name", "pk")
    )


def _delta(now: float | None, then: float | None) -> float | None:
    return round(now - then, 1) if now is not None and then is not None else None


def portfolio_row(tenant: Tenant) -> dict[str, Any]:
    summary: ClientRiskSummary | None = getattr(tenant, "risk_summary", None)
    if summary is None:
        return {
            "tenant_id": tenant.pk,
            "name": tenant.name,
            "slug": tenant.slug,
            "score": None,
            "band": risk_band(None),
            "scored_at": None,
            "change_1h": None,
            "change_24h": None,
            "sparkline": [],
            "open_incidents": 0,
            "worst_severity": None,
            "oldest_open_at": None,
            "crisis_mode": False,
            "updated_at": None,
        }
    return {
        "tenant_id": tenant.pk,
        "name": tenant.name,
        "slug": tenant.slug,
        "score": summary.score,
        "band": risk_band(summary.score),
        "scored_at": summary.scored_at,
        "change_1h": _delta(summary.score, summary.score_1h_ago),
        "change_24h": _delta(summary.score, summary.score_24h_ago),
        "sparkline": summary.sparkline,
        "open_incidents": summary.open_incidents,
        "worst_severity": summary.worst_severity,
        "oldest_open_at": summary.oldest_open_at,
        "crisis_mode": summary.crisis_mode,
        "updated_at": summary.updated_at,
    }


def sparkline_points(values: list[float | None], width: int = 120, height: int = 24) -> str:
    """An SVG polyline's points for scores 0-100 (hours without a score are skipped)."""
    if not values:
        return ""
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - (v / 100) * height:.1f}" for i, v in enumerate(values) if v is not None
    )
