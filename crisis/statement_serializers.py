"""API shapes of statements, their claims, approvals and publications. Write serializers name
exactly what a caller may set."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crisis.models import (
    ClaimStatus,
    Statement,
    StatementApproval,
    StatementClaim,
    StatementPublication,
    StatementSettings,
)
from crisis.statement_selectors import approvals_count
from crisis.statement_services import (
    APPROVER_ROLES,
    MAX_APPROVALS,
    MAX_BODY,
    MAX_DUE_MINUTES,
    channel_is_status_page,
)


class ClaimSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatementClaim
        fields = ["id", "text", "status", "basis", "confirmed_by_id", "confirmed_at"]
        read_only_fields = fields


class ApprovalSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatementApproval
        fields = ["id", "version", "approver_id", "decision", "comment", "at"]
        read_only_fields = fields


class PublicationSerializer(serializers.ModelSerializer):
    channel_name = serializers.CharField(source="channel.name", read_only=True)
    channel_kind = serializers.CharField(source="channel.kind", read_only=True)
    status_page = serializers.SerializerMethodField()
    post_status = serializers.CharField(source="post.status", read_only=True)

    class Meta:
        model = StatementPublication
        fields = [
            "id",
            "channel",
            "channel_name",
            "channel_kind",
            "status_page",
            "post",
            "post_status",
            "created_at",
        ]
        read_only_fields = fields

    def get_status_page(self, publication: StatementPublication) -> bool:
        return publication.channel is not None and channel_is_status_page(publication.channel)


class StatementSerializer(serializers.ModelSerializer):
    claims_total = serializers.IntegerField(read_only=True, default=0)
    claims_confirmed = serializers.IntegerField(read_only=True, default=0)
    approvals_count = serializers.SerializerMethodField()
    approvals = ApprovalSerializer(many=True, read_only=True)
    publications = PublicationSerializer(many=True, read_only=True)

    class Meta:
        model = Statement
        fields = [
            "id",
            "incident",
            "title",
            "body",
            "template_id",
            "version",
            "status",
            "tone_report",
            "approvals_required",
            "approvals_count",
            "approver_role",
            "approval_due_at",
            "escalated_at",
            "submitted_at",
            "approved_at",
            "published_at",
            "created_by_id",
            "edited_by_id",
            "created_at",
            "updated_at",
            "claims_total",
            "claims_confirmed",
            "approvals",
            "publications",
        ]
        read_only_fields = fields

    def get_approvals_count(self, statement: Statement) -> int:
        return approvals_count(statement)


class StatementCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    body = serializers.CharField(
        max_length=MAX_BODY, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    template_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    variables = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), required=False, default=dict
    )


class StatementUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    body = serializers.CharField(max_length=MAX_BODY, required=False, trim_whitespace=False)


class ClaimCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=500)


class ClaimVerifySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ClaimStatus.choices)
    basis = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ClaimsAnswerSerializer(serializers.Serializer):
    claims = ClaimSerializer(many=True)
    suggested = serializers.ListField(child=serializers.CharField())


class SubmitSerializer(serializers.Serializer):
    approvals_required = serializers.IntegerField(min_value=1, max_value=MAX_APPROVALS, required=False)
    approver_role = serializers.ChoiceField(
        choices=[(r.value, r.label) for r in APPROVER_ROLES], required=False
    )
    due_minutes = serializers.IntegerField(min_value=1, max_value=MAX_DUE_MINUTES, required=False)


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class PublishSerializer(serializers.Serializer):
    channels = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=20, allow_empty=False
    )


class ToneCheckSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_BODY, trim_whitespace=False)
    incident = serializers.IntegerField(min_value=1, required=False)


class TemplateSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    channels = serializers.ListField(child=serializers.CharField())
    text = serializers.CharField()
    variables = serializers.SerializerMethodField()
    missing = serializers.ListField(child=serializers.CharField())

    def get_variables(self, choice: Any) -> dict[str, dict[str, str]]:
        return {
            name: {"help": help_text, "value": value} for name, (help_text, value) in choice.variables.items()
        }


class StatementSettingsSerializer(serializers.ModelSerializer):
    approvals_required = serializers.IntegerField(min_value=1, max_value=MAX_APPROVALS, required=False)
    approvals_required_sev1 = serializers.IntegerField(min_value=1, max_value=MAX_APPROVALS, required=False)
    approver_role = serializers.ChoiceField(
        choices=[(r.value, r.label) for r in APPROVER_ROLES], required=False
    )
    approval_minutes = serializers.IntegerField(min_value=1, max_value=MAX_DUE_MINUTES, required=False)
    approval_minutes_sev1 = serializers.IntegerField(min_value=1, max_value=MAX_DUE_MINUTES, required=False)

    class Meta:
        model = StatementSettings
        fields = [
            "approvals_required",
            "approvals_required_sev1",
            "approver_role",
            "approval_minutes",
            "approval_minutes_sev1",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
