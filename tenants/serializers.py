"""API shapes for the public-schema resources. Write serializers name exactly the fields a caller
may set: anything else in a body (tenant, owner, staff flags...) is ignored (mass assignment)."""

from __future__ import annotations

from rest_framework import serializers

from tenants.demo import replay
from tenants.models import ApiToken, AuditEvent, Membership, Role, Tenant, TokenScope
from tenants.services import tenant_url


class TenantSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    agency: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "url", "agency", "created_at"]
        read_only_fields = fields

    def get_url(self, tenant: Tenant) -> str:
        return tenant_url(tenant)


class TenantCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(
        max_length=40, help_text="Subdomain: 3-40 lowercase letters, digits, hyphens."
    )


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "created_at"]
        read_only_fields = fields


class MemberCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    full_name = serializers.CharField(max_length=200, required=False, default="")


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TokenSerializer(serializers.ModelSerializer):
    tenants: serializers.RelatedField = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    user = serializers.EmailField(source="user.email", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "tenants",
            "agency",
            "user",
            "is_active",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.READ)
    tenants = serializers.ListField(
        child=serializers.SlugField(max_length=40),
        required=False,
        max_length=500,
        help_text="Slugs of the tenants the token may reach; defaults to this tenant alone.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret. It is shown this once only.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)
    tenant: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "action",
            "actor",
            "tenant",
            "agency",
            "target",
            "ip_address",
            "user_agent",
            "details",
        ]
        read_only_fields = fields


class MeTenantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    url = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class MeAgencySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    tenant = MeTenantSerializer(allow_null=True, help_text="The tenant of this host, on a tenant host.")
    capabilities = serializers.ListField(child=serializers.CharField())
    tenants = MeTenantSerializer(many=True)
    agencies = MeAgencySerializer(many=True)
    token = TokenSerializer(allow_null=True)


class DemoReplayStartSerializer(serializers.Serializer):
    speed = serializers.FloatField(
        default=replay.DEFAULT_SPEED,
        min_value=replay.SPEEDS[0],
        max_value=replay.SPEEDS[1],
        help_text="How many times faster than real time the story's two hours run (30: four minutes).",
    )


class DemoProgressSerializer(serializers.Serializer):
    milestone = serializers.CharField()
    done = serializers.BooleanField()


class DemoReplaySerializer(serializers.Serializer):
    running = serializers.BooleanField(help_text="A replay is running in this workspace now.")
    started_at = serializers.DateTimeField(allow_null=True)
    speed = serializers.FloatField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True, help_text="When the story's last step is due.")
    progress = DemoProgressSerializer(many=True, help_text="The latest replay's milestones, in order.")
