"""API shapes of incidents and playbooks. Write serializers name exactly what a caller may set; the
services validate the rest (members, playbook variables, channels) and answer 400 naming the field."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crisis.incident_selectors import PauseMode
from crisis.models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    IncidentTask,
    Playbook,
    ScenarioChoice,
    Severity,
    Statement,
    TaskStatus,
    TimelineEntry,
)
from crisis.playbooks import Role
from personalization.post_models import ScheduledPost

STATUS_FILTERS = ["open", IncidentStatus.RESOLVED.value, IncidentStatus.CLOSED.value]


# Playbooks -----------------------------------------------------------------------------------------


class PlaybookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Playbook
        fields = [
            "id",
            "key",
            "scenario",
            "name",
            "origin",
            "is_active",
            "version",
            "updated_by_id",
            "updated_at",
            "definition",
        ]
        read_only_fields = fields


class PlaybookWriteSerializer(serializers.Serializer):
    """Give the document either as parsed JSON (`definition`) or as YAML text (`yaml`)."""

    definition = serializers.JSONField(required=False)
    yaml = serializers.CharField(required=False, trim_whitespace=False, max_length=100_000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("definition" in attrs) == ("yaml" in attrs):
            raise serializers.ValidationError({"definition": "Give `definition` or `yaml` (one of them)."})
        return attrs


class PlaybookUpdateSerializer(PlaybookWriteSerializer):
    is_active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "definition" in attrs and "yaml" in attrs:
            raise serializers.ValidationError({"definition": "Give `definition` or `yaml`, not both."})
        if not attrs:
            raise serializers.ValidationError({"definition": "Nothing to change."})
        return attrs


class PlaybookFilterSerializer(serializers.Serializer):
    scenario = serializers.ChoiceField(choices=ScenarioChoice.choices, required=False)
    active = serializers.BooleanField(required=False, default=False)


# Incidents -----------------------------------------------------------------------------------------


class IncidentSerializer(serializers.ModelSerializer):
    playbook_key = serializers.CharField(source="playbook.key", default=None, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "summary",
            "scenario",
            "severity",
            "status",
            "source",
            "owner_id",
            "declared_by_id",
            "alert",
            "risk_snapshot",
            "playbook",
            "playbook_key",
            "variables",
            "first_signal_at",
            "detected_at",
            "declared_at",
            "resolved_at",
            "closed_at",
            "pauses_posts",
            "paused_channel_ids",
        ]
        read_only_fields = fields


class IncidentRoleSerializer(serializers.ModelSerializer):
    class Meta:
        model = IncidentRole
        fields = ["role", "user_id"]
        read_only_fields = fields


class IncidentTaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = IncidentTask
        fields = [
            "id",
            "incident",
            "step_id",
            "title",
            "instructions",
            "role",
            "owner_id",
            "channels",
            "due_at",
            "position",
            "status",
            "done_at",
            "done_by_id",
        ]
        read_only_fields = fields


class StatementLinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Statement
        fields = ["id", "title", "status", "version"]
        read_only_fields = fields


class IncidentDetailSerializer(IncidentSerializer):
    roles = IncidentRoleSerializer(many=True, read_only=True)
    tasks = IncidentTaskSerializer(many=True, read_only=True)
    statements = StatementLinkSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "playbook_snapshot", "roles", "tasks", "statements"]
        read_only_fields = fields


class TimelineEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = TimelineEntry
        fields = ["id", "at", "kind", "actor_id", "actor_label", "text", "data"]
        read_only_fields = fields


class IncidentFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUS_FILTERS, required=False)
    scenario = serializers.ChoiceField(choices=ScenarioChoice.choices, required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)


class _Pause(serializers.Serializer):
    pause = serializers.ChoiceField(choices=PauseMode.VALUES, default=PauseMode.TENANT)
    channels = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=100
    )


class IncidentCreateSerializer(_Pause):
    title = serializers.CharField(max_length=200)
    summary = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    scenario = serializers.ChoiceField(choices=ScenarioChoice.choices)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.SEV2)
    owner = serializers.IntegerField(required=False, min_value=1)
    playbook = serializers.IntegerField(required=False, min_value=1, help_text="Default: the suggested one")
    alert = serializers.IntegerField(required=False, min_value=1)
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=500), required=False, default=dict
    )


class PausePreviewSerializer(_Pause):
    pass


class ScheduledPostBriefSerializer(serializers.ModelSerializer):
    channel_name = serializers.CharField(source="channel.name", default=None, read_only=True)

    class Meta:
        model = ScheduledPost
        fields = ["id", "channel", "channel_name", "status", "scheduled_at", "text"]
        read_only_fields = fields


class IncidentUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, max_length=200)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    owner = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError({"title": "Nothing to change."})
        return attrs


class StatusNoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000)


class RoleSetSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=[r.value for r in Role])
    user = serializers.IntegerField(min_value=1, allow_null=True)


class TaskCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    instructions = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    owner = serializers.IntegerField(required=False, min_value=1)
    due_at = serializers.DateTimeField(required=False)


class TaskUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    owner = serializers.IntegerField(required=False, min_value=1)
    due_at = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError({"status": "Nothing to change."})
        return attrs


class SuggestSerializer(serializers.Serializer):
    alert = serializers.IntegerField(required=False, min_value=1)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("alert") and not attrs.get("description", "").strip():
            raise serializers.ValidationError(
                {"description": "Describe what is happening, or name an alert."}
            )
        return attrs


class SuggestionSerializer(serializers.Serializer):
    scenario = serializers.CharField(help_text="A scenario, or 'unclear' (then the people choose)")
    confidence = serializers.FloatField()
    evidence = serializers.ListField(child=serializers.DictField())
    ranking = serializers.ListField(child=serializers.DictField())
    mention_ids = serializers.ListField(child=serializers.IntegerField())
    playbook = PlaybookSerializer(allow_null=True)
