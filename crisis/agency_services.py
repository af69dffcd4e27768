"""An agency admin pauses (and later resumes) several client workspaces in one action: crisis mode
switched in each client's schema through the same services as inside the workspace, each client in
its own transaction, and every client's outcome reported (one failing never leaves the others
half-done silently). Audited once per client (by the crisis-mode services, with the agency named)
and once for the whole action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from crisis import mode_selectors, mode_services
from tenants.access import AgencyAccess, Capability, access_for
from tenants.http import ClientInfo
from tenants.models import Agency, AuditAction, Tenant
from tenants.selectors import tenant_list_for_agency
from tenants.services import audit_record
from tenants.tasking import TenantOutcome, in_tenants

MAX_CLIENTS = 500


@dataclass(frozen=True)
class ClientOutcome:
    tenant_id: int
    tenant: str
    slug: str
    ok: bool
    detail: dict[str, Any]
    error: str = ""


def agency_clients(*, access: AgencyAccess, tenant_ids: list[int]) -> list[Tenant]:
    """The named clients, all of this agency's, or a 400 naming the others (nothing is done)."""
    if not tenant_ids:
        raise ValidationError({"tenants": "Choose at least one client."})
    if len(tenant_ids) > MAX_CLIENTS:
        raise ValidationError({"tenants": f"At most {MAX_CLIENTS} clients at once."})
    found = list(tenant_list_for_agency(access=access).filter(pk__in=set(tenant_ids)).order_by("name"))
    strangers = sorted(set(tenant_ids) - {t.pk for t in found})
    if strangers:
        raise ValidationError({"tenants": f"Not clients of this agency: {', '.join(map(str, strangers))}."})
    return found


def _outcomes(results: list[TenantOutcome]) -> list[ClientOutcome]:
    return [
        ClientOutcome(
            tenant_id=r.tenant.pk,
            tenant=r.tenant.name,
            slug=r.tenant.slug,
            ok=r.ok,
            detail=r.result or {},
            error=r.error,
        )
        for r in results
    ]


def agency_pause_preview(*, access: AgencyAccess, tenant_ids: list[int]) -> list[ClientOutcome]:
    """Per client: whether crisis mode is on already, and the posts a pause would hold."""
    clients = agency_clients(access=access, tenant_ids=tenant_ids)

    def preview(tenant: Tenant) -> dict[str, Any]:
        state = mode_selectors.crisis_mode_state()
        posts = [] if state.on else mode_selectors.crisis_mode_preview(scope="tenant", channels=[])
        return {
            "crisis_mode": state.on,
            "count": len(posts),
            "posts": [
                {"id": p.pk, "channel": p.channel.name, "scheduled_at": p.scheduled_at, "text": p.text[:200]}
                for p in posts[:100]
            ],
        }

    return _outcomes(in_tenants(clients, preview))


def _tenant_access(access: AgencyAccess, tenant: Tenant) -> Any:
    tenant_access = access_for(user=access.user, tenant=tenant, token=access.token)
    if tenant_access is None or not tenant_access.can(Capability.MANAGE):
        raise PermissionDenied("No admin role in this workspace.")
    return tenant_access


def _switch_all(
    *, access: AgencyAccess, tenant_ids: list[int], reason: str, on: bool, client: ClientInfo | None
) -> list[ClientOutcome]:
    if not access.can(Capability.MANAGE):
        raise PermissionDenied("Pausing clients needs the agency admin role.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why (it is recorded in every client's crisis-mode history)."})
    clients = agency_clients(access=access, tenant_ids=tenant_ids)
    agency = Agency.objects.get(pk=access.agency_id)

    def switch(tenant: Tenant) -> dict[str, Any]:
        tenant_access = _tenant_access(access, tenant)
        if on:
            done = mode_services.crisis_mode_engage(
                access=tenant_access, reason=reason, agency=agency, client=client
            )
            return {"switch": done.pk, "held": len(done.held_post_ids)}
        done = mode_services.crisis_mode_release(
            access=tenant_access, reason=reason, agency=agency, client=client
        )
        return {"switch": done.pk, "released": len(done.review)}

    outcomes = _outcomes(in_tenants(clients, switch))
    audit_record(
        action=AuditAction.AGENCY_PAUSE if on else AuditAction.AGENCY_RESUME,
        actor=access.user,
        agency=agency,
        target=f"{'pause' if on else 'resume'} {len(clients)} clients",
        client=client,
        details={
            "reason": reason.strip(),
            "succeeded": [o.slug for o in outcomes if o.ok],
            "failed": {o.slug: o.error for o in outcomes if not o.ok},
        },
    )
    return outcomes


def agency_pause(
    *, access: AgencyAccess, tenant_ids: list[int], reason: str, client: ClientInfo | None = None
) -> list[ClientOutcome]:
    """Switch crisis mode on (the whole workspace) in every named client."""
    return _switch_all(access=access, tenant_ids=tenant_ids, reason=reason, on=True, client=client)


def agency_resume(
    *, access: AgencyAccess, tenant_ids: list[int], reason: str, client: ClientInfo | None = None
) -> list[ClientOutcome]:
    """Switch crisis mode off in every named client, releasing held posts as scheduled. A client
    with a post whose time passed while held fails with that reason: a person reviews it in the
    workspace (its crisis mode page)."""
    return _switch_all(access=access, tenant_ids=tenant_ids, reason=reason, on=False, client=client)
