"""Portal pages of incidents and playbooks: the incident list, the declare form (suggestion, then a
preview of the posts it would hold, then confirm), the incident room, and the playbooks (list by
scenario, view, edit as YAML or step by step, duplicate, deactivate).

Views are thin: a form checks input, one selector or service works, a template renders. Everyone in
the tenant reads; every change needs EDIT (the services check it too). Forms work without JS.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crisis import incident_selectors as selectors
from crisis import incident_services as services
from crisis import playbook_services
from crisis.incident_forms import (
    DeclareForm,
    IncidentEditForm,
    IncidentFilterForm,
    NoteForm,
    PlaybookYamlForm,
    RoleForm,
    StatusForm,
    StepFormSet,
    SuggestForm,
    TaskAddForm,
    TaskChangeForm,
)
from crisis.incident_services import ROLE_LABELS
from crisis.models import Incident, IncidentStatus, ScenarioChoice, TaskStatus, TimelineKind
from crisis.playbooks import Role
from crisis.scenarios import UNCLEAR
from listening import selectors as listening_selectors
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.http import client_info
from tenants.views import _form_errors, tenant_page

PAGE_SIZE = 50
# A mark per timeline kind (the label says it in words; the mark helps the eye scan). Plain symbols
# that the portal's fonts carry, not emoji, which a server without an emoji font shows as boxes.
TIMELINE_ICONS = {
    TimelineKind.DECLARED: "⚑",
    TimelineKind.ALERT: "!",
    TimelineKind.RISK: "↗",
    TimelineKind.STATUS: "↻",
    TimelineKind.SEVERITY: "▲",
    TimelineKind.OWNER: "☺",
    TimelineKind.TASK: "✓",
    TimelineKind.STATEMENT: "✎",
    TimelineKind.APPROVAL: "✔",
    TimelineKind.PUBLISHED: "➚",
    TimelineKind.POSTS_PAUSED: "‖",
    TimelineKind.POSTS_RESUMED: "▶",
    TimelineKind.POST_SENT: "✉",
    TimelineKind.NOTE: "✎",
}


def _people(access: Access) -> list[Any]:
    return list(selectors.member_list(tenant=access.tenant))


def _fail(request: HttpRequest, error: ValidationError) -> None:
    messages.error(request, " ".join(error.messages))


# Incidents -------------------------------------------------------------------------------------------


@require_GET
@tenant_page()
def incidents_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = IncidentFilterForm(request.GET or None)
    filters = selectors.IncidentFilters()
    if form.is_valid():
        v = form.cleaned_data
        filters = selectors.IncidentFilters(
            status=v["status"], scenario=v["scenario"], severity=v["severity"]
        )
    incidents = list(selectors.incident_list(filters=filters)[:PAGE_SIZE])
    people = selectors.people_by_id(ids={i.owner_id for i in incidents if i.owner_id})
    for incident in incidents:
        incident.owner = people.get(incident.owner_id or 0)  # type: ignore[attr-defined]
    return render(
        request,
        "crisis/incidents/list.html",
        {
            "tab": "incidents",
            "form": form,
            "incidents": incidents,
            "can_edit": access.can(Capability.EDIT),
        },
    )


def _declare_context(
    request: HttpRequest, access: Access, *, data: Any, alert: Any, suggestion: Any
) -> dict[str, Any]:
    playbooks = list(selectors.playbook_list(active_only=True))
    chosen_id = (data or {}).get("playbook") if data else None
    chosen = next((p for p in playbooks if str(p.pk) == str(chosen_id)), None)
    if data is None and suggestion is not None:
        chosen = suggestion.playbook
    variable_names = sorted((chosen.definition.get("variables") or {}) if chosen else [])
    initial: dict[str, Any] = {"owner": access.user.pk, "alert": alert.pk if alert else None}
    if suggestion is not None and suggestion.scenario != UNCLEAR:
        initial["scenario"] = suggestion.scenario
    if chosen is not None:
        initial["playbook"] = chosen.pk
    if alert is not None:
        initial["title"] = alert.rule.name
        initial["summary"] = alert.why
    form = DeclareForm(
        data,
        people=_people(access),
        playbooks=playbooks,
        channels=list(selectors.publishing_channel_list()),
        variable_names=variable_names,
        initial=initial,
    )
    return {
        "tab": "incidents",
        "form": form,
        "alert": alert,
        "suggestion": suggestion,
        "suggest_form": SuggestForm(request.GET or None),
        "chosen_playbook": chosen,
        "variable_fields": [form[f"var_{name}"] for name in variable_names],
    }


def _alert_or_none(raw: Any) -> Any:
    if raw in (None, ""):
        return None
    if not str(raw).isdigit() or len(str(raw)) > 18:
        raise Http404("No such alert")
    return listening_selectors.alert_get(alert_id=int(raw))


@api_equivalent("incidents_preview_create", "incidents_create")
@require_http_methods(["GET", "POST"])
@tenant_page(Capability.EDIT)
def declare_view(request: HttpRequest, access: Access) -> HttpResponse:
    """GET: the form, with the suggestion for the alert or the description. POST step=preview: the
    posts it would hold, and the confirm button. POST step=confirm: declare."""
    if request.method == "GET":
        alert = _alert_or_none(request.GET.get("alert"))
        description = request.GET.get("description", "")[:20_000]
        suggestion = None
        if alert is not None or description.strip():
            suggestion = services.scenario_suggest(alert=alert, description=description)
        context = _declare_context(request, access, data=None, alert=alert, suggestion=suggestion)
        return render(request, "crisis/incidents/declare.html", context)
    alert = _alert_or_none(request.POST.get("alert"))
    context = _declare_context(request, access, data=request.POST, alert=alert, suggestion=None)
    form = context["form"]
    if form.is_valid():
        v = form.cleaned_data
        channels = [c for c in selectors.publishing_channel_list() if c.pk in v["channels"]]
        if request.POST.get("step") == "confirm":
            playbook = selectors.playbook_get(playbook_id=v["playbook"]) if v["playbook"] else None
            try:
                declared = services.incident_declare(
                    access=access,
                    title=v["title"],
                    summary=v["summary"],
                    scenario=v["scenario"],
                    severity=v["severity"],
                    owner_id=v["owner"],
                    playbook=playbook,
                    alert=alert,
                    variables=form.variables(),
                    pause=v["pause"],
                    channel_ids=v["channels"],
                    client=client_info(request),
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                incident = declared.incident
                messages.success(
                    request,
                    f"Incident #{incident.pk} declared; {len(declared.held_post_ids)} scheduled "
                    f"post{'s' if len(declared.held_post_ids) != 1 else ''} held.",
                )
                return redirect("crisis-incident", incident_id=incident.pk)
        if form.is_valid():
            if v["pause"] == selectors.PauseMode.CHANNELS and not channels:
                form.add_error("channels", "Choose the channels whose posts to pause.")
            else:
                context["preview"] = selectors.incident_pause_preview(mode=v["pause"], channels=channels)
                context["previewed"] = True
    return render(request, "crisis/incidents/declare.html", context)


def _room_context(access: Access, incident: Incident) -> dict[str, Any]:
    tasks = list(selectors.task_list(incident=incident))
    timeline = list(selectors.timeline_list(incident=incident))
    roles = list(incident.roles.order_by("role"))
    ids = {
        incident.owner_id,
        incident.declared_by_id,
        *(t.owner_id for t in tasks),
        *(r.user_id for r in roles),
    }
    people = selectors.people_by_id(ids={i for i in ids if i})
    now = timezone.now()
    for task in tasks:
        task.owner = people.get(task.owner_id or 0)  # type: ignore[attr-defined]
        task.role_label = ROLE_LABELS.get(task.role, task.role) if task.role else ""  # type: ignore[attr-defined,call-overload]
        task.overdue = task.status == TaskStatus.OPEN and task.due_at is not None and task.due_at < now  # type: ignore[attr-defined]
    for role in roles:
        role.user = people.get(role.user_id)  # type: ignore[attr-defined]
        role.label = ROLE_LABELS.get(role.role, role.role)  # type: ignore[attr-defined,call-overload]
    for entry in timeline:
        entry.icon = TIMELINE_ICONS.get(entry.kind, "•")  # type: ignore[attr-defined,call-overload]
    team = _people(access)
    can_edit = access.can(Capability.EDIT) and incident.status != IncidentStatus.CLOSED
    return {
        "tab": "incidents",
        "incident": incident,
        "owner": people.get(incident.owner_id or 0),
        "tasks": tasks,
        "timeline": timeline,
        "roles": roles,
        "statements": list(incident.statements.order_by("created_at", "id")),
        "can_edit": can_edit,
        "can_note": access.can(Capability.EDIT),
        "edit_form": IncidentEditForm(
            people=team, initial={"severity": incident.severity, "owner": incident.owner_id}
        ),
        "role_form": RoleForm(people=team),
        "task_form": TaskAddForm(people=team),
        "people": team,
        "note_form": NoteForm(),
        "status_form": StatusForm(),
        "task_statuses": TaskStatus.choices,
    }


@require_GET
@tenant_page()
def incident_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = selectors.incident_get(incident_id=incident_id)
    return render(request, "crisis/incidents/room.html", _room_context(access, incident))


def _back(incident_id: int) -> HttpResponse:
    return redirect("crisis-incident", incident_id=incident_id)


@api_equivalent("incidents_partial_update")
@require_POST
@tenant_page(Capability.EDIT)
def incident_edit_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = selectors.incident_get(incident_id=incident_id)
    form = IncidentEditForm(request.POST, people=_people(access))
    if not form.is_valid():
        messages.error(request, "Choose a severity and an owner from the lists.")
        return _back(incident.pk)
    try:
        services.incident_update(
            access=access,
            incident=incident,
            severity=form.cleaned_data["severity"],
            owner_id=form.cleaned_data["owner"],
        )
    except ValidationError as error:
        _fail(request, error)
    else:
        messages.success(request, "Incident updated.")
    return _back(incident.pk)


@api_equivalent("incidents_roles_create")
@require_POST
@tenant_page(Capability.EDIT)
def incident_role_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = selectors.incident_get(incident_id=incident_id)
    form = RoleForm(request.POST, people=_people(access))
    if not form.is_valid():
        messages.error(request, "Choose a role and a member from the lists.")
        return _back(incident.pk)
    try:
        services.incident_role_set(
            access=access,
            incident=incident,
            role=form.cleaned_data["role"],
            user_id=form.cleaned_data["user"],
        )
    except ValidationError as error:
        _fail(request, error)
    else:
        messages.success(request, f"{ROLE_LABELS.get(Role(form.cleaned_data['role']))} set.")
    return _back(incident.pk)


STATUS_ACTIONS = {
    "resolve": (services.incident_resolve, "resolved"),
    "close": (services.incident_close, "closed"),
    "reopen": (services.incident_reopen, "reopened"),
}


@api_equivalent("incidents_resolve_create", "incidents_close_create", "incidents_reopen_create")
@require_POST
@tenant_page(Capability.EDIT)
def incident_status_view(request: HttpRequest, access: Access, incident_id: int, action: str) -> HttpResponse:
    if action not in STATUS_ACTIONS:
        raise Http404("No such action")
    incident = selectors.incident_get(incident_id=incident_id)
    form = StatusForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    change, done = STATUS_ACTIONS[action]
    try:
        change(access=access, incident=incident, note=note, client=client_info(request))
    except ValidationError as error:
        _fail(request, error)
    else:
        messages.success(request, f"Incident #{incident.pk} {done}.")
    return _back(incident.pk)


@api_equivalent("incidents_tasks_create")
@require_POST
@tenant_page(Capability.EDIT)
def task_add_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = selectors.incident_get(incident_id=incident_id)
    form = TaskAddForm(request.POST, people=_people(access))
    if not form.is_valid():
        messages.error(request, "A task needs a title; pick its owner from the list and a valid due time.")
        return _back(incident.pk)
    try:
        services.task_create(
            access=access,
            incident=incident,
            title=form.cleaned_data["title"],
            owner_id=form.cleaned_data["owner"],
            due_at=form.cleaned_data["due_at"],
        )
    except ValidationError as error:
        _fail(request, error)
    else:
        messages.success(request, "Task added.")
    return _back(incident.pk)


@api_equivalent("incidents_tasks_partial_update")
@require_POST
@tenant_page(Capability.EDIT)
def task_change_view(request: HttpRequest, access: Access, incident_id: int, task_id: int) -> HttpResponse:
    incident = selectors.incident_get(incident_id=incident_id)
    task = selectors.task_list(incident=incident).filter(pk=task_id).first()
    if task is None:
        raise Http404("No such task")
    form = TaskChangeForm(request.POST, people=_people(access))
    if not form.is_valid():
        messages.error(request, "Choose a status or a member from the lists.")
        return _back(incident.pk)
    try:
        services.task_update(
            access=access,
            task=task,
            status=form.cleaned_data["status"] or None,
            owner_id=form.cleaned_data["owner"],
        )
    except ValidationError as error:
        _fail(request, error)
    return _back(incident.pk)


@api_equivalent("incidents_notes_create")
@require_POST
@tenant_page(Capability.EDIT)
def note_add_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = selectors.incident_get(incident_id=incident_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A note of 1 to 5,000 characters.")
        return _back(incident.pk)
    services.note_add(access=access, incident=incident, text=form.cleaned_data["text"])
    return redirect(f"/crisis/incidents/{incident.pk}/#timeline")


# Playbooks -------------------------------------------------------------------------------------------


@require_GET
@tenant_page()
def playbooks_view(request: HttpRequest, access: Access) -> HttpResponse:
    scenario = request.GET.get("scenario", "")
    if scenario not in ScenarioChoice.values:
        scenario = ""
    playbooks = list(selectors.playbook_list(scenario=scenario))
    groups = [
        (label, [p for p in playbooks if p.scenario == value])
        for value, label in ScenarioChoice.choices
        if any(p.scenario == value for p in playbooks)
    ]
    return render(
        request,
        "crisis/playbooks/list.html",
        {
            "tab": "playbooks",
            "groups": groups,
            "scenario": scenario,
            "scenarios": ScenarioChoice.choices,
            "can_edit": access.can(Capability.EDIT),
        },
    )


def _steps_initial(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": s["id"],
            "title": s["title"],
            "owner": s["owner"],
            "due_minutes": s["due_minutes"],
            "channels": s.get("channels", []),
            "instructions": s["instructions"],
        }
        for s in definition.get("steps", [])
    ]


def _playbook_page(request: HttpRequest, access: Access, playbook: Any, **forms_: Any) -> HttpResponse:
    yaml_form = forms_.get("yaml_form") or PlaybookYamlForm(
        initial={"yaml": playbook_services.playbook_as_yaml(definition=playbook.definition)}
    )
    steps = forms_.get("steps") or StepFormSet(initial=_steps_initial(playbook.definition), prefix="step")
    return render(
        request,
        "crisis/playbooks/detail.html",
        {
            "tab": "playbooks",
            "playbook": playbook,
            "definition": playbook.definition,
            "yaml_form": yaml_form,
            "steps": steps,
            "role_labels": {role.value: label for role, label in ROLE_LABELS.items()},
            "can_edit": access.can(Capability.EDIT),
            "edit": request.GET.get("edit", "") if request.method == "GET" else forms_.get("edit", ""),
        },
    )


@require_GET
@tenant_page()
def playbook_view(request: HttpRequest, access: Access, playbook_id: int) -> HttpResponse:
    return _playbook_page(request, access, selectors.playbook_get(playbook_id=playbook_id))


def _save(request: HttpRequest, access: Access, playbook: Any, definition: dict[str, Any]) -> Any:
    return playbook_services.playbook_update(
        access=access, playbook=playbook, definition=definition, client=client_info(request)
    )


@api_equivalent("playbooks_partial_update")
@require_POST
@tenant_page(Capability.EDIT)
def playbook_yaml_view(request: HttpRequest, access: Access, playbook_id: int) -> HttpResponse:
    playbook = selectors.playbook_get(playbook_id=playbook_id)
    form = PlaybookYamlForm(request.POST)
    if form.is_valid():
        try:
            document = playbook_services.playbook_document(text=form.cleaned_data["yaml"])
            playbook = _save(request, access, playbook, document)
        except ValidationError as error:
            form.add_error("yaml", error.message_dict.get("definition", error.messages))
        else:
            messages.success(request, f"Playbook saved (version {playbook.version}).")
            return redirect("crisis-playbook", playbook_id=playbook.pk)
    return _playbook_page(request, access, playbook, yaml_form=form, edit="yaml")


@api_equivalent("playbooks_partial_update")
@require_POST
@tenant_page(Capability.EDIT)
def playbook_steps_view(request: HttpRequest, access: Access, playbook_id: int) -> HttpResponse:
    playbook = selectors.playbook_get(playbook_id=playbook_id)
    steps = StepFormSet(request.POST, prefix="step")
    if steps.is_valid():
        rows = [{**row, "channels": list(row.get("channels") or [])} for row in steps.cleaned_data if row]
        for row in rows:
            if not row["channels"]:
                del row["channels"]
        try:
            playbook = _save(
                request,
                access,
                playbook,
                playbook_services.playbook_steps_definition(playbook=playbook, steps=rows),
            )
        except ValidationError as error:
            steps._non_form_errors = steps.error_class(  # type: ignore[attr-defined]
                error.message_dict.get("definition", error.messages)
            )
        else:
            messages.success(request, f"Playbook saved (version {playbook.version}).")
            return redirect("crisis-playbook", playbook_id=playbook.pk)
    return _playbook_page(request, access, playbook, steps=steps, edit="steps")


@api_equivalent("playbooks_create")
@require_http_methods(["GET", "POST"])
@tenant_page(Capability.EDIT)
def playbook_new_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = PlaybookYamlForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            document = playbook_services.playbook_document(text=form.cleaned_data["yaml"])
            playbook = playbook_services.playbook_create(
                access=access, definition=document, client=client_info(request)
            )
        except ValidationError as error:
            form.add_error("yaml", error.message_dict.get("definition", error.messages))
        else:
            messages.success(request, f"Playbook '{playbook.name}' created.")
            return redirect("crisis-playbook", playbook_id=playbook.pk)
    return render(
        request,
        "crisis/playbooks/new.html",
        {"tab": "playbooks", "form": form},
    )


@api_equivalent("playbooks_duplicate_create")
@require_POST
@tenant_page(Capability.EDIT)
def playbook_duplicate_view(request: HttpRequest, access: Access, playbook_id: int) -> HttpResponse:
    playbook = selectors.playbook_get(playbook_id=playbook_id)
    copy = playbook_services.playbook_duplicate(access=access, playbook=playbook, client=client_info(request))
    messages.success(request, f"'{copy.name}' created: adapt it, then use it instead of the original.")
    return redirect("crisis-playbook", playbook_id=copy.pk)


@api_equivalent("playbooks_partial_update")
@require_POST
@tenant_page(Capability.EDIT)
def playbook_active_view(request: HttpRequest, access: Access, playbook_id: int) -> HttpResponse:
    playbook = selectors.playbook_get(playbook_id=playbook_id)
    active = request.POST.get("active") == "1"
    playbook_services.playbook_update(
        access=access, playbook=playbook, is_active=active, client=client_info(request)
    )
    messages.success(request, f"Playbook {'activated' if active else 'deactivated'}.")
    return redirect("crisis-playbook", playbook_id=playbook.pk)


portal_urlpatterns: list[URLPattern] = [
    path("crisis/incidents/", incidents_view, name="crisis-incidents"),
    path("crisis/incidents/declare/", declare_view, name="crisis-incident-declare"),
    path("crisis/incidents/<int:incident_id>/", incident_view, name="crisis-incident"),
    path("crisis/incidents/<int:incident_id>/edit/", incident_edit_view, name="crisis-incident-edit"),
    path("crisis/incidents/<int:incident_id>/roles/", incident_role_view, name="crisis-incident-role"),
    path(
        "crisis/incidents/<int:incident_id>/status/<slug:action>/",
        incident_status_view,
        name="crisis-incident-status",
    ),
    path("crisis/incidents/<int:incident_id>/tasks/", task_add_view, name="crisis-task-add"),
    path(
        "crisis/incidents/<int:incident_id>/tasks/<int:task_id>/", task_change_view, name="crisis-task-change"
    ),
    path("crisis/incidents/<int:incident_id>/notes/", note_add_view, name="crisis-note-add"),
    path("crisis/playbooks/", playbooks_view, name="crisis-playbooks"),
    path("crisis/playbooks/new/", playbook_new_view, name="crisis-playbook-new"),
    path("crisis/playbooks/<int:playbook_id>/", playbook_view, name="crisis-playbook"),
    path("crisis/playbooks/<int:playbook_id>/yaml/", playbook_yaml_view, name="crisis-playbook-yaml"),
    path("crisis/playbooks/<int:playbook_id>/steps/", playbook_steps_view, name="crisis-playbook-steps"),
    path(
        "crisis/playbooks/<int:playbook_id>/duplicate/",
        playbook_duplicate_view,
        name="crisis-playbook-duplicate",
    ),
    path("crisis/playbooks/<int:playbook_id>/active/", playbook_active_view, name="crisis-playbook-active"),
]
