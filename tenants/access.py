"""Who may do what in which tenant.

A caller's capabilities in a tenant are the union of what their direct membership and their
agency role grant; an API token narrows them to the tenants it names and to its scope. Every API
and portal page reaches tenant data through an `Access` built here, never from a raw user.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tenants.models import AgencyMembership, ApiToken, Membership, Role, Tenant, TokenScope, User


class Capability(StrEnum):
    VIEW = "view"  # read everything in the tenant
    EDIT = "edit"  # queries, sources, drafts, audiences
    APPROVE = "approve"  # approve statements
    MANAGE = "manage"  # members, tokens, settings, audit log
    OWN = "own"  # ownership transfer, deleting the tenant


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.VIEWER: frozenset({Capability.VIEW}),
    Role.ANALYST: frozenset({Capability.VIEW, Capability.EDIT}),
    Role.APPROVER: frozenset({Capability.VIEW, Capability.APPROVE}),
    Role.ADMIN: frozenset({Capability.VIEW, Capability.EDIT, Capability.APPROVE, Capability.MANAGE}),
    Role.OWNER: frozenset(Capability),
}
READ_ONLY = frozenset({Capability.VIEW})


@dataclass(frozen=True)
class Access:
    """The caller's standing in one tenant: built per request, never stored."""

    user: User
    tenant: Tenant
    roles: frozenset[str]
    capabilities: frozenset[Capability]
    token: ApiToken | None = None

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


def capabilities_for_roles(roles: frozenset[str] | set[str]) -> frozenset[Capability]:
    caps: set[Capability] = set()
    for role in roles:
        caps |= ROLE_CAPABILITIES[role]
    return frozenset(caps)


def roles_in_tenant(*, user: User, tenant: Tenant) -> frozenset[str]:
    """The user's direct role and agency role in `tenant`, in one query."""
    if not user.is_active or not tenant.is_client:
        return frozenset()
    roles = Membership.objects.filter(user=user, tenant=tenant).order_by().values_list("role", flat=True)
    if tenant.agency_id is not None:
        roles = roles.union(
            AgencyMembership.objects.filter(user=user, agency_id=tenant.agency_id)
            .order_by()
            .values_list("role", flat=True)
        )
    return frozenset(roles)


def token_tenant_ids(token: ApiToken) -> frozenset[int]:
    """The tenants a token names: loaded with the token at authentication, else queried."""
    loaded = getattr(token, "tenant_ids", None)
    if loaded is None:
        loaded = list(token.tenants.values_list("pk", flat=True))
    return frozenset(pk for pk in loaded if pk is not None)


def roles_by_tenant(*, user: User) -> dict[int, frozenset[str]]:
    """The user's roles in every client tenant they reach, direct or through an agency: one query."""
    if not user.is_active:
        return {}
    direct = (
        Membership.objects.filter(user=user, tenant__is_client=True)
        .order_by()
        .values_list("tenant_id", "role")
    )
    via_agency = (
        Tenant.objects.filter(is_client=True, agency__memberships__user=user)
        .order_by()
        .values_list("id", "agency__memberships__role")
    )
    roles: dict[int, set[str]] = {}
    for tenant_id, role in direct.union(via_agency, all=True):
        roles.setdefault(tenant_id, set()).add(role)
    return {tenant_id: frozenset(found) for tenant_id, found in roles.items()}


def access_for(*, user: User, tenant: Tenant, token: ApiToken | None = None) -> Access | None:
    """The caller's access to `tenant`, or None when the tenant must look absent to them."""
    if token is not None and tenant.pk not in token_tenant_ids(token):
        return None
    roles = roles_in_tenant(user=user, tenant=tenant)
    if not roles:
        return None
    caps = capabilities_for_roles(roles)
    if token is not None and token.scope == TokenScope.READ:
        caps &= READ_ONLY
    return Access(user=user, tenant=tenant, roles=roles, capabilities=caps, token=token)


@dataclass(frozen=True)
class AgencyAccess:
    user: User
    agency_id: int
    role: str
    capabilities: frozenset[Capability]
    token: ApiToken | None = None

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


def agency_access_for(*, user: User, agency_id: int, token: ApiToken | None = None) -> AgencyAccess | None:
    if not user.is_active:
        return None
    if token is not None and token.agency_id != agency_id:
        return None
    role = (
        AgencyMembership.objects.filter(user=user, agency_id=agency_id).values_list("role", flat=True).first()
    )
    if role is None:
        return None
    caps = ROLE_CAPABILITIES[role]
    if token is not None and token.scope == TokenScope.READ:
        caps &= READ_ONLY
    return AgencyAccess(user=user, agency_id=agency_id, role=role, capabilities=caps, token=token)
