"""API shapes of scheduled posts, channels, sends and campaigns. Write serializers name exactly
what a caller may set; secrets are write-only."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from personalization.models import Channel
from personalization.post_models import (
    Campaign,
    ConnectorKind,
    MediaType,
    PauseScope,
    PostSend,
    PostStatus,
    PostTransition,
    PublishingChannel,
    ScheduledPost,
)


class PublishingChannelSerializer(serializers.ModelSerializer):
    posts_waiting = serializers.IntegerField(read_only=True, default=0)
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = PublishingChannel
        fields = [
            "id",
            "name",
            "kind",
            "channel",
            "consent_purpose",
            "is_paused",
            "pause_reason",
            "posts_waiting",
            "has_secret",
        ]
        read_only_fields = fields

    def get_has_secret(self, channel: PublishingChannel) -> bool:
        return bool(channel.webhook_secret or channel.access_token)


class PublishingChannelWriteSerializer(serializers.Serializer):
    # An audience channel's name (100) too: the connector's channel is created under it.
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=ConnectorKind.choices)
    url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
    webhook_secret = serializers.CharField(max_length=200, required=False, allow_blank=True, write_only=True)
    access_token = serializers.CharField(max_length=500, required=False, allow_blank=True, write_only=True)
    consent_purpose = serializers.CharField(max_length=64, required=False, allow_blank=True)
    channel = serializers.PrimaryKeyRelatedField(
        queryset=Channel.objects.all(),
        required=False,
        allow_null=True,
        help_text=(
            "The audience channel this connector publishes to (its engagement events record the "
            "deliveries). Left out: the channel of the same name, created if there is none."
        ),
    )


class TransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PostTransition
        fields = ["from_status", "to_status", "actor_id", "actor_label", "reason", "at"]
        read_only_fields = fields


class ScheduledPostSerializer(serializers.ModelSerializer):
    channel_name = serializers.CharField(source="channel.name", read_only=True)
    channel_kind = serializers.CharField(source="channel.kind", read_only=True)
    is_recommended = serializers.BooleanField(read_only=True)
    sends_total = serializers.IntegerField(read_only=True, default=0)
    sends_delivered = serializers.IntegerField(read_only=True, default=0)
    sends_failed = serializers.IntegerField(read_only=True, default=0)
    transitions = TransitionSerializer(many=True, read_only=True)

    class Meta:
        model = ScheduledPost
        fields = [
            "id",
            "channel",
            "channel_name",
            "channel_kind",
            "campaign",
            "status",
            "text",
            "variant",
            "media_type",
            "tone",
            "call_to_action",
            "scheduled_at",
            "segment_key",
            "targeting",
            "recommendation",
            "is_recommended",
            "pause_scope",
            "pause_reason",
            "sends_total",
            "sends_delivered",
            "sends_failed",
            "transitions",
            "created_by_id",
            "approved_by_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TargetingField(serializers.DictField):
    child = serializers.CharField(max_length=64)


class PostContentSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20_000, trim_whitespace=False)
    variant = serializers.CharField(max_length=64, required=False, allow_blank=True)
    media_type = serializers.ChoiceField(choices=MediaType.choices, required=False)
    tone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    call_to_action = serializers.CharField(max_length=200, required=False, allow_blank=True)
    segment_key = serializers.CharField(max_length=64, required=False, allow_blank=True)
    targeting = TargetingField(required=False)
    campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(), required=False, allow_null=True
    )


class ScheduledPostWriteSerializer(PostContentSerializer):
    channel = serializers.PrimaryKeyRelatedField(queryset=PublishingChannel.objects.all())
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)


class SlotSerializer(serializers.Serializer):
    """A recommended slot as the recommendations API gives it: its start and what backs it."""

    start = serializers.DateTimeField()
    end = serializers.DateTimeField(required=False)
    score = serializers.FloatField(required=False)
    low = serializers.FloatField(required=False)
    high = serializers.FloatField(required=False)
    segment = serializers.CharField(max_length=64, required=False, allow_blank=True)
    reasons = serializers.ListField(
        child=serializers.CharField(max_length=300), max_length=10, required=False
    )
    fallback = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate_start(self, value: Any) -> Any:
        if value <= timezone.now():
            raise serializers.ValidationError("This slot has passed.")
        return value


class PostFromSlotSerializer(PostContentSerializer):
    channel = serializers.PrimaryKeyRelatedField(queryset=PublishingChannel.objects.all())
    slot = SlotSerializer()


class ScheduleSerializer(serializers.Serializer):
    scheduled_at = serializers.DateTimeField(required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class RetrySerializer(serializers.Serializer):
    sends = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        min_length=1,
        max_length=1000,
        help_text="The failed sends to retry; all failed sends of the post when left out.",
    )


class PauseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class PreviewSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[("pause", "pause"), ("resume", "resume")], default="pause")


class PauseResultSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=PauseScope.choices)
    count = serializers.IntegerField()
    posts = ScheduledPostSerializer(many=True)


class PostSendSerializer(serializers.ModelSerializer):
    class Meta:
        model = PostSend
        fields = [
            "id",
            "recipient",
            "contact",
            "idempotency_key",
            "status",
            "attempts",
            "last_error",
            "next_retry_at",
            "sent_at",
            "external_id",
            "created_at",
        ]
        read_only_fields = fields


class PostListQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    channel = serializers.IntegerField(min_value=1, required=False)
    status = serializers.ChoiceField(choices=PostStatus.choices, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "start" in attrs and "end" in attrs and attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "Must be after start."})
        return attrs


class CalendarQuerySerializer(serializers.Serializer):
    view = serializers.ChoiceField(choices=[("week", "week"), ("month", "month")], default="week")
    date = serializers.DateField(required=False)
    channel = serializers.IntegerField(min_value=1, required=False)


class CalendarSerializer(serializers.Serializer):
    view = serializers.ChoiceField(choices=[("week", "week"), ("month", "month")])
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    days = serializers.DictField(
        child=ScheduledPostSerializer(many=True), help_text="Posts by local day (YYYY-MM-DD)."
    )


class CampaignSerializer(serializers.ModelSerializer):
    treated_n = serializers.IntegerField(read_only=True, default=0)
    holdout_n = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "consent_purpose",
            "holdout_fraction",
            "seed",
            "treated_n",
            "holdout_n",
            "created_at",
        ]
        read_only_fields = fields


class CampaignWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    consent_purpose = serializers.CharField(max_length=64)
    holdout_fraction = serializers.FloatField(default=0.1)
    seed = serializers.IntegerField(min_value=0, max_value=2**62, required=False)


class EngagementCountSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(min_value=1)
    count = serializers.IntegerField(min_value=1, max_value=10_000, default=1)


class EngagementsInSerializer(serializers.Serializer):
    # DRF passes max_length on to the ListSerializer (3.14+); the type stubs do not know it yet.
    engagements = EngagementCountSerializer(many=True, allow_empty=False, max_length=10_000)  # type: ignore[call-arg]


class UpliftQuerySerializer(serializers.Serializer):
    method = serializers.ChoiceField(
        choices=[("analytic", "analytic"), ("bootstrap", "bootstrap")], default="analytic"
    )
    confidence = serializers.FloatField(min_value=0.5, max_value=0.999, default=0.95)


class UpliftSerializer(serializers.Serializer):
    treated_mean = serializers.FloatField()
    holdout_mean = serializers.FloatField()
    difference = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()
    relative = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField()
    treated_n = serializers.IntegerField()
    holdout_n = serializers.IntegerField()
    method = serializers.CharField()
    significant = serializers.BooleanField()


class UpliftReportSerializer(serializers.Serializer):
    campaign = CampaignSerializer()
    treated_vs_holdout = UpliftSerializer(allow_null=True)
    recommended_vs_not = UpliftSerializer(allow_null=True)
    notes = serializers.ListField(child=serializers.CharField())
