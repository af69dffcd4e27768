"""Thin API views: validate, call one selector or service, serialize."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import selectors, services
from tenants.access import Access, AgencyAccess, Capability, roles_by_tenant, token_tenant_ids
from tenants.api.base import AccountApi, AgencyApi, TenantApi
from tenants.api.errors import error_body
from tenants.demo import replay
from tenants.filters import AuditEventFilter, MemberFilter, TenantFilter, TokenFilter
from tenants.http import ClientInfo
from tenants.models import Agency, ApiToken, AuditEvent, Membership, Tenant, User
from tenants.serializers import (
    AuditEventSerializer,
    DemoReplaySerializer,
    DemoReplayStartSerializer,
    MemberCreateSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    MeSerializer,
    TenantCreateSerializer,
    TenantSerializer,
    TokenCreatedSerializer,
    TokenCreateSerializer,
    TokenSerializer,
)


def _tenant_summary(tenant: Tenant, roles: frozenset[str]) -> dict[str, Any]:
    return {
        "id": tenant.pk,
        "name": tenant.name,
        "slug": tenant.slug,
        "url": services.tenant_url(tenant),
        "roles": sorted(roles),
    }


def _me_payload(*, user: User, token: ApiToken | None, access: Access | None) -> dict[str, Any]:
    roles = roles_by_tenant(user=user)
    if token is not None:
        named = token_tenant_ids(token)
        roles = {tenant_id: found for tenant_id, found in roles.items() if tenant_id in named}
    reachable = [
        _tenant_summary(tenant, roles[tenant.pk])
        for tenant in Tenant.objects.filter(pk__in=roles).order_by("name")
    ]
    current = _tenant_summary(access.tenant, access.roles) if access is not None else None
    agencies = [
        {"id": m.agency_id, "name": m.agency.name, "role": m.role}
        for m in user.agency_memberships.select_related("agency")
    ]
    return {
        "id": user.pk,
        "email": user.email,
        "full_name": user.full_name,
        "tenant": current,
        "capabilities": sorted(c.value for c in access.capabilities) if access else [],
        "tenants": reachable,
        "agencies": agencies,
        "token": token,
    }


def _token_create_response(
    *,
    request: Request,
    user: User,
    tenants: QuerySet[Tenant],
    default_slugs: list[str],
    agency: Agency | None,
    client: ClientInfo,
) -> Response:
    """Create a token for the named tenants (slugs the caller can reach) and show its secret once."""
    data = TokenCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    slugs = data.validated_data.get("tenants") or default_slugs
    named = list(tenants.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {t.slug for t in named})
    if missing:
        message = f"Unknown tenants: {', '.join(missing)}."
        return Response(error_body(400, "invalid", f"tenants: {message}", {"tenants": [message]}), status=400)
    token, raw = services.token_create(
        user=user,
        name=data.validated_data["name"],
        scope=data.validated_data["scope"],
        tenants=named,
        agency=agency,
        expires_at=data.validated_data["expires_at"],
        client=client,
    )
    return Response({**TokenCreatedSerializer(token).data, "token": raw}, status=status.HTTP_201_CREATED)


class TenantMeApi(TenantApi):
    """Who the caller is, and what they may do in this tenant."""

    @extend_schema(responses=MeSerializer, operation_id="tenant_me")
    def list(self, request: Request) -> Response:
        payload = _me_payload(user=self.access.user, token=self.token, access=self.access)
        return Response(MeSerializer(payload).data)


class PublicMeApi(AccountApi):
    """Who the caller is, the tenants they can reach and the agencies they belong to."""

    @extend_schema(responses=MeSerializer, operation_id="account_me")
    def list(self, request: Request) -> Response:
        payload = _me_payload(user=request.user, token=self.token, access=None)  # type: ignore[arg-type]
        return Response(MeSerializer(payload).data)


class MemberApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Members of this tenant and their roles (agency staff reach it through their agency role)."""

    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    cursor_ordering = ("id",)
    capabilities = {
        "create": Capability.MANAGE,
        "partial_update": Capability.MANAGE,
        "destroy": Capability.MANAGE,
    }

    def scoped_queryset(self, access: Access) -> QuerySet[Membership]:
        return selectors.membership_list(access=access)

    @extend_schema(request=MemberCreateSerializer, responses={201: MemberSerializer})
    def create(self, request: Request) -> Response:
        data = MemberCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_add(access=self.access, client=self.client, **data.validated_data)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberUpdateSerializer, responses=MemberSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_change_role(
            access=self.access,
            membership=self.get_object(),
            role=data.validated_data["role"],
            client=self.client,
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.member_remove(access=self.access, membership=self.get_object(), client=self.client)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """API tokens reaching this tenant. The secret is in the create answer only; DELETE revokes."""

    serializer_class = TokenSerializer
    filterset_class = TokenFilter
    capabilities = {"create": Capability.MANAGE, "destroy": Capability.VIEW}

    def scoped_queryset(self, access: Access) -> QuerySet[ApiToken]:
        return selectors.token_list(access=access)

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenCreatedSerializer})
    def create(self, request: Request) -> Response:
        return _token_create_response(
            request=request,
            user=self.access.user,
            tenants=selectors.tenant_list_for_user(user=self.access.user),
            default_slugs=[self.access.tenant.slug],
            agency=None,
            client=self.client,
        )

    @extend_schema(responses=TokenSerializer)
    def destroy(self, request: Request, pk: str) -> Response:
        token = services.token_revoke(access=self.access, token=self.get_object(), client=self.client)
        return Response(TokenSerializer(token).data)


class AuditEventApi(mixins.ListModelMixin, TenantApi):
    """Security-relevant events of this tenant: sign-ins, tokens, roles (admins only)."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    capabilities = {"list": Capability.MANAGE}

    def scoped_queryset(self, access: Access) -> QuerySet[AuditEvent]:
        return selectors.audit_event_list(access=access)


class AgencyTenantApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyApi):
    """The agency's client tenants. Creating one clones the template schema (under a second)."""

    serializer_class = TenantSerializer
    filterset_class = TenantFilter
    capabilities = {"create": Capability.MANAGE}

    def scoped_queryset(self, access: AgencyAccess) -> QuerySet[Tenant]:
        return selectors.tenant_list_for_agency(access=access)

    @extend_schema(request=TenantCreateSerializer, responses={201: TenantSerializer})
    def create(self, request: Request, agency_pk: str) -> Response:
        data = TenantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_create_for_agency(
            access=self.agency_access, client=self.client, **data.validated_data
        )
        return Response(TenantSerializer(tenant).data, status=status.HTTP_201_CREATED)


class AgencyAuditEventApi(mixins.ListModelMixin, AgencyApi):
    """Audit events of the agency and all its client tenants (agency admins)."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    capabilities = {"list": Capability.MANAGE}

    def scoped_queryset(self, access: AgencyAccess) -> QuerySet[AuditEvent]:
        return selectors.audit_event_list_for_agency(access=access)


class AgencyTokenApi(mixins.ListModelMixin, AgencyApi):
    """Agency tokens: they reach the agency endpoints and the client tenants they name."""

    serializer_class = TokenSerializer
    filterset_class = TokenFilter
    capabilities = {"list": Capability.MANAGE, "create": Capability.MANAGE}

    def scoped_queryset(self, access: AgencyAccess) -> QuerySet[ApiToken]:
        return selectors.token_list_for_agency(access=access)

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenCreatedSerializer})
    def create(self, request: Request, agency_pk: str) -> Response:
        return _token_create_response(
            request=request,
            user=self.agency_access.user,
            tenants=selectors.tenant_list_for_agency(access=self.agency_access),
            default_slugs=[],
            agency=Agency.objects.get(pk=self.agency_access.agency_id),
            client=self.client,
        )


def _demo_body(slug: str) -> dict[str, Any]:
    latest = replay.replay_latest()
    return {
        "running": replay.replay_running(),
        "started_at": latest.started_at if latest else None,
        "speed": latest.speed if latest else None,
        "ends_at": latest.ends_at if latest else None,
        "progress": [{"milestone": p.label, "done": p.done} for p in replay.replay_progress(slug)],
    }


class DemoOutageApi(TenantApi):
    """The demo workspaces' outage replay (what the overview's "Replay the outage" button starts):
    its story's mentions arrive through ingest and the team's actions through the crisis services,
    on the workers. Other workspaces answer 400."""

    capabilities = {"list": Capability.VIEW, "create": Capability.MANAGE}

    @extend_schema(responses=DemoReplaySerializer, operation_id="v1_demo_outage_state")
    def list(self, request: Request) -> Response:
        """Whether a replay runs, and the latest replay's milestones."""
        return Response(DemoReplaySerializer(_demo_body(self.access.tenant.slug)).data)

    @extend_schema(request=DemoReplayStartSerializer, responses={202: DemoReplaySerializer})
    def create(self, request: Request) -> Response:
        """Start the replay; refused while one runs and outside the demo workspaces."""
        data = DemoReplayStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        replay.replay_start(slug=self.access.tenant.slug, speed=data.validated_data["speed"])
        body = DemoReplaySerializer(_demo_body(self.access.tenant.slug)).data
        return Response(body, status=status.HTTP_202_ACCEPTED)
