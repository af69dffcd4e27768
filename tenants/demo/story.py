"""The communication team's side of the outage replay: what the demo's people do, at their story
times, while the mentions arrive (tenants.demo.replay).

The pipeline raises the alert by itself (alert rules on the enriched mentions, the risk score on
the metric buckets); the story waits for it and declares the incident from it, with the playbook
the scenario suggestion picks and crisis mode holding the scheduled posts. If no alert has fired by
ALERT_DEADLINE, the commander declares by hand and the timeline says why. Then the comms writer
drafts the holding statement from the playbook's template in a hurried, defensive wording that the
tone check flags, rewrites it until the check passes, adds and verifies its claims and submits it;
the approver approves it; the commander publishes it, resolves the incident once the mentions
recover, reviews and resumes the held posts, and points to the report.

Each replay step carries out at most one action: the first due by its story minute and not done
yet. Every action goes through the services the portal and the API call, as the demo's users (their
`Access`, built as a request builds it). The state of the story is read from what those services
wrote (the incident named by the replay's idempotency key, its statement, crisis mode), never kept
beside it: a step run twice (a redelivered task) finds its actions done and does nothing again, and
each action locks the incident while it checks and acts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crisis import incident_services, mode_selectors, mode_services, report_selectors, statement_services
from crisis.incident_selectors import PauseMode
from crisis.models import (
    ApprovalDecision,
    ClaimStatus,
    Incident,
    IncidentStatus,
    Severity,
    Statement,
    StatementStatus,
    TimelineEntry,
    TimelineKind,
)
from crisis.report import duration_label
from crisis.scenarios import Scenario
from listening.models import Alert
from personalization.post_models import PublishingChannel
from tenants.access import Access, access_for
from tenants.demo.audience import STATUS_EMAIL
from tenants.demo.mentions import Company
from tenants.models import Membership, Role, Tenant

logger = logging.getLogger(__name__)

TEMPLATE = "holding-statement"
ALERT_DEADLINE = 45  # story minutes: declared by hand if the pipeline raised no alert by then
# The first draft, written in a hurry: shrinks the outage, blames a vendor, disowns it.
TONE_DEAF_IMPACT = "sign in, due to a minor glitch at a third-party provider that is beyond our control,"
GOOD_IMPACT = "sign in or reach your projects"
REPORT_NOTE = "The incident report is ready"
CLAIM_BASIS = "Checked with the on-call engineer and the internal monitoring dashboards."


@dataclass(frozen=True)
class Cast:
    """The demo's people, by their role in the workspace: the commander (owner) declares, publishes,
    resolves and switches crisis mode off; the writer (analyst) drafts; the approver approves."""

    commander: Access
    writer: Access
    approver: Access


def cast_for(tenant: Tenant) -> Cast:
    def access(role: str) -> Access:
        membership = (
            Membership.objects.filter(tenant=tenant, role=role, user__is_active=True)
            .select_related("user")
            .order_by("user_id")
            .first()
        )
        found = access_for(user=membership.user, tenant=tenant) if membership else None
        if found is None:
            raise ValidationError(f"The outage story needs a member with the {role} role.")
        return found

    return Cast(commander=access(Role.OWNER), writer=access(Role.ANALYST), approver=access(Role.APPROVER))


@dataclass
class Scene:
    """What the story has done so far, read from the product's own rows."""

    key: str
    started_at: datetime
    company: Company
    minute: float  # the story minute reached
    real_time: Callable[[float], datetime]  # a story minute's real time
    incident: Incident | None = None
    statement: Statement | None = None

    def load(self) -> Scene:
        self.incident = Incident.objects.filter(idempotency_key=self.key).first()
        self.statement = (
            Statement.objects.filter(incident=self.incident, template_id=TEMPLATE).order_by("id").first()
            if self.incident
            else None
        )
        return self

    def alert(self) -> Alert | None:
        return Alert.objects.filter(fired_at__gte=self.started_at).order_by("fired_at", "id").first()

    def clock(self, minute: float) -> str:
        return f"{self.real_time(minute):%H:%M} UTC"


def _variables(scene: Scene) -> dict[str, str]:
    company = scene.company
    domain = company.status_url.split("//", 1)[-1].removeprefix("status.")
    return {
        "company": company.name,
        "service": company.products[0],
        "start_time": scene.clock(0),
        "next_update": scene.clock(75),
        "status_page_url": company.status_url,
        "support_contact": f"support@{domain}",
    }


# The actions -----------------------------------------------------------------------------------------


def _declare(scene: Scene, cast: Cast) -> bool:
    alert = scene.alert()
    if alert is None and scene.minute < ALERT_DEADLINE:
        return False  # waiting for the pipeline
    if alert is not None:
        suggestion = incident_services.scenario_suggest(alert=alert)
    else:
        suggestion = incident_services.scenario_suggest(
            description=f"{scene.company.products[0]} is down: customers cannot sign in and report an outage."
        )
    playbook = suggestion.playbook
    scenario = suggestion.scenario if playbook is not None else Scenario.SERVICE_OUTAGE
    product = scene.company.products[0]
    declared = incident_services.incident_declare(
        access=cast.commander,
        title=f"{product} outage",
        scenario=scenario,
        severity=Severity.SEV2,
        playbook=playbook,
        alert=alert,
        variables=_variables(scene),
        pause=PauseMode.TENANT,
        summary=f"Customers report that {product} is down; engineering is on the bridge.",
        idempotency_key=scene.key,
    )
    if declared.replayed:
        return True
    terms = ", ".join(dict.fromkeys(item["term"] for item in suggestion.evidence[:5])) or "none"
    if alert is not None:
        text = (
            f"Declared from the alert '{alert.rule.name}'. The scenario suggestion read "
            f"{suggestion.scenario.replace('_', ' ')} ({suggestion.confidence:.0%}; terms: {terms})"
            + (f" and proposed the playbook {playbook.name}." if playbook else ".")
        )
    else:
        text = (
            f"No alert had fired by story minute {ALERT_DEADLINE} ({scene.clock(ALERT_DEADLINE)}): the "
            "pipeline was still catching up, so the incident was declared by hand from what the team saw."
        )
    incident_services.note_add(access=cast.commander, incident=declared.incident, text=text)
    return True


def _draft(scene: Scene, cast: Cast) -> bool:
    assert scene.incident is not None
    statement = statement_services.statement_draft(
        incident=scene.incident,
        access=cast.writer,
        template_id=TEMPLATE,
        variables={"impact": TONE_DEAF_IMPACT},
    )
    flags = statement.tone_report.get("flags", [])
    if flags:
        quoted = "; ".join(f"\u201c{flag['text']}\u201d ({flag['rule']})" for flag in flags[:5])
        incident_services.note_add(
            access=cast.writer,
            incident=scene.incident,
            text=f"The tone check flags {len(flags)} phrase(s) of the first draft: {quoted}. Rewriting.",
        )
    return True


def _revise(scene: Scene, cast: Cast) -> bool:
    assert scene.incident is not None and scene.statement is not None
    body = statement_services.statement_render(
        incident=scene.incident, template_id=TEMPLATE, variables={"impact": GOOD_IMPACT}
    )
    statement = statement_services.statement_update(statement=scene.statement, access=cast.writer, body=body)
    if statement.tone_report.get("flags"):
        raise ValidationError("The revised holding statement is still flagged by the tone check.")
    return True


def _submit(scene: Scene, cast: Cast) -> bool:
    assert scene.statement is not None
    statement = scene.statement
    if not statement.claims.exists():
        for text in statement_services.claims_suggest(body=statement.body)[:3]:
            statement_services.claim_add(statement=statement, access=cast.writer, text=text)
    for claim in statement.claims.exclude(status=ClaimStatus.CONFIRMED).order_by("id"):
        statement_services.claim_verify(
            claim=claim, access=cast.writer, status=ClaimStatus.CONFIRMED, basis=CLAIM_BASIS
        )
    statement_services.statement_submit(statement=statement, access=cast.writer)
    return True


def _approve(scene: Scene, cast: Cast) -> bool:
    assert scene.statement is not None
    statement_services.statement_decide(
        statement=scene.statement,
        access=cast.approver,
        decision=ApprovalDecision.APPROVED,
        comment="Clear, owns the problem, says when we speak next. Approved.",
    )
    return True


def _publish(scene: Scene, cast: Cast) -> bool:
    assert scene.incident is not None and scene.statement is not None
    channels = list(PublishingChannel.objects.filter(name=STATUS_EMAIL).values_list("pk", flat=True))
    if not channels:
        raise ValidationError(f"No '{STATUS_EMAIL}' channel to publish the statement to.")
    statement_services.statement_publish(
        statement=scene.statement, access=cast.commander, channel_ids=channels
    )
    return True


def _resolve(scene: Scene, cast: Cast) -> bool:
    assert scene.incident is not None
    incident_services.incident_resolve(
        access=cast.commander,
        incident=scene.incident,
        note=f"Service restored at {scene.clock(80)}; mentions are back to normal and turning positive.",
    )
    return True


def _resume(scene: Scene, cast: Cast) -> bool:
    state = mode_selectors.crisis_mode_state()
    if not state.on:
        return True
    now = timezone.now()
    decisions = {
        post.pk: mode_services.Decision(mode_services.RESCHEDULE, now + timedelta(days=1))
        for post in mode_selectors.crisis_mode_held(state=state)
        if mode_selectors.post_time_passed(post=post, now=now)
    }
    mode_services.crisis_mode_release(
        access=cast.commander,
        reason="Service restored: held posts reviewed and resumed (those whose time passed moved a day).",
        decisions=decisions,
    )
    return True


def _report(scene: Scene, cast: Cast) -> bool:
    assert scene.incident is not None
    report = report_selectors.incident_report(incident=scene.incident)
    clock = ", ".join(
        f"{stage.label.lower()} {duration_label(stage.minutes)}"
        for stage in report.clock.stages
        if stage.minutes is not None
    )
    incident_services.note_add(
        access=cast.commander,
        incident=scene.incident,
        text=f"{REPORT_NOTE}: /crisis/incidents/{scene.incident.pk}/report/"
        + (f" ({clock})." if clock else "."),
    )
    return True


@dataclass(frozen=True)
class Action:
    minute: int  # the story minute from which it happens
    key: str
    label: str
    act: Callable[[Scene, Cast], bool]  # False: not yet (waiting for something)
    done: Callable[[Scene], bool]


def _statement_is(*statuses: str) -> Callable[[Scene], bool]:
    return lambda scene: scene.statement is not None and scene.statement.status in statuses


def _revised(scene: Scene) -> bool:
    return scene.statement is not None and GOOD_IMPACT in scene.statement.body


def _resolved(scene: Scene) -> bool:
    return scene.incident is not None and scene.incident.status != IncidentStatus.DECLARED


def _resumed(scene: Scene) -> bool:
    return _resolved(scene) and not mode_selectors.crisis_mode_state().on


def _reported(scene: Scene) -> bool:
    return (
        scene.incident is not None
        and TimelineEntry.objects.filter(
            incident=scene.incident, kind=TimelineKind.NOTE, text__startswith=REPORT_NOTE
        ).exists()
    )


PUBLISHED = StatementStatus.PUBLISHED
ACTIONS: tuple[Action, ...] = (
    Action(10, "declare", "Incident declared from the alert; scheduled posts paused", _declare,
           lambda scene: scene.incident is not None),
    Action(20, "draft", "Holding statement drafted from the playbook: the tone check flags it", _draft,
           lambda scene: scene.statement is not None),
    Action(28, "revise", "Rewritten until the tone check passes", _revise, _revised),
    Action(34, "submit", "Claims verified, sent for approval", _submit,
           _statement_is(StatementStatus.IN_REVIEW, StatementStatus.APPROVED, PUBLISHED)),
    Action(40, "approve", "Approved by the approver", _approve,
           _statement_is(StatementStatus.APPROVED, PUBLISHED)),
    Action(45, "publish", "Published to the status emails", _publish, _statement_is(PUBLISHED)),
    Action(95, "resolve", "Incident resolved", _resolve, _resolved),
    Action(105, "resume", "Held posts reviewed and resumed", _resume, _resumed),
    Action(110, "report", "Report ready", _report, _reported),
)  # fmt: skip


def story_advance(*, scene: Scene, cast: Cast) -> str | None:
    """Carry out the first action due by the scene's minute that is not done yet, unless it waits
    (the alert). One per step: a team running late (no alert until the deadline) catches up a step
    at a time, as people would, instead of doing everything in one instant. Returns the action's
    key, or None when nothing was done."""
    for action in ACTIONS:
        if action.minute > scene.minute:
            return None
        with transaction.atomic():
            scene.load()
            if scene.incident is not None:
                # One actor at a time: a redelivered step waits here, then finds the action done.
                Incident.objects.select_for_update().filter(pk=scene.incident.pk).first()
                scene.load()
            if action.done(scene):
                continue
            acted = action.act(scene, cast)
        scene.load()
        return action.key if acted else None
    return None


@dataclass(frozen=True)
class Progress:
    label: str
    done: bool


def story_progress(*, scene: Scene) -> list[Progress]:
    """The story's milestones, for the overview: the alert, then each action."""
    scene.load()
    alert = scene.alert()
    items = [
        Progress(
            "The pipeline raises an alert" + (f": {alert.rule.name}" if alert else ""), alert is not None
        )
    ]
    return items + [Progress(action.label, action.done(scene)) for action in ACTIONS]
