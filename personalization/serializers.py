"""API shapes of personalization's contacts. Write serializers name exactly what a caller may set."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import available_timezones

from rest_framework import serializers

from personalization.models import Contact, StakeholderKind

MAX_ATTRIBUTES_BYTES = 8_192
MAX_HANDLES = 20


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
        if value not in available_timezones():
            raise serializers.ValidationError("Not an IANA time zone (e.g. Europe/Berlin).")
        return value

    def validate_attributes(self, value: dict[str, Any]) -> dict[str, Any]:
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
