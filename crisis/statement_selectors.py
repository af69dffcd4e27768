"""Reads of statements: an incident's statements, one statement with its claims, approvals and
publications, the templates of the incident's playbook (with what each still needs), who may
approve, and the publishing channels a statement can go to."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404

from crisis.models import (
    ApprovalDecision,
    ClaimStatus,
    Incident,
    Statement,
    StatementApproval,
    StatementClaim,
    StatementPublication,
)
from crisis.playbooks import Playbook, PlaybookError, Template, playbook_parse
from personalization.post_models import PublishingChannel
from tenants.models import AgencyMembership, Membership, Role, Tenant, User

# Who may approve, by the approver role a statement asks for: that role or a higher one.
ROLE_RANK: dict[str, int] = {Role.APPROVER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def approver_role_ok(*, roles: frozenset[str] | set[str], approver_role: str) -> bool:
    need = ROLE_RANK.get(approver_role, ROLE_RANK[Role.OWNER])
    return any(ROLE_RANK.get(role, 0) >= need for role in roles)


def statement_approvers(*, tenant: Tenant, approver_role: str) -> list[User]:
    """Active people whose role in the tenant (direct or through its agency) may approve."""
    need = ROLE_RANK.get(approver_role, ROLE_RANK[Role.OWNER])
    roles = [role for role, rank in ROLE_RANK.items() if rank >= need]
    who = Q(pk__in=Membership.objects.filter(tenant=tenant, role__in=roles).values("user_id"))
    if tenant.agency_id is not None:
        who |= Q(
            pk__in=AgencyMembership.objects.filter(agency_id=tenant.agency_id, role__in=roles).values(
                "user_id"
            )
        )
    return list(User.objects.filter(who, is_active=True).order_by("email"))


def incident_get(*, incident_id: int) -> Incident:
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        raise Http404("No such incident")
    return incident


def statement_list(*, incident: Incident | None = None) -> QuerySet[Statement]:
    """Statements with their claim and approval counts for the current version, newest first."""
    statements = (
        Statement.objects.select_related("incident")
        .annotate(
            claims_total=Count("claims", distinct=True),
            claims_confirmed=Count("claims", filter=Q(claims__status=ClaimStatus.CONFIRMED), distinct=True),
        )
        .prefetch_related(
            Prefetch("approvals", queryset=StatementApproval.objects.order_by("at", "id")),
            Prefetch("publications", queryset=StatementPublication.objects.select_related("post", "channel")),
        )
        .order_by("-created_at", "-id")
    )
    if incident is not None:
        statements = statements.filter(incident=incident)
    return statements


def statement_get(*, statement_id: int) -> Statement:
    statement = (
        statement_list()
        .prefetch_related(Prefetch("claims", queryset=StatementClaim.objects.order_by("id")))
        .filter(pk=statement_id)
        .first()
    )
    if statement is None:
        raise Http404("No such statement")
    return statement


def claim_get(*, statement: Statement, claim_id: int) -> StatementClaim:
    claim = (
        StatementClaim.objects.select_related("statement").filter(statement=statement, pk=claim_id).first()
    )
    if claim is None:
        raise Http404("No such claim")
    return claim


def current_approvals(statement: Statement) -> list[StatementApproval]:
    """The decisions on the version in review (from the prefetched history)."""
    return [a for a in statement.approvals.all() if a.version == statement.version]


def approvals_count(statement: Statement) -> int:
    return sum(1 for a in current_approvals(statement) if a.decision == ApprovalDecision.APPROVED)


def last_rejection(statement: Statement) -> StatementApproval | None:
    """The latest request for changes, if the statement is a draft because of it."""
    rejected = [a for a in statement.approvals.all() if a.decision == ApprovalDecision.REJECTED]
    if not rejected or rejected[-1].version != statement.version - 1:
        return None
    return rejected[-1]


def incident_playbook(*, incident: Incident) -> Playbook:
    if not incident.playbook_snapshot:
        raise ValidationError({"template_id": "This incident has no playbook: write the statement by hand."})
    try:
        return playbook_parse(incident.playbook_snapshot, source="the incident's playbook")
    except PlaybookError as error:
        raise ValidationError({"template_id": str(error)}) from None


def statement_template_get(*, incident: Incident, template_id: str) -> tuple[Template, Playbook]:
    playbook = incident_playbook(incident=incident)
    for template in playbook.templates:
        if template.id == template_id:
            return template, playbook
    known = ", ".join(t.id for t in playbook.templates)
    raise ValidationError({"template_id": f"The playbook has no template '{template_id}' (it has: {known})."})


@dataclass(frozen=True)
class TemplateChoice:
    id: str
    name: str
    channels: tuple[str, ...]
    text: str
    # name -> (what to fill in, the incident's current value or "")
    variables: dict[str, tuple[str, str]]
    missing: tuple[str, ...]


def statement_templates(*, incident: Incident) -> list[TemplateChoice]:
    """The holding statement templates of the incident's playbook, each with its variables, the
    values the incident has, and those still missing (what the form asks for). [] without one."""
    if not incident.playbook_snapshot:
        return []
    playbook = incident_playbook(incident=incident)
    values = incident.variables or {}
    choices = []
    for template in playbook.templates:
        names = sorted(template.variables)
        variables = {name: (playbook.variables.get(name, name), str(values.get(name, ""))) for name in names}
        missing = tuple(name for name in names if not str(values.get(name, "")).strip())
        choices.append(
            TemplateChoice(template.id, template.name, template.channels, template.text, variables, missing)
        )
    return choices


def publishing_channels() -> QuerySet[PublishingChannel]:
    return PublishingChannel.objects.order_by("name")
