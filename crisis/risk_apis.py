"""Risk API: the current score (factors, evidence mentions, how it moved), its history (JSON or
CSV, downsampled for long ranges), an on-demand evaluation, and the tenant's risk settings."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, status
from rest_framework.request import Request
from rest_framework.response import Response

from crisis import risk_selectors, risk_services
from crisis.models import RiskSnapshot
from crisis.risk_serializers import (
    RiskCurrentSerializer,
    RiskHistoryQuerySerializer,
    RiskHistorySerializer,
    RiskSettingsSerializer,
    RiskSnapshotSerializer,
    evidence_rows,
)
from listening.apis_metrics import CsvRenderer, CsvTable
from tenants.access import Access, Capability
from tenants.api.base import TenantApi


def _delta(now: float, then: float | None) -> float | None:
    return None if then is None else round(now - then, 4)


class RiskApi(TenantApi):
    """The tenant's crisis-risk score. Reading needs VIEW; evaluating now EDIT; settings MANAGE."""

    serializer_class = RiskSnapshotSerializer
    pagination_class = None
    renderer_classes = [renderers.JSONRenderer, CsvRenderer]
    capabilities = {
        "current": Capability.VIEW,
        "history": Capability.VIEW,
        "evaluate": Capability.EDIT,
        "settings_get": Capability.VIEW,
        "settings_update": Capability.MANAGE,
    }

    def scoped_queryset(self, access: Access) -> QuerySet[RiskSnapshot]:
        return RiskSnapshot.objects.all()

    @extend_schema(responses={200: RiskCurrentSerializer})
    def current(self, request: Request) -> Response:
        """The latest score: band, probabilities, factor points (`base + sum(factors) == score`),
        the evidence mentions with text, author and link, and the change against 1 h and 24 h
        before. 404 before the first score."""
        current = risk_selectors.risk_current()
        if current is None:
            return Response(
                {"error": {"status": 404, "code": "not_found", "message": "No risk score yet."}},
                status=status.HTTP_404_NOT_FOUND,
            )
        score = current.snapshot.score
        body = {
            "snapshot": current.snapshot,
            "evidence": evidence_rows(current.snapshot, current.mentions),
            "score_1h_ago": current.score_1h_ago,
            "score_24h_ago": current.score_24h_ago,
            "delta_1h": _delta(score, current.score_1h_ago),
            "delta_24h": _delta(score, current.score_24h_ago),
        }
        return Response(RiskCurrentSerializer(body).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="ISO 8601; default: `to` minus 7 days"),
            OpenApiParameter("to", str, description="ISO 8601; default: now; at most 366 days after `from`"),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={200: RiskHistorySerializer, (200, "text/csv"): bytes},
    )
    def history(self, request: Request) -> Response:
        """Scheduled scores over the range, at most 600 points: 5-minute steps for short ranges,
        coarser beyond (each step keeps its highest score and whether an alert was raised), with
        the incidents declared in the range as markers."""
        query = RiskHistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        step, points = risk_selectors.risk_history(start=start, end=end)
        if request.accepted_renderer.format == "csv":
            return Response(
                CsvTable(
                    filename="risk-history.csv",
                    header=["start", "score", "probability_6h", "probability_24h", "alert"],
                    rows=(
                        [
                            p.start.isoformat(),
                            round(p.score, 2),
                            p.probability_6h,
                            p.probability_24h,
                            int(p.alert),
                        ]
                        for p in points
                    ),
                )
            )
        body = {
            "start": start,
            "end": end,
            "step_s": int(step / timedelta(seconds=1)),
            "points": points,
            "incidents": list(risk_selectors.risk_incident_markers(start=start, end=end)),
        }
        return Response(RiskHistorySerializer(body).data)

    @extend_schema(request=None, responses={201: RiskSnapshotSerializer})
    def evaluate(self, request: Request) -> Response:
        """Score the current, still-open 5-minute bucket now (an on-demand snapshot)."""
        snapshot = risk_services.risk_evaluate_now()
        return Response(RiskSnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=RiskSettingsSerializer)
    def settings_get(self, request: Request) -> Response:
        """The auto-pause opt-in and which calibration the score uses (global, or the tenant's own
        once it has enough declared incidents)."""
        return Response(RiskSettingsSerializer(risk_selectors.risk_state_get()).data)

    @extend_schema(request=RiskSettingsSerializer, responses=RiskSettingsSerializer)
    def settings_update(self, request: Request) -> Response:
        """Set `auto_pause_threshold` (1-100) or switch it off with null. Admins only; audited."""
        data = RiskSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "auto_pause_threshold" not in data.validated_data:
            return Response(RiskSettingsSerializer(risk_selectors.risk_state_get()).data)
        state = risk_services.risk_settings_update(
            actor=self.access.user,
            tenant=self.access.tenant,
            client=self.client,
            auto_pause_threshold=data.validated_data["auto_pause_threshold"],
        )
        return Response(RiskSettingsSerializer(state).data)
