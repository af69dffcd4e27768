"""Portal pages of statements: an incident's statements with the form to draft one (from a template
of its playbook, asking for the variables it still needs, or by hand), and the statement editor with
its tone report (flags highlighted in the text, missing elements), the claims checklist, the approval
panel (who decided, the deadline, escalation) and the publish form. Every form works without
JavaScript; the script only adds live tone feedback while typing. The same services as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from crisis import statement_selectors as selectors
from crisis import statement_services as services
from crisis.models import Incident, Statement, StatementStatus
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.models import User
from tenants.views import tenant_page


def _error_text(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs)
            for field, msgs in error.message_dict.items()
        )
    return "; ".join(error.messages)


def _incident(incident_id: int) -> Incident:
    return selectors.incident_get(incident_id=incident_id)


def _statement(statement_id: int) -> Statement:
    return selectors.statement_get(statement_id=statement_id)


def _to_editor(statement_id: int, anchor: str = "") -> HttpResponse:
    return redirect(reverse("crisis-statement", args=[statement_id]) + (f"#{anchor}" if anchor else ""))


@require_GET
@tenant_page()
def statement_list_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = _incident(incident_id)
    try:
        templates = selectors.statement_templates(incident=incident)
    except ValidationError as error:
        templates = []
        messages.error(request, _error_text(error))
    chosen = request.GET.get("template", "")
    return render(
        request,
        "crisis/statements/list.html",
        {
            "tab": "incidents",
            "incident": incident,
            "statements": list(selectors.statement_list(incident=incident)[:200]),
            "templates": templates,
            "chosen": next((t for t in templates if t.id == chosen), None),
            "can_edit": access.can(Capability.EDIT),
        },
    )


@api_equivalent("incidents_statements_create")
@require_POST
@tenant_page(Capability.EDIT)
def statement_create_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = _incident(incident_id)
    template_id = request.POST.get("template_id", "")
    variables = {
        key.removeprefix("var_"): value for key, value in request.POST.items() if key.startswith("var_")
    }
    try:
        statement = services.statement_draft(
            incident=incident,
            access=access,
            title=request.POST.get("title", ""),
            body=request.POST.get("body", ""),
            template_id=template_id,
            variables=variables,
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
        url = reverse("crisis-incident-statements", args=[incident.pk])
        return redirect(f"{url}?template={template_id}#new" if template_id else f"{url}#new")
    messages.success(request, "Draft saved. The tone check has read it: see its report below.")
    return _to_editor(statement.pk)


def _segments(body: str, flags: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None]]:
    """The body cut into plain and flagged pieces (overlapping flags: the first one wins)."""
    pieces: list[tuple[str, dict[str, Any] | None]] = []
    cursor = 0
    for flag in sorted(flags, key=lambda f: (f["start"], -f["end"])):
        start, end = max(int(flag["start"]), cursor), int(flag["end"])
        if end <= start or end > len(body):
            continue
        if start > cursor:
            pieces.append((body[cursor:start], None))
        pieces.append((body[start:end], flag))
        cursor = end
    if cursor < len(body):
        pieces.append((body[cursor:], None))
    return pieces


def _names(user_ids: set[int]) -> dict[int, str]:
    return {user.pk: user.display_name for user in User.objects.filter(pk__in=user_ids)}


@require_GET
@tenant_page()
def statement_view(request: HttpRequest, access: Access, statement_id: int) -> HttpResponse:
    statement = _statement(statement_id)
    claims = list(statement.claims.all())
    approvals = list(statement.approvals.all())
    names = _names(
        {a.approver_id for a in approvals}
        | {c.confirmed_by_id for c in claims if c.confirmed_by_id}
        | {pk for pk in (statement.created_by_id, statement.edited_by_id) if pk}
    )
    report = statement.tone_report or {}
    writers = {statement.created_by_id, statement.edited_by_id}
    decided = any(a.approver_id == access.user.pk for a in selectors.current_approvals(statement))
    can_decide = (
        statement.status == StatementStatus.IN_REVIEW
        and access.can(Capability.APPROVE)
        and access.user.pk not in writers
        and not decided
        and selectors.approver_role_ok(roles=access.roles, approver_role=statement.approver_role)
    )
    due_in = overdue = 0
    if statement.status == StatementStatus.IN_REVIEW and statement.approval_due_at:
        seconds = (statement.approval_due_at - timezone.now()).total_seconds()
        due_in, overdue = max(int(seconds // 60), 0), max(int(-seconds // 60), 0)
    channels = list(selectors.publishing_channels())
    published_to = {p.channel_id for p in statement.publications.all()}
    return render(
        request,
        "crisis/statements/editor.html",
        {
            "tab": "incidents",
            "statement": statement,
            "incident": statement.incident,
            "report": report,
            "segments": _segments(statement.body, report.get("flags", [])),
            "claims": [(c, names.get(c.confirmed_by_id or 0, "")) for c in claims],
            "suggested": services.claims_suggest(body=statement.body, known=[c.text for c in claims]),
            "unconfirmed": sum(1 for c in claims if c.status != "confirmed"),
            "approvals": [(a, names.get(a.approver_id, f"user {a.approver_id}")) for a in approvals],
            "approvals_count": selectors.approvals_count(statement),
            "rejection": selectors.last_rejection(statement),
            "author": names.get(statement.created_by_id or 0, ""),
            "settings": services.statement_settings_get(),
            "due_in": due_in,
            "overdue": overdue,
            "can_edit": access.can(Capability.EDIT) and statement.status != StatementStatus.PUBLISHED,
            "can_decide": can_decide,
            "is_writer": access.user.pk in writers,
            "can_publish": access.can(Capability.APPROVE)
            and statement.status in (StatementStatus.APPROVED, StatementStatus.PUBLISHED),
            "channels": [
                (channel, services.channel_is_status_page(channel), channel.pk in published_to)
                for channel in channels
            ],
            "publications": [
                (p, p.channel is not None and services.channel_is_status_page(p.channel))
                for p in statement.publications.all()
            ],
            "role_choices": services.APPROVER_ROLES,
        },
    )


@api_equivalent("statements_partial_update")
@require_POST
@tenant_page(Capability.EDIT)
def statement_edit_view(request: HttpRequest, access: Access, statement_id: int) -> HttpResponse:
    statement = _statement(statement_id)
    try:
        before = statement.version
        statement = services.statement_update(
            statement=statement, access=access, title=request.POST.get("title"), body=request.POST.get("body")
        )
        note = f" It is a draft again (version {statement.version})." if statement.version != before else ""
        messages.success(request, "Saved; the tone check has read it again." + note)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return _to_editor(statement.pk, "tone")


@api_equivalent("statements_claims_create")
@require_POST
@tenant_page(Capability.EDIT)
def claim_add_view(request: HttpRequest, access: Access, statement_id: int) -> HttpResponse:
    statement = _statement(statement_id)
    try:
        services.claim_add(statement=statement, access=access, text=request.POST.get("text", ""))
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return _to_editor(statement.pk, "claims")


@api_equivalent("statements_claims_partial_update")
@require_POST
@tenant_page(Capability.EDIT)
def claim_verify_view(request: HttpRequest, access: Access, statement_id: int, claim_id: int) -> HttpResponse:
    statement = _statement(statement_id)
    claim = selectors.claim_get(statement=statement, claim_id=claim_id)
    try:
        services.claim_verify(
            claim=claim,
            access=access,
            status=request.POST.get("status", ""),
            basis=request.POST.get("basis", ""),
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return _to_editor(statement.pk, "claims")


def _int_or_none(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


@api_equivalent("statements_submit_create")
@require_POST
@tenant_page(Capability.EDIT)
def statement_submit_view(request: HttpRequest, access: Access, statement_id: int) -> HttpResponse:
    statement = _statement(statement_id)
    try:
        statement = services.statement_submit(
            statement=statement,
            access=access,
            approvals_required=_int_or_none(request.POST.get("approvals_required")),
            approver_role=request.POST.get("approver_role") or None,
            due_minutes=_int_or_none(request.POST.get("due_minutes")),
        )
        messages.success(request, "Sent for approval.")
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return _to_editor(statement.pk, "approval")


@api_equivalent("statements_approve_create", "statements_reject_create")
@require_POST
@tenant_page(Capability.APPROVE)
def statement_decide_view(request: HttpRequest, access: Access, statement_id: int) -> HttpResponse:
    statement = _statement(statement_id)
    decision = "rejected" if request.POST.get("decision") == "rejected" else "approved"
    try:
        statement = services.statement_decide(
            statement=statement, access=access, decision=decision, comment=request.POST.get("comment", "")
        )
        messages.success(
            request,
            "Changes requested: it is a draft again." if decision == "rejected" else "Approval recorded.",
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    except PermissionDenied as error:
        messages.error(request, str(error))
    return _to_editor(statement.pk, "approval")


@api_equivalent("statements_publish_create")
@require_POST
@tenant_page(Capability.APPROVE)
def statement_publish_view(request: HttpRequest, access: Access, statement_id: int) -> HttpResponse:
    statement = _statement(statement_id)
    ids = [int(raw) for raw in request.POST.getlist("channels") if raw.isdigit()]
    try:
        made = services.statement_publish(statement=statement, access=access, channel_ids=ids)
        if made:
            messages.success(
                request, f"Published to {len(made)} channel{'s' if len(made) != 1 else ''}: going out now."
            )
        else:
            messages.info(request, "It was published to those channels already: nothing sent twice.")
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return _to_editor(statement.pk, "publish")


portal_urlpatterns: list[URLPattern] = [
    path(
        "crisis/incidents/<int:incident_id>/statements/",
        statement_list_view,
        name="crisis-incident-statements",
    ),
    path(
        "crisis/incidents/<int:incident_id>/statements/new/",
        statement_create_view,
        name="crisis-incident-statement-new",
    ),
    path("crisis/statements/<int:statement_id>/", statement_view, name="crisis-statement"),
    path("crisis/statements/<int:statement_id>/edit/", statement_edit_view, name="crisis-statement-edit"),
    path("crisis/statements/<int:statement_id>/claims/", claim_add_view, name="crisis-statement-claim-add"),
    path(
        "crisis/statements/<int:statement_id>/claims/<int:claim_id>/",
        claim_verify_view,
        name="crisis-statement-claim",
    ),
    path(
        "crisis/statements/<int:statement_id>/submit/", statement_submit_view, name="crisis-statement-submit"
    ),
    path(
        "crisis/statements/<int:statement_id>/decide/", statement_decide_view, name="crisis-statement-decide"
    ),
    path(
        "crisis/statements/<int:statement_id>/publish/",
        statement_publish_view,
        name="crisis-statement-publish",
    ),
]
