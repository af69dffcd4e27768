"""Writes of incidents: declaring one (from an alert, by hand or through the API) with its playbook's
tasks, roles and crisis mode in one transaction; changing severity, owner and roles; the tasks;
notes; resolving, closing and reopening; and the risk score's moves while it is open.

Every change writes its timeline entry through `crisis.services.timeline_record`, in the same
transaction as the change. Everything needs the EDIT capability; declaring and status changes are
audited.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from crisis import incident_selectors as selectors
from crisis import mode_services
from crisis.aftermath_models import CrisisModeScope
from crisis.models import (
    Incident,
    IncidentRole,
    IncidentSource,
    IncidentStatus,
    IncidentTask,
    Playbook,
    RiskSnapshot,
    ScenarioChoice,
    Severity,
    TaskStatus,
    TimelineEntry,
    TimelineKind,
)
from crisis.playbooks import Role
from crisis.scenarios import UNCLEAR, scenario_classify
from crisis.services import timeline_record
from listening.models import Alert, AlertEvidence
from personalization.post_models import PublishingChannel
from personalization.post_services import Actor
from tenants.access import Access, Capability, roles_in_tenant
from tenants.http import ClientInfo
from tenants.models import AuditAction, User
from tenants.services import audit_record

EDIT_REFUSED = "Incidents need the 'edit' permission (analysts and admins)."
# A risk move of at least this many points lands on every open incident's timeline.
RISK_STEP = 10.0
MAX_VARIABLE = 500
TASK_VERBS = {"done": "done", "skipped": "skipped", "open": "reopened"}
SUGGEST_EVIDENCE_MENTIONS = 20
ROLE_LABELS = {
    Role.INCIDENT_COMMANDER: "Incident commander",
    Role.COMMS_LEAD: "Comms lead",
    Role.LEGAL: "Legal",
    Role.CISO: "CISO",
    Role.SUPPORT_LEAD: "Support lead",
    Role.EXEC_SPONSOR: "Executive sponsor",
    Role.HR_LEAD: "HR lead",
}


def _require_edit(access: Access) -> None:
    if not access.can(Capability.EDIT):
        raise PermissionDenied(EDIT_REFUSED)


def _actor(access: Access) -> Actor:
    return Actor.of(access.user)


def _label(user_id: int | None) -> str:
    if user_id is None:
        return "nobody"
    user = User.objects.filter(pk=user_id).only("email").first()
    return user.email if user else f"user {user_id}"


def _member(access: Access, user_id: Any, field_name: str) -> int:
    """A user id of a member of this tenant, or a 400 naming the field."""
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise ValidationError({field_name: "A user id (a member of this workspace)."})
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not roles_in_tenant(user=user, tenant=access.tenant):
        raise ValidationError({field_name: "Not a member of this workspace."})
    return user.pk


def _open(incident: Incident) -> None:
    if incident.status == IncidentStatus.CLOSED:
        raise ValidationError({"status": "This incident is closed: it can no longer change."})


# Scenario suggestion -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    scenario: str  # a scenario, or "unclear": the people choose
    confidence: float
    evidence: list[dict[str, Any]]  # the matched terms with the text around them
    ranking: list[dict[str, Any]]  # every scenario's score, best first
    playbook: Playbook | None
    mention_ids: list[int] = field(default_factory=list)


def _alert_text(alert: Alert) -> tuple[str, list[int]]:
    evidence = list(
        AlertEvidence.objects.filter(alert=alert)
        .select_related("mention")
        .order_by("-reach", "-mention__posted_at")[:SUGGEST_EVIDENCE_MENTIONS]
    )
    parts = [alert.rule.name, alert.why, *(item.mention.text for item in evidence)]
    return "\n".join(part for part in parts if part), [item.mention_id for item in evidence]


def scenario_suggest(*, alert: Alert | None = None, description: str = "") -> Suggestion:
    """The scenario an alert (its rule, reasons and evidence mentions) or a written description
    describes, with the terms that say so, and the active playbook for it."""
    mention_ids: list[int] = []
    if alert is not None:
        text, mention_ids = _alert_text(alert)
        if description.strip():
            text = f"{description.strip()}\n{text}"
    else:
        text = description.strip()
    if not text:
        raise ValidationError({"description": "Describe what is happening, or name an alert."})
    result = scenario_classify(text[:20_000])
    evidence = [
        {
            "term": hit.term,
            "weight": hit.weight,
            "context": text[max(0, hit.start - 60) : hit.end + 60].replace("\n", " "),
        }
        for hit in result.evidence
    ]
    return Suggestion(
        scenario=result.scenario,
        confidence=result.confidence,
        evidence=evidence,
        ranking=[{"scenario": s.scenario, "score": round(s.score, 4)} for s in result.ranking],
        playbook=selectors.playbook_for_scenario(scenario=result.scenario)
        if result.scenario != UNCLEAR
        else None,
        mention_ids=mention_ids,
    )


# Declaring -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    incident: Incident
    replayed: bool
    held_post_ids: list[int]


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request."""


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _variables(playbook: Playbook | None, variables: Any) -> dict[str, str]:
    if variables in (None, ""):
        return {}
    if not isinstance(variables, dict):
        raise ValidationError({"variables": "A mapping of variable names to their values."})
    declared = set((playbook.definition.get("variables") or {}) if playbook else ())
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for name, value in variables.items():
        if name not in declared:
            errors[f"variables.{name}"] = "Not a variable of the chosen playbook."
        elif not isinstance(value, str) or len(value) > MAX_VARIABLE:
            errors[f"variables.{name}"] = f"A text of at most {MAX_VARIABLE} characters."
        elif value.strip():
            clean[name] = value.strip()
    if errors:
        raise ValidationError(errors)
    return clean


def _channels(mode: str, channel_ids: Any) -> list[PublishingChannel]:
    if mode not in selectors.PauseMode.VALUES:
        raise ValidationError({"pause": f"One of {', '.join(selectors.PauseMode.VALUES)}."})
    if mode != selectors.PauseMode.CHANNELS:
        return []
    if not isinstance(channel_ids, list | tuple) or not channel_ids:
        raise ValidationError({"channels": "Choose the channels whose posts to pause."})
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in channel_ids):
        raise ValidationError({"channels": "Channel ids (numbers)."})
    channels = list(selectors.publishing_channel_list().filter(pk__in=channel_ids))
    if len(channels) != len(set(channel_ids)):
        raise ValidationError({"channels": "One of these channels does not exist."})
    return channels


def _validate_declaration(
    access: Access, *, title: str, scenario: str, severity: Any, owner_id: Any
) -> tuple[str, int, int]:
    errors: dict[str, str] = {}
    title = (title or "").strip() if isinstance(title, str) else ""
    if not title or len(title) > 200:
        errors["title"] = "A title of 1 to 200 characters."
    if scenario not in ScenarioChoice.values:
        errors["scenario"] = f"One of {', '.join(ScenarioChoice.values)}."
    if isinstance(severity, bool) or severity not in Severity.values:
        errors["severity"] = "1 (critical) to 4 (low)."
    if errors:
        raise ValidationError(errors)
    owner = _member(access, access.user.pk if owner_id is None else owner_id, "owner")
    return title, int(severity), owner


def _first_signal(alert: Alert | None, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(first anomalous signal, detection) for the report's clock."""
    episode = selectors.risk_episode_start(until=alert.fired_at if alert else now)
    if alert is not None:
        first = episode.bucket_start if episode is not None else alert.window_start
        return min(first, alert.window_start), alert.fired_at
    if episode is not None:
        return episode.bucket_start, episode.computed_at
    return None, None


def incident_declare(
    *,
    access: Access,
    title: str,
    scenario: str,
    severity: int = Severity.SEV2,
    owner_id: int | None = None,
    playbook: Playbook | None = None,
    alert: Alert | None = None,
    variables: dict[str, str] | None = None,
    pause: str = selectors.PauseMode.TENANT,
    channel_ids: list[int] | None = None,
    summary: str = "",
    source: str | None = None,
    idempotency_key: str = "",
    client: ClientInfo | None = None,
) -> Declared:
    """Open an incident: the playbook (default: the active one for the scenario) is copied into it,
    its steps become tasks due at declaration + their deadline, owned by the holders of their roles
    (the owner is incident commander and holds every role not yet given), the timeline gets the
    declaration, the alert and the posts held, and scheduled posts are paused (tenant-wide through
    crisis mode, or the chosen channels) with the reason "Incident #N: <title>"."""
    _require_edit(access)
    title, severity, owner = _validate_declaration(
        access, title=title, scenario=scenario, severity=severity, owner_id=owner_id
    )
    if playbook is None:
        playbook = selectors.playbook_for_scenario(scenario=scenario)
    elif not playbook.is_active:
        raise ValidationError({"playbook": "This playbook is deactivated."})
    clean_variables = _variables(playbook, variables)
    channels = _channels(pause, channel_ids or [])
    summary = (summary or "").strip()[:5000]
    body = {
        "title": title,
        "scenario": scenario,
        "severity": severity,
        "owner": owner,
        "playbook": playbook.pk if playbook else None,
        "alert": alert.pk if alert else None,
        "variables": clean_variables,
        "pause": pause,
        "channels": sorted(c.pk for c in channels),
        "summary": summary,
    }
    digest = _digest(body)
    if idempotency_key:
        existing = Incident.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, digest)
    try:
        with transaction.atomic():
            declared = _declare(
                access,
                body=body,
                playbook=playbook,
                alert=alert,
                channels=channels,
                source=source or (IncidentSource.ALERT if alert else IncidentSource.MANUAL),
                idempotency_key=idempotency_key,
                digest=digest,
                client=client,
            )
    except IntegrityError:
        # A concurrent request with the same key won the insert: answer as a replay of it.
        existing = (
            Incident.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None
        )
        if existing is None:
            raise
        return _replay(existing, digest)
    return declared


def _replay(existing: Incident, digest: str) -> Declared:
    if not constant_time_compare(existing.request_digest, digest):
        raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
    return Declared(existing, replayed=True, held_post_ids=[])


def _declare(
    access: Access,
    *,
    body: dict[str, Any],
    playbook: Playbook | None,
    alert: Alert | None,
    channels: list[PublishingChannel],
    source: str,
    idempotency_key: str,
    digest: str,
    client: ClientInfo | None,
) -> Declared:
    now = timezone.now()
    first_signal_at, detected_at = _first_signal(alert, now)
    latest_risk = selectors.risk_latest()
    definition = playbook.definition if playbook else {}
    incident = Incident.objects.create(
        title=body["title"],
        summary=body["summary"],
        scenario=body["scenario"],
        severity=body["severity"],
        source=source,
        owner_id=body["owner"],
        declared_by_id=access.user.pk,
        alert=alert,
        risk_snapshot=latest_risk,
        playbook=playbook,
        playbook_snapshot=definition,
        variables=body["variables"],
        first_signal_at=first_signal_at,
        detected_at=detected_at,
        declared_at=now,
        pauses_posts=body["pause"] != selectors.PauseMode.NONE,
        paused_channel_ids=body["channels"],
        idempotency_key=idempotency_key or None,
        request_digest=digest,
    )
    IncidentRole.objects.create(incident=incident, role=Role.INCIDENT_COMMANDER, user_id=body["owner"])
    IncidentTask.objects.bulk_create(
        IncidentTask(
            incident=incident,
            step_id=step["id"],
            title=step["title"],
            instructions=step["instructions"],
            role=step["owner"],
            owner_id=body["owner"],
            channels=list(step.get("channels", [])),
            due_at=now + timedelta(minutes=step["due_minutes"]),
            position=index,
        )
        for index, step in enumerate(definition.get("steps", []))
    )
    actor = _actor(access)
    timeline_record(
        incident=incident,
        kind=TimelineKind.DECLARED,
        actor=actor,
        text=(
            f"Incident #{incident.pk} declared: {incident.title} "
            f"({incident.get_severity_display()}, {incident.get_scenario_display()}), "
            f"owner {_label(incident.owner_id)}"
            + (f", playbook {playbook.name} v{playbook.version}" if playbook else ", no playbook")
            + "."
        ),
        data={
            "severity": incident.severity,
            "scenario": incident.scenario,
            "owner_id": incident.owner_id,
            "playbook": playbook.key if playbook else None,
            "playbook_version": playbook.version if playbook else None,
            "tasks": len(definition.get("steps", [])),
            "risk_score": latest_risk.score if latest_risk else None,
        },
    )
    if alert is not None:
        timeline_record(
            incident=incident,
            kind=TimelineKind.ALERT,
            actor=None,
            text=f"Alert '{alert.rule.name}' fired at {alert.fired_at:%Y-%m-%d %H:%M %Z}: {alert.why}",
            data={
                "alert_id": alert.pk,
                "fired_at": alert.fired_at.isoformat(),
                "mentions": alert.mention_count,
            },
        )
    held = _pause(access, incident=incident, mode=body["pause"], channels=channels)
    audit_record(
        action=AuditAction.INCIDENT_DECLARED,
        actor=access.user,
        tenant=connection.tenant,  # type: ignore[attr-defined]
        target=f"incident {incident.pk}",
        client=client,
        details={
            "incident_id": incident.pk,
            "title": incident.title,
            "severity": incident.severity,
            "pause": body["pause"],
            "posts_held": len(held),
        },
    )
    return Declared(incident, replayed=False, held_post_ids=held)


def incident_pause_reason(incident: Incident) -> str:
    return f"Incident #{incident.pk}: {incident.title}"


def _pause(access: Access, *, incident: Incident, mode: str, channels: list[PublishingChannel]) -> list[int]:
    """Crisis mode as the declaration chose it (the crisis-mode page then shows it, linked)."""
    if mode == selectors.PauseMode.NONE:
        return []
    scope = CrisisModeScope.TENANT if mode == selectors.PauseMode.TENANT else CrisisModeScope.CHANNELS
    return mode_services.crisis_mode_engage_for_incident(
        access=access,
        incident=incident,
        reason=incident_pause_reason(incident),
        scope=scope,
        channel_ids=[channel.pk for channel in channels],
    )


# Changing an incident --------------------------------------------------------------------------------


def incident_update(
    *,
    access: Access,
    incident: Incident,
    title: str | None = None,
    summary: str | None = None,
    severity: int | None = None,
    owner_id: int | None = None,
) -> Incident:
    """Change what is given; severity and owner changes go on the timeline (a new owner also becomes
    incident commander, taking over the commander's open tasks)."""
    _require_edit(access)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        _open(incident)
        errors: dict[str, str] = {}
        if title is not None and (not isinstance(title, str) or not title.strip() or len(title) > 200):
            errors["title"] = "A title of 1 to 200 characters."
        if severity is not None and (isinstance(severity, bool) or severity not in Severity.values):
            errors["severity"] = "1 (critical) to 4 (low)."
        if errors:
            raise ValidationError(errors)
        actor = _actor(access)
        if title is not None and title.strip() != incident.title:
            before, incident.title = incident.title, title.strip()
            timeline_record(
                incident=incident,
                kind=TimelineKind.NOTE,
                actor=actor,
                text=f"Title changed from '{before}' to '{incident.title}'.",
                data={"field": "title", "from": before, "to": incident.title},
            )
        if summary is not None and summary.strip() != incident.summary:
            incident.summary = summary.strip()[:5000]
            timeline_record(
                incident=incident,
                kind=TimelineKind.NOTE,
                actor=actor,
                text="Summary updated.",
                data={"field": "summary"},
            )
        if severity is not None and severity != incident.severity:
            before_label = incident.get_severity_display()
            before_value, incident.severity = incident.severity, severity
            timeline_record(
                incident=incident,
                kind=TimelineKind.SEVERITY,
                actor=actor,
                text=f"Severity changed from {before_label} to {incident.get_severity_display()}.",
                data={"from": before_value, "to": severity},
            )
        incident.save()
        if owner_id is not None and owner_id != incident.owner_id:
            _role_set(
                access, incident=incident, role=Role.INCIDENT_COMMANDER, user_id=owner_id, field_name="owner"
            )
    return incident


def _role_set(access: Access, *, incident: Incident, role: str, user_id: int | None, field_name: str) -> None:
    previous = IncidentRole.objects.filter(incident=incident, role=role).first()
    before = previous.user_id if previous else incident.owner_id
    if user_id is None:
        if role == Role.INCIDENT_COMMANDER:
            raise ValidationError({field_name: "An incident always has a commander."})
        if previous is None:
            return
        previous.delete()
        after = incident.owner_id
    else:
        after = _member(access, user_id, field_name)
        IncidentRole.objects.update_or_create(incident=incident, role=role, defaults={"user_id": after})
    if role == Role.INCIDENT_COMMANDER:
        Incident.objects.filter(pk=incident.pk).update(owner_id=after)
        incident.owner_id = after
    # Open tasks of the role follow its holder, unless someone gave them to another person; the
    # owner (incident commander) also holds every role nobody was given, and tasks added by hand.
    roles = {role}
    if role == Role.INCIDENT_COMMANDER:
        held = set(IncidentRole.objects.filter(incident=incident).values_list("role", flat=True))
        roles |= set(IncidentTask.objects.filter(incident=incident).values_list("role", flat=True)) - held
    moved = IncidentTask.objects.filter(
        incident=incident, role__in=roles, status=TaskStatus.OPEN, owner_id=before
    ).update(owner_id=after)
    label = ROLE_LABELS.get(role, role)  # type: ignore[call-overload]
    timeline_record(
        incident=incident,
        kind=TimelineKind.OWNER,
        actor=_actor(access),
        text=(
            f"{'Owner and incident commander' if role == Role.INCIDENT_COMMANDER else label}: "
            f"{_label(before)} → {_label(after)}"
            + (f" ({moved} open task{'s' if moved != 1 else ''} reassigned)." if moved else ".")
        ),
        data={"role": role, "from": before, "to": after, "tasks_moved": moved},
    )


def incident_role_set(*, access: Access, incident: Incident, role: str, user_id: int | None) -> Incident:
    """Give a playbook role to a member (None: take it back; the owner holds it again)."""
    _require_edit(access)
    if role not in Role.__members__.values():
        raise ValidationError({"role": f"One of {', '.join(r.value for r in Role)}."})
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        _open(incident)
        _role_set(access, incident=incident, role=role, user_id=user_id, field_name="user")
    return incident


def _status(
    access: Access,
    *,
    incident: Incident,
    allowed_from: str,
    to: str,
    verb: str,
    note: str,
    client: ClientInfo | None,
) -> Incident:
    _require_edit(access)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.status != allowed_from:
            raise ValidationError(
                {"status": f"Only a {allowed_from} incident can be {verb} (this one is {incident.status})."}
            )
        now = timezone.now()
        before, incident.status = incident.status, to
        if to == IncidentStatus.RESOLVED:
            incident.resolved_at = now
        elif to == IncidentStatus.CLOSED:
            incident.closed_at = now
        else:
            incident.resolved_at = None
        incident.save()
        note = (note or "").strip()[:2000]
        timeline_record(
            incident=incident,
            kind=TimelineKind.STATUS,
            actor=_actor(access),
            text=f"Incident {verb}." + (f" {note}" if note else ""),
            data={"from": before, "to": to, "note": note},
        )
        audit_record(
            action=AuditAction.INCIDENT_STATUS,
            actor=access.user,
            tenant=connection.tenant,  # type: ignore[attr-defined]
            target=f"incident {incident.pk}",
            client=client,
            details={"incident_id": incident.pk, "from": before, "to": to},
        )
    return incident


def incident_resolve(
    *, access: Access, incident: Incident, note: str = "", client: ClientInfo | None = None
) -> Incident:
    """The impact is over (scheduled posts stay held until someone reviews and resumes them)."""
    return _status(
        access,
        incident=incident,
        allowed_from=IncidentStatus.DECLARED,
        to=IncidentStatus.RESOLVED,
        verb="resolved",
        note=note,
        client=client,
    )


def incident_close(
    *, access: Access, incident: Incident, note: str = "", client: ClientInfo | None = None
) -> Incident:
    """Done: follow-ups finished. Only a resolved incident closes; a closed one no longer changes."""
    return _status(
        access,
        incident=incident,
        allowed_from=IncidentStatus.RESOLVED,
        to=IncidentStatus.CLOSED,
        verb="closed",
        note=note,
        client=client,
    )


def incident_reopen(
    *, access: Access, incident: Incident, note: str = "", client: ClientInfo | None = None
) -> Incident:
    """The impact came back: a resolved incident is open again."""
    return _status(
        access,
        incident=incident,
        allowed_from=IncidentStatus.RESOLVED,
        to=IncidentStatus.DECLARED,
        verb="reopened",
        note=note,
        client=client,
    )


# Tasks -----------------------------------------------------------------------------------------------


def task_create(
    *,
    access: Access,
    incident: Incident,
    title: str,
    instructions: str = "",
    owner_id: int | None = None,
    due_at: datetime | None = None,
) -> IncidentTask:
    """A task added by hand (after the playbook's), owned by the incident's owner by default."""
    _require_edit(access)
    title = (title or "").strip()
    if not title or len(title) > 300:
        raise ValidationError({"title": "A title of 1 to 300 characters."})
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        _open(incident)
        owner = _member(access, owner_id, "owner") if owner_id is not None else incident.owner_id
        last = IncidentTask.objects.filter(incident=incident).order_by("-position").first()
        task = IncidentTask.objects.create(
            incident=incident,
            title=title,
            instructions=(instructions or "").strip()[:5000],
            owner_id=owner,
            due_at=due_at,
            position=(last.position + 1) if last else 0,
        )
        timeline_record(
            incident=incident,
            kind=TimelineKind.TASK,
            actor=_actor(access),
            text=f"Task added: {task.title} (owner {_label(owner)}"
            + (f", due {due_at:%Y-%m-%d %H:%M %Z}" if due_at else "")
            + ").",
            data={"task_id": task.pk, "change": "added"},
        )
    return task


def task_update(
    *,
    access: Access,
    task: IncidentTask,
    status: str | None = None,
    owner_id: int | None = None,
    due_at: datetime | None = None,
) -> IncidentTask:
    """Mark done, skip or reopen; reassign; move the deadline. Each change goes on the timeline."""
    _require_edit(access)
    if status is not None and status not in TaskStatus.values:
        raise ValidationError({"status": f"One of {', '.join(TaskStatus.values)}."})
    with transaction.atomic():
        task = IncidentTask.objects.select_for_update().select_related("incident").get(pk=task.pk)
        _open(task.incident)
        actor = _actor(access)
        changes: list[tuple[str, dict[str, Any]]] = []
        if status is not None and status != task.status:
            before, task.status = task.status, status
            if status == TaskStatus.OPEN:
                task.done_at, task.done_by_id = None, None
            else:
                task.done_at, task.done_by_id = timezone.now(), access.user.pk
            verb = TASK_VERBS[status]
            late = bool(
                status == TaskStatus.DONE and task.due_at and task.done_at and task.done_at > task.due_at
            )
            changes.append(
                (
                    f"Task {verb}: {task.title}" + (" (after its deadline)" if late else ""),
                    {"from": before, "to": status, "late": late},
                )
            )
        if owner_id is not None and owner_id != task.owner_id:
            after = _member(access, owner_id, "owner")
            changes.append(
                (
                    f"Task reassigned: {task.title}: {_label(task.owner_id)} → {_label(after)}",
                    {"owner_from": task.owner_id, "owner_to": after},
                )
            )
            task.owner_id = after
        if due_at is not None and due_at != task.due_at:
            changes.append(
                (
                    f"Task deadline moved: {task.title}: now {due_at:%Y-%m-%d %H:%M %Z}",
                    {
                        "due_from": task.due_at.isoformat() if task.due_at else None,
                        "due_to": due_at.isoformat(),
                    },
                )
            )
            task.due_at = due_at
        if not changes:
            return task
        task.save()
        for text, data in changes:
            timeline_record(
                incident=task.incident,
                kind=TimelineKind.TASK,
                actor=actor,
                text=text + ".",
                data={"task_id": task.pk, **data},
            )
    return task


# Notes and the risk score ------------------------------------------------------------------------------


def note_add(*, access: Access, incident: Incident, text: str) -> TimelineEntry:
    """A note on the timeline (also how a correction is made: entries are never edited)."""
    _require_edit(access)
    text = (text or "").strip()
    if not text or len(text) > 5000:
        raise ValidationError({"text": "A note of 1 to 5,000 characters."})
    return timeline_record(incident=incident, kind=TimelineKind.NOTE, actor=_actor(access), text=text)


def incidents_risk_record(*, snapshot: RiskSnapshot) -> list[TimelineEntry]:
    """Put a risk move on every open incident's timeline when the score moved by RISK_STEP points or
    more since the score last recorded there (at declaration or by an earlier move): the timeline
    shows the turns, not every 5-minute evaluation."""
    recorded: list[TimelineEntry] = []
    open_incidents = list(
        Incident.objects.filter(status=IncidentStatus.DECLARED, declared_at__lte=snapshot.computed_at)
    )
    if not open_incidents:
        return recorded
    last: dict[int, float | None] = {}
    for entry in (
        TimelineEntry.objects.filter(
            incident__in=open_incidents, kind__in=(TimelineKind.RISK, TimelineKind.DECLARED)
        )
        .order_by("incident_id", "at", "id")
        .values("incident_id", "kind", "data")
    ):
        key = "score" if entry["kind"] == TimelineKind.RISK else "risk_score"
        value = (entry["data"] or {}).get(key)
        if value is not None:
            last[entry["incident_id"]] = float(value)
    for incident in open_incidents:
        before = last.get(incident.pk)
        if before is not None and abs(snapshot.score - before) < RISK_STEP:
            continue
        move = "" if before is None else f" ({'up' if snapshot.score > before else 'down'} from {before:.0f})"
        recorded.append(
            timeline_record(
                incident=incident,
                kind=TimelineKind.RISK,
                actor=None,
                text=(
                    f"Crisis risk {snapshot.score:.0f}/100{move}; "
                    f"{snapshot.probability_6h:.0%} chance of a crisis within 6 hours."
                ),
                data={"score": snapshot.score, "from": before, "snapshot_id": snapshot.pk},
            )
        )
    return recorded
