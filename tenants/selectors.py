"""Reads of public-schema data. Every function that returns tenant-owned rows takes an `Access`
(or `AgencyAccess`) and filters by its tenant: this is where cross-tenant leaks would happen."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from tenants.access import Access, AgencyAccess, Capability
from tenants.models import Agency, ApiToken, AuditEvent, Membership, Tenant, User


def tenant_list_for_user(*, user: User) -> QuerySet[Tenant]:
    """Client tenants the user reaches, directly or through an agency role."""
    return (
        Tenant.objects.filter(is_client=True)
        .filter(Q(memberships__user=user) | Q(agency__memberships__user=user))
        .select_related("agency")
        .distinct()
        .order_by("name")
    )


def tenant_list_for_agency(*, access: AgencyAccess) -> QuerySet[Tenant]:
    return Tenant.objects.filter(is_client=True, agency_id=access.agency_id).select_related("agency")


def tenant_get_for_agency(*, access: AgencyAccess, tenant_id: int) -> Tenant:
    tenant = tenant_list_for_agency(access=access).filter(pk=tenant_id).first()
    if tenant is None:
        raise Http404("No such tenant")
    return tenant


def agency_list_for_user(*, user: User) -> QuerySet[Agency]:
    return Agency.objects.filter(memberships__user=user).distinct()


def membership_list(*, access: Access) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=access.tenant).select_related("user").order_by("user__email")


def membership_get(*, access: Access, membership_id: int) -> Membership:
    membership = membership_list(access=access).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member")
    return membership


def token_list(*, access: Access) -> QuerySet[ApiToken]:
    """Tokens that reach this tenant: all of them for its admins, one's own for everybody else."""
    tokens = ApiToken.objects.filter(tenants=access.tenant).select_related("user").prefetch_related("tenants")
    if not access.can(Capability.MANAGE):
        tokens = tokens.filter(user=access.user)
    return tokens.order_by("-created_at", "-id")


def token_get(*, access: Access, token_id: int) -> ApiToken:
    token = token_list(access=access).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token")
    return token


def audit_event_list(*, access: Access) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(tenant=access.tenant)
        .select_related("tenant")
        .order_by("-created_at", "-id")
    )


def audit_event_list_for_agency(*, access: AgencyAccess) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(Q(agency_id=access.agency_id) | Q(tenant__agency_id=access.agency_id))
        .select_related("tenant")
        .order_by("-created_at", "-id")
    )


def token_list_for_agency(*, access: AgencyAccess) -> QuerySet[ApiToken]:
    return (
        ApiToken.objects.filter(agency_id=access.agency_id)
        .select_related("user")
        .prefetch_related("tenants")
        .order_by("-created_at", "-id")
    )
