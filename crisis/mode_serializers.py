"""Crisis mode API shapes: the state, held posts, the preview, switching on and the resume review."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crisis.aftermath_models import CrisisModeScope
from crisis.mode_services import DECISIONS, RELEASE, Decision


class HeldPostSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.IntegerField(source="channel_id")
    channel_name = serializers.CharField(source="channel.name")
    status = serializers.CharField()
    paused_from = serializers.CharField()
    text = serializers.CharField()
    scheduled_at = serializers.DateTimeField(allow_null=True)
    time_passed = serializers.SerializerMethodField()

    def get_time_passed(self, post: Any) -> bool:
        from crisis.mode_selectors import post_time_passed

        return post_time_passed(post=post)


class ModeStateSerializer(serializers.Serializer):
    on = serializers.BooleanField()
    scope = serializers.CharField()
    channels = serializers.SerializerMethodField()
    since = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    actor_label = serializers.CharField()
    agency_label = serializers.CharField()
    incident = serializers.SerializerMethodField()

    def get_channels(self, state: Any) -> list[dict[str, Any]]:
        return [{"id": c.pk, "name": c.name} for c in state.channels]

    def get_incident(self, state: Any) -> dict[str, Any] | None:
        incident = state.incident
        return {"id": incident.pk, "title": incident.title} if incident is not None else None


class HistorySerializer(serializers.Serializer):
    on = serializers.BooleanField()
    scope = serializers.CharField()
    channels = serializers.ListField(child=serializers.CharField())
    reason = serializers.CharField()
    actor_label = serializers.CharField()
    agency_label = serializers.CharField()
    incident_id = serializers.IntegerField(allow_null=True)
    held = serializers.IntegerField(allow_null=True)
    review = serializers.ListField(child=serializers.DictField())
    changed_at = serializers.DateTimeField()
    origin = serializers.CharField()


class PreviewQuerySerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=CrisisModeScope.choices, default=CrisisModeScope.TENANT)
    channel_ids = serializers.CharField(required=False, default="", help_text="comma-separated channel ids")

    def validate_channel_ids(self, value: str) -> list[int]:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if any(not (p.isascii() and p.isdigit()) or len(p) > 18 for p in parts):
            raise serializers.ValidationError("Comma-separated channel ids.")
        return [int(p) for p in parts]


class EngageSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=CrisisModeScope.choices, default=CrisisModeScope.TENANT)
    channel_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=200
    )
    reason = serializers.CharField(max_length=2000)
    incident = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)


class HeldPostDecisionSerializer(serializers.Serializer):
    post = serializers.IntegerField(min_value=1)
    action = serializers.ChoiceField(choices=DECISIONS, default=RELEASE)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ReleaseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    decisions = HeldPostDecisionSerializer(many=True, required=False, default=list)

    def validate_decisions(self, value: list[dict[str, Any]]) -> dict[int, Decision]:
        if len(value) > 5000:
            raise serializers.ValidationError("At most 5000 posts.")
        chosen: dict[int, Decision] = {}
        for item in value:
            if item["post"] in chosen:
                raise serializers.ValidationError(f"Post {item['post']} is named twice.")
            chosen[item["post"]] = Decision(action=item["action"], scheduled_at=item["scheduled_at"])
        return chosen
