"""API shapes of personalization's contacts. Write serializers name exactly what a caller may set."""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from zoneinfo import available_timezones

from rest_framework import serializers

from personalization.models import (
    Channel,
    ChannelKind,
    Contact,
    ContactImportJob,
    CrisisModeChange,
    EngagementKind,
    Recommendation,
    Segment,
    StakeholderKind,
)
from personalization.records import INGEST_MAX_ITEMS

MAX_ATTRIBUTES_BYTES = 8_192
MAX_JSON_DEPTH = 10
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable_json(value: Any, depth: int = 0) -> None:
    """PostgreSQL's jsonb refuses NUL and lone surrogates in strings (a DataError, a 500 before),
    and deep nesting only costs: refuse them as the input error they are."""
    if depth > MAX_JSON_DEPTH:
        raise serializers.ValidationError(f"Nested more than {MAX_JSON_DEPTH} levels deep.")
    if isinstance(value, str):
        if "\x00" in value or _LONE_SURROGATE.search(value):
            raise serializers.ValidationError("Text may not contain NUL or lone surrogate characters.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable_json(str(key), depth + 1)
            _storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item, depth + 1)


MAX_HANDLES = 20


@functools.cache
def _time_zones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk (about 26 ms): once per process, not per
    # row of a contact import (10,000 rows spent over four minutes there).
    return frozenset(available_timezones())


class HandleSerializer(serializers.Serializer):
    network = serializers.RegexField(r"^[a-z0-9][a-z0-9_.-]{0,31}$", help_text="e.g. mastodon, x, linkedin")
    handle = serializers.CharField(max_length=200)

    def validate_handle(self, value: str) -> str:
        cleaned = value.strip().lstrip("@")
        if not cleaned:
            raise serializers.ValidationError("A handle cannot be empty.")
        return cleaned


class ContactSerializer(serializers.ModelSerializer):
    handles = HandleSerializer(many=True, read_only=True)
    # Empty when unknown: a plain string in the schema, since "" is no valid `format: email`.
    email = serializers.CharField(read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "kind",
            "name",
            "email",
            "handles",
            "language",
            "region",
            "time_zone",
            "attributes",
            "is_restricted",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContactWriteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StakeholderKind.choices, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    handles = HandleSerializer(many=True, required=False)
    language = serializers.RegexField(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", required=False, allow_blank=True)
    region = serializers.CharField(max_length=64, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    attributes = serializers.DictField(required=False)

    def validate_time_zone(self, value: str) -> str:
        if value not in _time_zones():
            raise serializers.ValidationError("Not an IANA time zone (e.g. Europe/Berlin).")
        return value

    def validate_attributes(self, value: dict[str, Any]) -> dict[str, Any]:
        _storable_json(value)
        if len(json.dumps(value)) > MAX_ATTRIBUTES_BYTES:
            raise serializers.ValidationError(f"At most {MAX_ATTRIBUTES_BYTES} bytes of attributes.")
        return value

    def validate_handles(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        if len(value) > MAX_HANDLES:
            raise serializers.ValidationError(f"At most {MAX_HANDLES} handles.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not self.partial and not (attrs.get("name") or attrs.get("email") or attrs.get("handles")):
            raise serializers.ValidationError("A contact needs a name, an email or a handle.")
        return attrs


# Audience: import, channels, messages, engagement ------------------------------------------------


class ContactImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV (header row) or NDJSON, UTF-8, at most 5 MB")
    format = serializers.ChoiceField(choices=["csv", "ndjson"], required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "format" not in attrs:
            name = attrs["file"].name.lower()
            attrs["format"] = "ndjson" if name.endswith((".ndjson", ".jsonl")) else "csv"
        return attrs


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class ContactImportJobSerializer(serializers.ModelSerializer):
    errors = ImportErrorSerializer(many=True, read_only=True)  # type: ignore[assignment]  # a DRF field named like a stub attribute

    class Meta:
        model = ContactImportJob
        fields = [
            "id",
            "original_name",
            "file_format",
            "status",
            "rows_total",
            "rows_done",
            "created",
            "consents_recorded",
            "errors",
            "errors_total",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ChannelSerializer(serializers.ModelSerializer):
    has_credentials = serializers.SerializerMethodField()
    connector = serializers.IntegerField(
        source="publishing.pk",
        default=None,
        allow_null=True,
        read_only=True,
        help_text="The publishing channel (connector) that posts to this channel, if any.",
    )

    class Meta:
        model = Channel
        fields = ["id", "kind", "name", "config", "has_credentials", "connector", "is_active", "created_at"]
        read_only_fields = fields

    def get_has_credentials(self, channel: Channel) -> bool:
        return bool(channel.credentials)


class ChannelWriteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField(max_length=100)
    config = serializers.DictField(required=False, default=dict)
    # Write-only: a channel's secret is never returned, only whether it has one.
    credentials = serializers.CharField(max_length=4000, required=False, allow_blank=True, write_only=True)
    is_active = serializers.BooleanField(required=False)

    def validate_config(self, value: dict[str, Any]) -> dict[str, Any]:
        _storable_json(value)
        if len(json.dumps(value)) > MAX_ATTRIBUTES_BYTES:
            raise serializers.ValidationError(f"At most {MAX_ATTRIBUTES_BYTES} bytes of configuration.")
        return value


class MessageSerializer(serializers.Serializer):
    key = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$", help_text="your id for the message")
    text = serializers.CharField(max_length=10_000, allow_blank=True)
    tone = serializers.RegexField(r"^[a-z][a-z_-]{0,31}$", default="neutral")
    media_type = serializers.RegexField(r"^[a-z][a-z_-]{0,31}$", default="text")
    call_to_action = serializers.BooleanField(default=False)


class EngagementItemSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200)
    contact = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=EngagementKind.choices)
    occurred_at = serializers.DateTimeField()
    message = serializers.CharField(max_length=200, required=False, allow_blank=True)


class EngagementBatchSerializer(serializers.Serializer):
    events = EngagementItemSerializer(many=True, allow_empty=False)

    def validate_events(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > INGEST_MAX_ITEMS:
            raise serializers.ValidationError(f"At most {INGEST_MAX_ITEMS} events per request.")
        return value


class IngestErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class EngagementResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = IngestErrorSerializer(many=True)  # type: ignore[assignment]  # a DRF field named like a stub attribute


# Segments, crisis mode, recommendations -----------------------------------------------------------


class SegmentSerializer(serializers.ModelSerializer):
    members = serializers.IntegerField(read_only=True, help_text="consented members now")
    key = serializers.CharField(
        read_only=True, help_text="stable key: a scheduled post's `segment_key` targets this segment"
    )

    class Meta:
        model = Segment
        fields = [
            "id",
            "key",
            "kind",
            "number",
            "name",
            "description",
            "size",
            "members",
            "share",
            "typical_channel",
            "typical_time",
            "rules",
            "is_active",
            "model_version",
            "updated_at",
        ]
        read_only_fields = fields


class RuleSerializer(serializers.Serializer):
    field = serializers.CharField(max_length=100)
    op = serializers.CharField(max_length=8)
    value = serializers.JSONField()


class RuleSegmentSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    rules = RuleSerializer(many=True, allow_empty=False)

    def validate_rules(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > 20:
            raise serializers.ValidationError("At most 20 filters.")
        return value


class CrisisModeSerializer(serializers.Serializer):
    on = serializers.BooleanField()
    reason = serializers.CharField(max_length=2000)


class CrisisModeChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrisisModeChange
        fields = ["on", "reason", "actor", "actor_label", "changed_at"]
        read_only_fields = fields


class CrisisModeStateSerializer(serializers.Serializer):
    on = serializers.BooleanField()
    history = CrisisModeChangeSerializer(many=True, help_text="The last 50 changes, newest first.")


class VariantSerializer(serializers.Serializer):
    key = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
    text = serializers.CharField(max_length=10_000)
    tone = serializers.RegexField(r"^[a-z][a-z_-]{0,31}$", default="neutral")
    media_type = serializers.RegexField(r"^[a-z][a-z_-]{0,31}$", default="text")
    call_to_action = serializers.BooleanField(default=False)


class VariantRequestSerializer(serializers.Serializer):
    channel = serializers.IntegerField(min_value=1)
    variants = VariantSerializer(many=True, allow_empty=False)
    hour_of_week = serializers.IntegerField(min_value=0, max_value=167, help_text="0 = Monday 00:00")
    segments = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=50
    )

    def validate_variants(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > 10:
            raise serializers.ValidationError("At most 10 variants.")
        if len({v["key"] for v in value}) != len(value):
            raise serializers.ValidationError("Variant keys must be unique.")
        return value


class SlotRequestSerializer(serializers.Serializer):
    channel = serializers.IntegerField(min_value=1)
    segments = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=50
    )


class RecommendationSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name", default=None)

    class Meta:
        model = Recommendation
        fields = [
            "id",
            "kind",
            "segment",
            "segment_label",
            "channel",
            "status",
            "basis",
            "exploration",
            "advice",
            "model_version",
            "created_at",
        ]
        read_only_fields = fields
