"""Agency API shapes: the portfolio and the multi-client pause."""

from __future__ import annotations

from rest_framework import serializers


class PortfolioRowSerializer(serializers.Serializer):
    tenant_id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    band = serializers.CharField()
    scored_at = serializers.DateTimeField(allow_null=True)
    change_1h = serializers.FloatField(allow_null=True)
    change_24h = serializers.FloatField(allow_null=True)
    sparkline = serializers.ListField(child=serializers.FloatField(allow_null=True))
    open_incidents = serializers.IntegerField()
    worst_severity = serializers.IntegerField(allow_null=True)
    oldest_open_at = serializers.DateTimeField(allow_null=True)
    crisis_mode = serializers.BooleanField()
    updated_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField()


class ClientsQuerySerializer(serializers.Serializer):
    tenants = serializers.CharField(help_text="comma-separated client tenant ids")

    def validate_tenants(self, value: str) -> list[int]:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or any(not (p.isascii() and p.isdigit()) or len(p) > 18 for p in parts):
            raise serializers.ValidationError("Comma-separated client tenant ids.")
        return [int(p) for p in parts]


class AgencySwitchSerializer(serializers.Serializer):
    tenants = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=500
    )
    reason = serializers.CharField(max_length=2000)


class ClientOutcomeSerializer(serializers.Serializer):
    tenant_id = serializers.IntegerField()
    tenant = serializers.CharField()
    slug = serializers.CharField()
    ok = serializers.BooleanField()
    detail = serializers.DictField()
    error = serializers.CharField(allow_blank=True)
