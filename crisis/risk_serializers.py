"""Serializers of the risk API: inputs validated here, answers shaped here (no logic)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from crisis.models import RiskSnapshot, RiskState
from listening.models import Mention

HISTORY_DEFAULT = timedelta(days=7)
HISTORY_MAX = timedelta(days=366)


class EvidenceMentionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    why = serializers.ListField(child=serializers.CharField())
    reach = serializers.IntegerField()
    text = serializers.CharField(allow_null=True)
    author = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    posted_at = serializers.DateTimeField(allow_null=True)
    source = serializers.CharField(allow_null=True)  # type: ignore[assignment]  # a DRF field named like a stub attribute


def evidence_rows(snapshot: RiskSnapshot, mentions: dict[int, Mention]) -> list[dict[str, Any]]:
    """The snapshot's evidence with each mention's text, author and link (a mention erased since
    keeps its place, without its content)."""
    rows = []
    for item in snapshot.evidence:
        mention = mentions.get(int(item["mention_id"]))
        rows.append(
            {
                "id": int(item["mention_id"]),
                "why": list(item.get("why", [])),
                "reach": int(item.get("reach", 0)),
                "text": mention.text if mention else None,
                "author": (mention.author_name or mention.author_handle) if mention else None,
                "url": (mention.url or None) if mention else None,
                "posted_at": mention.posted_at if mention else None,
                "source": mention.source.name if mention else None,
            }
        )
    return rows


class RiskSnapshotSerializer(serializers.ModelSerializer):
    band = serializers.SerializerMethodField()

    class Meta:
        model = RiskSnapshot
        fields = [
            "id",
            "bucket_start",
            "computed_at",
            "trigger",
            "score",
            "band",
            "probability_6h",
            "probability_24h",
            "base",
            "factors",
            "features",
            "alert",
            "alert_ref",
            "model_version",
            "calibration",
        ]

    def get_band(self, snapshot: RiskSnapshot) -> str:
        return risk_band(snapshot.score)


def risk_band(score: float) -> str:
    """Low below 20 (the alert threshold of the global model), elevated to 40, high to 70, then
    critical."""
    if score < 20:
        return "low"
    if score < 40:
        return "elevated"
    if score < 70:
        return "high"
    return "critical"


class RiskCurrentSerializer(serializers.Serializer):
    snapshot = RiskSnapshotSerializer()
    evidence = EvidenceMentionSerializer(many=True)
    score_1h_ago = serializers.FloatField(allow_null=True)
    score_24h_ago = serializers.FloatField(allow_null=True)
    delta_1h = serializers.FloatField(allow_null=True)
    delta_24h = serializers.FloatField(allow_null=True)


class RiskHistoryQuerySerializer(serializers.Serializer):
    """`from` and `to` (ISO 8601; `from` is a Python keyword, so the fields are declared here), or
    `start` and `end` as the listening dashboard's panels send them."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "from": serializers.DateTimeField(
                required=False, help_text="ISO 8601; default: `to` minus 7 days"
            ),
            "to": serializers.DateTimeField(required=False, help_text="ISO 8601; default: now"),
            "start": serializers.DateTimeField(required=False, help_text="the same as `from`"),
            "end": serializers.DateTimeField(required=False, help_text="the same as `to`"),
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("to") or attrs.get("end") or timezone.now()
        start = attrs.get("from") or attrs.get("start") or end - HISTORY_DEFAULT
        if end <= start:
            raise serializers.ValidationError({"to": "must be after from"})
        if end - start > HISTORY_MAX:
            raise serializers.ValidationError({"from": "the range may be at most 366 days"})
        return {"start": start, "end": end}


class RiskPointSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    score = serializers.FloatField()
    probability_6h = serializers.FloatField()
    probability_24h = serializers.FloatField()
    alert = serializers.BooleanField()


class IncidentMarkerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    declared_at = serializers.DateTimeField()


class RiskHistorySerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    step_s = serializers.IntegerField()
    points = RiskPointSerializer(many=True)
    incidents = IncidentMarkerSerializer(many=True)


class RiskSettingsSerializer(serializers.ModelSerializer):
    auto_pause_threshold = serializers.FloatField(
        min_value=1,
        max_value=100,
        allow_null=True,
        required=False,
        help_text="A scheduled score at or above this switches crisis mode on (once per episode); null: off",
    )
    calibration_in_use = serializers.SerializerMethodField()

    class Meta:
        model = RiskState
        fields = [
            "auto_pause_threshold",
            "auto_pause_active",
            "calibration_in_use",
            "calibration_incidents",
            "calibrated_at",
            "last_bucket_start",
            "updated_at",
        ]
        read_only_fields = [
            "auto_pause_active",
            "calibration_incidents",
            "calibrated_at",
            "last_bucket_start",
            "updated_at",
        ]

    def get_calibration_in_use(self, state: RiskState) -> str:
        from crisis.ml.risk import MIN_TENANT_INCIDENTS

        return (
            "tenant"
            if state.calibration and state.calibration_incidents >= MIN_TENANT_INCIDENTS
            else "global"
        )
