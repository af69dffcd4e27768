"""Writes of statements: draft (from a playbook template or by hand), the tone check on every save,
the verification checklist of factual claims, approval with deadlines and escalation, and publishing
to several channels at once. Every change is written to the incident's timeline in the same
transaction (`crisis.services.timeline_record`).

The flow
--------
    draft --submit (every claim confirmed)--> in_review --enough approvals--> approved --publish--> published
    in_review --one rejection (with a comment)--> draft (a new version)
    in_review | approved --text edited, or a claim added or no longer confirmed--> draft (a new version)

A *version* is one round of review: approvals are of a version (`StatementApproval.version`), so a
new version starts with none, and the old decisions stay in the history without counting. The tone
check advises and never blocks: a flagged statement can be submitted, and approvers see the flags.

Posts a statement makes are exempt from crisis mode (`personalization.post_services` leaves posts
with a `statement_publication` unheld): the pause holds marketing, not the crisis response.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crisis.models import (
    ApprovalDecision,
    ClaimStatus,
    Incident,
    IncidentStatus,
    Severity,
    Statement,
    StatementApproval,
    StatementClaim,
    StatementPublication,
    StatementSettings,
    StatementStatus,
    TimelineKind,
)
from crisis.playbooks import PlaybookError, playbook_parse, template_render
from crisis.scenarios import Scenario
from crisis.services import timeline_record
from crisis.statement_selectors import approver_role_ok, statement_approvers, statement_template_get
from crisis.tone.check import sentences_split, tone_check
from personalization import post_services
from personalization.post_models import ConnectorKind, PostStatus, PublishingChannel
from tenants.access import Access, Capability
from tenants.models import Role

# Scenarios in which customers (or staff) are harmed: the statement owes an apology. In the others
# (a disclosed vulnerability, misconduct) the tone check infers it from the draft's own words.
APOLOGY_DUE = frozenset(
    {
        Scenario.SERVICE_OUTAGE,
        Scenario.DATA_BREACH,
        Scenario.CYBERATTACK,
        Scenario.PRODUCT_DEFECT,
        Scenario.NATURAL_DISASTER,
        Scenario.LAYOFFS,
    }
)
APPROVER_ROLES = (Role.APPROVER, Role.ADMIN, Role.OWNER)
MAX_TITLE = 200
MAX_BODY = 20_000
MAX_APPROVALS = 5
MAX_DUE_MINUTES = 24 * 60
MAX_VARIABLE = 500
# A claim worth checking: a sentence with a number or a time, or that states a cause or a scope.
_CLAIM_RE = re.compile(
    r"\d|\b(?:because|due to|caused|cause|root cause|after|following|since|all|every|no|none|only|"
    r"restored|resolved|fixed|affected|exposed|accessed)\b",
    re.IGNORECASE,
)
# A status page is a webhook connector; one whose name says so is shown as the status page.
_STATUS_PAGE_RE = re.compile(r"status", re.IGNORECASE)


def _actor(access: Access) -> post_services.Actor:
    return post_services.Actor.of(access.user)


def _now() -> datetime:
    return timezone.now()


def channel_is_status_page(channel: PublishingChannel) -> bool:
    return channel.kind == ConnectorKind.WEBHOOK and bool(_STATUS_PAGE_RE.search(channel.name))


# Settings -------------------------------------------------------------------------------------------


def statement_settings_get() -> StatementSettings:
    settings, _ = StatementSettings.objects.get_or_create(singleton=True)
    return settings


def statement_settings_update(*, access: Access, **changes: Any) -> StatementSettings:
    errors: dict[str, str] = {}
    for field in ("approvals_required", "approvals_required_sev1"):
        if field in changes and not 1 <= int(changes[field]) <= MAX_APPROVALS:
            errors[field] = f"Between 1 and {MAX_APPROVALS}."
    for field in ("approval_minutes", "approval_minutes_sev1"):
        if field in changes and not 1 <= int(changes[field]) <= MAX_DUE_MINUTES:
            errors[field] = f"Between 1 and {MAX_DUE_MINUTES} minutes."
    if "approver_role" in changes and changes["approver_role"] not in APPROVER_ROLES:
        errors["approver_role"] = "One of approver, admin or owner."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        settings = StatementSettings.objects.select_for_update().get_or_create(singleton=True)[0]
        for field, value in changes.items():
            setattr(settings, field, value)
        settings.updated_at = _now()
        settings.save()
    return settings


# Tone ------------------------------------------------------------------------------------------------


def statement_tone(*, text: str, incident: Incident | None = None) -> dict[str, Any]:
    """The tone report of `text` (the rules and the emotion model), as stored on the statement."""
    apology_due = True if incident is not None and incident.scenario in APOLOGY_DUE else None
    return tone_check(text, apology_due=apology_due).as_dict()


def claims_suggest(*, body: str, known: list[str] | None = None) -> list[str]:
    """Sentences of the body that state checkable facts (numbers, times, causes, scope), minus the
    claims already on the checklist: suggestions a person adds or ignores."""
    taken = {text.strip().lower() for text in known or []}
    found: list[str] = []
    for start, end in sentences_split(body):
        sentence = body[start:end].strip()
        if len(sentence) < 12 or sentence.lower() in taken or sentence in found:
            continue
        if _CLAIM_RE.search(sentence):
            found.append(sentence[:500])
    return found


# Draft and edit --------------------------------------------------------------------------------------


def _text_validate(*, title: str, body: str) -> None:
    errors: dict[str, str] = {}
    if not title.strip():
        errors["title"] = "A statement needs a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"At most {MAX_TITLE} characters."
    if not body.strip():
        errors["body"] = "A statement needs text (write it, or choose a template)."
    elif len(body) > MAX_BODY:
        errors["body"] = f"At most {MAX_BODY} characters."
    if errors:
        raise ValidationError(errors)


def _variables_clean(variables: dict[str, Any] | None) -> dict[str, str]:
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise ValidationError({"variables": "An object of name -> text."})
    clean: dict[str, str] = {}
    for name, value in variables.items():
        if not isinstance(value, str):
            raise ValidationError({f"variables.{name}": "Text, please."})
        if len(value) > MAX_VARIABLE:
            raise ValidationError({f"variables.{name}": f"At most {MAX_VARIABLE} characters."})
        if value.strip():
            clean[str(name)] = value.strip()
    return clean


def _open_incident(incident: Incident) -> None:
    if incident.status == IncidentStatus.CLOSED:
        raise ValidationError({"incident": "The incident is closed: its statements are history."})


def statement_render(*, incident: Incident, template_id: str, variables: dict[str, Any] | None) -> str:
    """The template's text filled with the incident's variables and `variables` (which win); a 400
    naming every variable that has no value, with what to fill in."""
    template, playbook = statement_template_get(incident=incident, template_id=template_id)
    values = {**(incident.variables or {}), **_variables_clean(variables)}
    missing = sorted(name for name in template.variables if not str(values.get(name, "")).strip())
    if missing:
        raise ValidationError(
            {
                "variables": [
                    f"{{{name}}} has no value: {playbook.variables.get(name, name)}." for name in missing
                ]
            }
        )
    try:
        return template_render(template, {name: str(values[name]) for name in template.variables})
    except PlaybookError as error:
        raise ValidationError({"template_id": str(error)}) from None


def statement_draft(
    *,
    incident: Incident,
    access: Access,
    title: str = "",
    body: str = "",
    template_id: str = "",
    variables: dict[str, Any] | None = None,
) -> Statement:
    """A new draft, from a template of the incident's playbook (its variables filled; the values
    given are kept on the incident for the next statement) or written by hand."""
    _open_incident(incident)
    if template_id:
        if body.strip():
            raise ValidationError({"body": "Give a template or a text, not both."})
        body = statement_render(incident=incident, template_id=template_id, variables=variables)
        template, _ = statement_template_get(incident=incident, template_id=template_id)
        title = title.strip() or template.name
    _text_validate(title=title, body=body)
    given = _variables_clean(variables)
    with transaction.atomic():
        if template_id and given:
            declared = playbook_parse(incident.playbook_snapshot).variables
            kept = {name: value for name, value in given.items() if name in declared}
            if kept:
                Incident.objects.filter(pk=incident.pk).update(variables={**incident.variables, **kept})
                incident.variables = {**incident.variables, **kept}
        statement = Statement.objects.create(
            incident=incident,
            title=title.strip(),
            body=body,
            template_id=template_id,
            tone_report=statement_tone(text=body, incident=incident),
            created_by_id=access.user.pk,
            edited_by_id=access.user.pk,
        )
        source = f"from template {template_id}" if template_id else "by hand"
        timeline_record(
            incident=incident,
            kind=TimelineKind.STATEMENT,
            text=f"Statement \u201c{statement.title}\u201d drafted {source}.",
            actor=_actor(access),
            data=_tone_data(statement),
        )
    return statement


def _tone_data(statement: Statement) -> dict[str, Any]:
    report = statement.tone_report or {}
    return {
        "statement_id": statement.pk,
        "version": statement.version,
        "readiness": report.get("readiness"),
        "flags": len(report.get("flags", [])),
        "missing": [item["element"] for item in report.get("missing", [])],
    }


def _named(statement: Statement) -> str:
    return f"\u201c{statement.title}\u201d v{statement.version}"


def _state(statement: Statement) -> str:
    return statement.get_status_display().lower()


def _locked(statement: Statement) -> Statement:
    return Statement.objects.select_for_update().select_related("incident").get(pk=statement.pk)


def _new_version(statement: Statement, *, why: str, access: Access | None) -> None:
    """Back to draft as a new version: the decisions on the old one stay in history, count no more."""
    was = statement.get_status_display().lower()
    statement.version += 1
    statement.status = StatementStatus.DRAFT
    statement.submitted_at = statement.approval_due_at = statement.approved_at = None
    statement.escalated_at = None
    timeline_record(
        incident=statement.incident,
        kind=TimelineKind.STATEMENT,
        text=f"Statement \u201c{statement.title}\u201d ({was}) back to draft as version "
        f"{statement.version}: {why}.",
        actor=_actor(access) if access else None,
        data={"statement_id": statement.pk, "version": statement.version},
    )


def statement_update(
    *, statement: Statement, access: Access, title: str | None = None, body: str | None = None
) -> Statement:
    """Edit a statement not yet published. New text of a statement in review or approved makes it
    a new version and a draft again. The tone check runs on every save."""
    with transaction.atomic():
        statement = _locked(statement)
        _open_incident(statement.incident)
        if statement.status == StatementStatus.PUBLISHED:
            raise ValidationError({"status": "A published statement cannot change: write a new one."})
        new_title = statement.title if title is None else title.strip()
        new_body = statement.body if body is None else body
        _text_validate(title=new_title, body=new_body)
        text_changed = new_body != statement.body
        statement.title, statement.body = new_title, new_body
        if text_changed:
            statement.edited_by_id = access.user.pk
            if statement.status in (StatementStatus.IN_REVIEW, StatementStatus.APPROVED):
                _new_version(statement, why="its text was edited", access=access)
        statement.tone_report = statement_tone(text=statement.body, incident=statement.incident)
        statement.updated_at = _now()
        statement.save()
        if text_changed:
            timeline_record(
                incident=statement.incident,
                kind=TimelineKind.STATEMENT,
                text=f"Statement \u201c{statement.title}\u201d edited (version {statement.version}).",
                actor=_actor(access),
                data=_tone_data(statement),
            )
    return statement


# Claims ----------------------------------------------------------------------------------------------


def _claims_open(statement: Statement) -> None:
    if statement.status == StatementStatus.PUBLISHED:
        raise ValidationError({"status": "A published statement's checklist is closed."})


def claim_add(*, statement: Statement, access: Access, text: str) -> StatementClaim:
    """A factual claim to verify. Added to a statement in review or approved, it sends it back to
    draft (a new version): nobody approved an unchecked fact."""
    text = text.strip()
    if not text:
        raise ValidationError({"text": "Write the claim (one fact the statement states)."})
    if len(text) > 500:
        raise ValidationError({"text": "At most 500 characters."})
    with transaction.atomic():
        statement = _locked(statement)
        _claims_open(statement)
        claim = StatementClaim.objects.create(statement=statement, text=text)
        if statement.status in (StatementStatus.IN_REVIEW, StatementStatus.APPROVED):
            _new_version(statement, why="a claim to verify was added", access=access)
            statement.save()
        timeline_record(
            incident=statement.incident,
            kind=TimelineKind.STATEMENT,
            text=f"Claim to verify on \u201c{statement.title}\u201d: {text}",
            actor=_actor(access),
            data={"statement_id": statement.pk, "claim_id": claim.pk},
        )
    return claim


def claim_verify(*, claim: StatementClaim, access: Access, status: str, basis: str = "") -> StatementClaim:
    """Confirm or dispute a claim, saying on what basis (or set it back to unverified). A claim that
    stops being confirmed sends a statement in review or approved back to draft."""
    if status not in ClaimStatus.values:
        raise ValidationError({"status": f"One of {', '.join(ClaimStatus.values)}."})
    basis = basis.strip()
    if status != ClaimStatus.UNVERIFIED and not basis:
        raise ValidationError({"basis": "Say how you know (the source, system or person checked)."})
    if len(basis) > 2000:
        raise ValidationError({"basis": "At most 2000 characters."})
    with transaction.atomic():
        statement = _locked(claim.statement)
        _claims_open(statement)
        claim = StatementClaim.objects.select_for_update().get(pk=claim.pk)
        claim.status, claim.basis = status, basis
        verified = status != ClaimStatus.UNVERIFIED
        claim.confirmed_by_id = access.user.pk if verified else None
        claim.confirmed_at = _now() if verified else None
        claim.save()
        if status != ClaimStatus.CONFIRMED and statement.status in (
            StatementStatus.IN_REVIEW,
            StatementStatus.APPROVED,
        ):
            _new_version(statement, why=f"a claim is {claim.get_status_display().lower()}", access=access)
            statement.save()
        timeline_record(
            incident=statement.incident,
            kind=TimelineKind.STATEMENT,
            text=f"Claim {claim.get_status_display().lower()}: {claim.text}"
            + (f" (basis: {basis})" if basis else ""),
            actor=_actor(access),
            data={"statement_id": statement.pk, "claim_id": claim.pk, "status": status},
        )
    return claim


# Approval --------------------------------------------------------------------------------------------


def statement_submit(
    *,
    statement: Statement,
    access: Access,
    approvals_required: int | None = None,
    approver_role: str | None = None,
    due_minutes: int | None = None,
) -> Statement:
    """Send a draft to approval: every claim confirmed; the number of approvals, the approver role
    and the deadline default to the tenant's settings (stricter for SEV1)."""
    settings = statement_settings_get()
    with transaction.atomic():
        statement = _locked(statement)
        _open_incident(statement.incident)
        if statement.status != StatementStatus.DRAFT:
            raise ValidationError(
                {"status": f"Only a draft can be submitted (this one is {statement.get_status_display()})."}
            )
        sev1 = statement.incident.severity == Severity.SEV1
        required = approvals_required or (
            settings.approvals_required_sev1 if sev1 else settings.approvals_required
        )
        role = approver_role or settings.approver_role
        minutes = due_minutes or (settings.approval_minutes_sev1 if sev1 else settings.approval_minutes)
        errors: dict[str, str] = {}
        if not 1 <= required <= MAX_APPROVALS:
            errors["approvals_required"] = f"Between 1 and {MAX_APPROVALS}."
        if role not in APPROVER_ROLES:
            errors["approver_role"] = "One of approver, admin or owner."
        if not 1 <= minutes <= MAX_DUE_MINUTES:
            errors["due_minutes"] = f"Between 1 and {MAX_DUE_MINUTES} minutes."
        unconfirmed = list(
            statement.claims.exclude(status=ClaimStatus.CONFIRMED).values_list("text", flat=True)
        )
        if unconfirmed:
            errors["claims"] = f"{len(unconfirmed)} claim(s) not confirmed yet: " + "; ".join(
                t[:80] for t in unconfirmed[:5]
            )
        if errors:
            raise ValidationError(errors)
        writers = {statement.created_by_id, statement.edited_by_id}
        eligible = [user for user in statement_approvers(tenant=access.tenant, approver_role=role)]
        if len([user for user in eligible if user.pk not in writers]) < required:
            raise ValidationError(
                {
                    "approvals_required": f"This workspace has fewer than {required} people with the "
                    f"{role} role (or higher) besides the statement's authors."
                }
            )
        now = _now()
        statement.status = StatementStatus.IN_REVIEW
        statement.approvals_required, statement.approver_role = required, role
        statement.submitted_at, statement.approval_due_at = now, now + timedelta(minutes=minutes)
        statement.escalated_at = None
        statement.updated_at = now
        statement.save()
        report = statement.tone_report or {}
        timeline_record(
            incident=statement.incident,
            kind=TimelineKind.APPROVAL,
            text=f"Statement \u201c{statement.title}\u201d v{statement.version} submitted: "
            f"{required} approval(s) of the {role} role due by {statement.approval_due_at:%H:%M %Z}"
            + (f"; the tone check flags {len(report['flags'])} phrase(s)" if report.get("flags") else ""),
            actor=_actor(access),
            data={
                "statement_id": statement.pk,
                "version": statement.version,
                "approvals_required": required,
                "approver_role": role,
                "due_at": statement.approval_due_at.isoformat(),
            },
        )
    return statement


def statement_decide(*, statement: Statement, access: Access, decision: str, comment: str = "") -> Statement:
    """An approver's decision on the version in review. Enough approvals approve it; one request for
    changes (with its comment) sends it back to draft as a new version."""
    comment = comment.strip()
    if decision not in ApprovalDecision.values:
        raise ValidationError({"decision": "approved or rejected."})
    if decision == ApprovalDecision.REJECTED and not comment:
        raise ValidationError({"comment": "Say what must change."})
    if len(comment) > 5000:
        raise ValidationError({"comment": "At most 5000 characters."})
    if not access.can(Capability.APPROVE):
        raise PermissionDenied("Deciding on a statement needs the 'approve' permission.")
    with transaction.atomic():
        statement = _locked(statement)
        if statement.status != StatementStatus.IN_REVIEW:
            raise ValidationError({"status": f"The statement is {_state(statement)}, not awaiting approval."})
        if access.user.pk in (statement.created_by_id, statement.edited_by_id):
            raise PermissionDenied("You wrote this statement: someone else must approve it.")
        if not approver_role_ok(roles=access.roles, approver_role=statement.approver_role):
            raise PermissionDenied(
                f"This statement needs an approver with the {statement.approver_role} role."
            )
        try:
            with transaction.atomic():
                StatementApproval.objects.create(
                    statement=statement,
                    version=statement.version,
                    approver_id=access.user.pk,
                    decision=decision,
                    comment=comment,
                )
        except IntegrityError:
            raise ValidationError({"decision": "You decided on this version already."}) from None
        now = _now()
        actor = _actor(access)
        if decision == ApprovalDecision.REJECTED:
            timeline_record(
                incident=statement.incident,
                kind=TimelineKind.APPROVAL,
                text=f"{actor.label} requested changes to {_named(statement)}: {comment}",
                actor=actor,
                data={"statement_id": statement.pk, "version": statement.version, "decision": decision},
            )
            _new_version(statement, why="changes were requested", access=access)
        else:
            approvals = statement.approvals.filter(
                version=statement.version, decision=ApprovalDecision.APPROVED
            ).count()
            timeline_record(
                incident=statement.incident,
                kind=TimelineKind.APPROVAL,
                text=f"{actor.label} approved \u201c{statement.title}\u201d v{statement.version} "
                f"({approvals} of {statement.approvals_required})" + (f": {comment}" if comment else ""),
                actor=actor,
                data={"statement_id": statement.pk, "version": statement.version, "decision": decision},
            )
            if approvals >= statement.approvals_required:
                statement.status, statement.approved_at = StatementStatus.APPROVED, now
                timeline_record(
                    incident=statement.incident,
                    kind=TimelineKind.APPROVAL,
                    text=f"Statement {_named(statement)} approved: ready to publish.",
                    data={"statement_id": statement.pk, "version": statement.version},
                )
        statement.updated_at = now
        statement.save()
    return statement


def statements_escalate_overdue(*, now: datetime | None = None) -> list[int]:
    """Statements in review past their approval deadline, escalated once: the workspace's admins
    and owners are emailed (after commit) and the incident's timeline says so. Returns their ids."""
    moment = now or _now()
    overdue = list(
        Statement.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("incident")
        .filter(status=StatementStatus.IN_REVIEW, escalated_at__isnull=True, approval_due_at__lt=moment)
        .order_by("approval_due_at", "id")[:200]
    )
    if not overdue:
        return []
    from crisis.statement_tasks import notify_statement_escalated

    for statement in overdue:
        statement.escalated_at = moment
        statement.save(update_fields=["escalated_at"])
        approvals = statement.approvals.filter(
            version=statement.version, decision=ApprovalDecision.APPROVED
        ).count()
        timeline_record(
            incident=statement.incident,
            kind=TimelineKind.APPROVAL,
            text=f"Statement \u201c{statement.title}\u201d v{statement.version} is past its approval "
            f"deadline ({approvals} of {statement.approvals_required} approvals): escalated to the "
            "workspace's admins and owners.",
            data={"statement_id": statement.pk, "version": statement.version, "escalated": True},
        )
        transaction.on_commit(partial(notify_statement_escalated.delay, statement.pk))
    return [statement.pk for statement in overdue]


# Publishing ------------------------------------------------------------------------------------------


def _post_text(statement: Statement, channel: PublishingChannel) -> str:
    # An email's subject is its first line: the title; elsewhere the statement speaks for itself.
    if channel.kind == ConnectorKind.EMAIL:
        return f"{statement.title}\n\n{statement.body}"
    return statement.body


def statement_publish(
    *, statement: Statement, access: Access, channel_ids: list[int]
) -> list[StatementPublication]:
    """Publish an approved statement to the chosen channels at once: one post per channel, created,
    approved and scheduled to go out now, exempt from crisis mode. A channel it was published to
    already is skipped, so a double click or a retried request posts nothing twice. Returns the
    publications made by this call."""
    if not access.can(Capability.APPROVE):
        raise PermissionDenied("Publishing a statement needs the 'approve' permission.")
    if not channel_ids:
        raise ValidationError({"channels": "Choose at least one channel."})
    ids = list(dict.fromkeys(channel_ids))
    channels = {channel.pk: channel for channel in PublishingChannel.objects.filter(pk__in=ids)}
    unknown = [pk for pk in ids if pk not in channels]
    if unknown:
        raise ValidationError({"channels": f"No publishing channel with id {', '.join(map(str, unknown))}."})
    actor = _actor(access)
    with transaction.atomic():
        statement = _locked(statement)
        _open_incident(statement.incident)
        if statement.status not in (StatementStatus.APPROVED, StatementStatus.PUBLISHED):
            raise ValidationError(
                {"status": f"Only an approved statement can be published (this one is {_state(statement)})."}
            )
        done = set(statement.publications.values_list("channel_id", flat=True))
        made: list[StatementPublication] = []
        now = _now()
        for pk in ids:
            if pk in done:
                continue
            channel = channels[pk]
            try:
                post = post_services.scheduled_post_create(
                    channel=channel, text=_post_text(statement, channel), actor=actor, tone="crisis"
                )
            except ValidationError as error:
                messages = "; ".join(error.messages)
                raise ValidationError({"channels": f"{channel.name}: {messages}"}) from None
            made.append(StatementPublication.objects.create(statement=statement, post=post, channel=channel))
            post_services.scheduled_post_approve(
                post=post, actor=actor, reason=f"statement {statement.pk} v{statement.version} approved"
            )
            post_services.scheduled_post_schedule(
                post=post,
                actor=actor,
                scheduled_at=now + timedelta(seconds=1),
                reason=f"statement {statement.pk}: publish now",
            )
        if made:
            first = statement.status != StatementStatus.PUBLISHED
            statement.status = StatementStatus.PUBLISHED
            statement.published_at = statement.published_at or now
            statement.updated_at = now
            statement.save()
            names = ", ".join(
                f"{channels[p.channel_id].name}"
                + (" (status page)" if channel_is_status_page(channels[p.channel_id]) else "")
                for p in made
                if p.channel_id is not None
            )
            timeline_record(
                incident=statement.incident,
                kind=TimelineKind.PUBLISHED,
                text=f"Statement \u201c{statement.title}\u201d v{statement.version} "
                f"{'published' if first else 'also published'} to {names}.",
                actor=actor,
                data={
                    "statement_id": statement.pk,
                    "version": statement.version,
                    "posts": [p.post_id for p in made],
                    "channels": [p.channel_id for p in made],
                },
            )
            from personalization.tasks import publish_due

            # Go out now rather than at the next minute's beat (which remains the fallback).
            transaction.on_commit(lambda: publish_due.apply_async(countdown=2))
    return made


def statement_post_outcome_record(*, post_id: int, to_status: str, reason: str) -> None:
    """A statement's post was sent or failed (the publisher's transition): on the timeline."""
    if to_status not in (PostStatus.SENT, PostStatus.FAILED):
        return
    publication = (
        StatementPublication.objects.select_related("statement__incident", "post__channel")
        .filter(post_id=post_id)
        .first()
    )
    if publication is None:
        return
    statement, channel = publication.statement, publication.post.channel
    outcome = "sent" if to_status == PostStatus.SENT else "failed"
    timeline_record(
        incident=statement.incident,
        kind=TimelineKind.POST_SENT,
        text=f"Statement \u201c{statement.title}\u201d {outcome} on {channel.name}"
        + (f" ({reason})" if reason else "")
        + ".",
        data={"statement_id": statement.pk, "post_id": post_id, "status": to_status},
    )
