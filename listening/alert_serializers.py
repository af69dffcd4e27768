"""API shapes of alerting. Write serializers name exactly what a caller may set; delivery URLs
and secrets are never echoed back (a Slack URL is a credential)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from listening.alerting import detectors
from listening.models import (
    Alert,
    AlertDelivery,
    AlertEvidence,
    AlertKind,
    AlertRule,
    AlertStatus,
    DeliveryStatus,
    Notification,
)
from listening.services.alerts import COOLDOWN_MAX, COOLDOWN_MIN, MAX_EMAILS


class AlertRuleSerializer(serializers.ModelSerializer):
    webhook = serializers.SerializerMethodField(
        help_text="Whether a signed webhook is set (the URL is secret)"
    )
    slack = serializers.SerializerMethodField(help_text="Whether a Slack webhook is set (the URL is secret)")

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "is_active",
            "query",
            "source",
            "expression",
            "sensitivity",
            "cooldown_minutes",
            "notify_portal",
            "email_to",
            "webhook",
            "slack",
            "last_evaluated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_webhook(self, rule: AlertRule) -> bool:
        return bool(rule.webhook_url)

    def get_slack(self, rule: AlertRule) -> bool:
        return bool(rule.slack_url)


class AlertRuleSecretSerializer(AlertRuleSerializer):
    webhook_secret = serializers.CharField(help_text="Signs outbound webhooks; shown only now")

    class Meta(AlertRuleSerializer.Meta):
        fields = [*AlertRuleSerializer.Meta.fields, "webhook_secret"]
        read_only_fields = fields


class AlertRuleWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=AlertKind.choices)
    is_active = serializers.BooleanField(default=True)
    query = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    source = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)  # type: ignore[assignment]  # a DRF field named like a stub attribute
    expression = serializers.CharField(max_length=2_000, required=False, allow_blank=True, default="")
    sensitivity = serializers.IntegerField(
        min_value=detectors.SENSITIVITY_MIN,
        max_value=detectors.SENSITIVITY_MAX,
        default=detectors.SENSITIVITY_DEFAULT,
    )
    cooldown_minutes = serializers.IntegerField(min_value=COOLDOWN_MIN, max_value=COOLDOWN_MAX, default=60)
    notify_portal = serializers.BooleanField(default=True)
    email_to = serializers.ListField(
        child=serializers.EmailField(), max_length=MAX_EMAILS, required=False, default=list
    )
    webhook_url = serializers.URLField(max_length=2_000, required=False, allow_blank=True, default="")
    slack_url = serializers.URLField(max_length=2_000, required=False, allow_blank=True, default="")


class AlertRuleUpdateSerializer(AlertRuleWriteSerializer):
    name = serializers.CharField(max_length=100, required=False)
    kind = serializers.ChoiceField(choices=AlertKind.choices, required=False)
    is_active = serializers.BooleanField(required=False)
    query = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    source = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    expression = serializers.CharField(max_length=2_000, required=False, allow_blank=True)
    sensitivity = serializers.IntegerField(
        min_value=detectors.SENSITIVITY_MIN, max_value=detectors.SENSITIVITY_MAX, required=False
    )
    cooldown_minutes = serializers.IntegerField(
        min_value=COOLDOWN_MIN, max_value=COOLDOWN_MAX, required=False
    )
    notify_portal = serializers.BooleanField(required=False)
    email_to = serializers.ListField(child=serializers.EmailField(), max_length=MAX_EMAILS, required=False)
    webhook_url = serializers.URLField(max_length=2_000, required=False, allow_blank=True)
    slack_url = serializers.URLField(max_length=2_000, required=False, allow_blank=True)


class EvidenceSerializer(serializers.ModelSerializer):
    mention = serializers.IntegerField(source="mention_id")
    text = serializers.CharField(source="mention.text")
    author = serializers.CharField(source="mention.author_handle")
    url = serializers.CharField(source="mention.url")
    posted_at = serializers.DateTimeField(source="mention.posted_at")
    sentiment = serializers.CharField(source="mention.sentiment")

    class Meta:
        model = AlertEvidence
        fields = ["mention", "text", "author", "url", "posted_at", "sentiment", "reach"]
        read_only_fields = fields


class AlertDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "alert",
            "channel",
            "target",
            "delivery_id",
            "status",
            "attempts",
            "last_error",
            "next_retry_at",
            "sent_at",
            "created_at",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name")
    evidence = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text="The alert's page in the portal")

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "rule_name",
            "kind",
            "fired_at",
            "window_start",
            "window_end",
            "expected",
            "observed",
            "score",
            "threshold",
            "why",
            "mention_count",
            "status",
            "acknowledged_by_id",
            "acknowledged_at",
            "dismissed_by_id",
            "dismissed_at",
            "escalated_by_id",
            "escalated_at",
            "escalation_note",
            "url",
            "evidence",
        ]
        read_only_fields = fields

    def get_evidence(self, alert: Alert) -> list[dict[str, Any]]:
        return EvidenceSerializer(getattr(alert, "top_evidence", []), many=True).data  # type: ignore[return-value]

    def get_url(self, alert: Alert) -> str:
        request = self.context.get("request")
        path = f"/listening/alerts/{alert.pk}/"
        return request.build_absolute_uri(path) if request is not None else path


class AlertDetailSerializer(AlertSerializer):
    deliveries = AlertDeliverySerializer(many=True)

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "deliveries"]
        read_only_fields = fields


class AlertFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
    rule = serializers.IntegerField(min_value=1, required=False)
    kind = serializers.ChoiceField(choices=AlertKind.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "must be after since"})
        return attrs


class EscalateSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2_000, required=False, allow_blank=True, default="")


class QualityInSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=28)


class RuleQualitySerializer(serializers.Serializer):
    rule = serializers.IntegerField(source="rule_id", allow_null=True, help_text="null: all rules together")
    name = serializers.CharField()
    alerts = serializers.IntegerField()
    per_week = serializers.FloatField()
    acknowledged_share = serializers.FloatField()
    dismissed_share = serializers.FloatField()
    escalated_share = serializers.FloatField()


class MarkersInSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "must be after since"})
        if (attrs["until"] - attrs["since"]).days > 366:
            raise serializers.ValidationError({"since": "the range is at most 366 days"})
        return attrs


class MarkerSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name")

    class Meta:
        model = Alert
        fields = ["id", "fired_at", "kind", "rule_name", "status", "why"]
        read_only_fields = fields


class DeliveryFilterSerializer(serializers.Serializer):
    alert = serializers.IntegerField(min_value=1, required=False)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


class NotificationSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="alert.rule.name")
    kind = serializers.CharField(source="alert.kind")
    why = serializers.CharField(source="alert.why")
    fired_at = serializers.DateTimeField(source="alert.fired_at")

    class Meta:
        model = Notification
        fields = ["id", "alert", "rule_name", "kind", "why", "fired_at", "created_at", "read_at"]
        read_only_fields = fields


class UnreadSerializer(serializers.Serializer):
    unread = serializers.IntegerField()
