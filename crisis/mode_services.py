"""Writes of crisis mode: switching it on (the whole workspace or chosen channels, with a reason)
and off with a review of every held post (release as scheduled, give a new time, or keep it as a
draft). The pauses themselves are personalization's (`crisis_mode_set`, `posts_pause`,
`posts_resume`); this records the switch, audits it, and writes the linked incident's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from crisis import mode_selectors
from crisis.aftermath_models import CrisisModeScope, CrisisModeSwitch
from crisis.models import Incident, TimelineKind
from crisis.services import timeline_record
from personalization import post_services
from personalization import services as personalization_services
from personalization.post_models import PauseScope, PostStatus, PublishingState, ScheduledPost
from tenants.access import Access, Capability
from tenants.http import ClientInfo
from tenants.models import Agency, AuditAction
from tenants.services import audit_record

RELEASE, RESCHEDULE, DRAFT = "release", "reschedule", "draft"
DECISIONS = (RELEASE, RESCHEDULE, DRAFT)
MAX_REASON = 2000


@dataclass(frozen=True)
class Decision:
    """What a person decided for one held post when switching crisis mode off."""

    action: str = RELEASE
    scheduled_at: datetime | None = None


def _require(access: Access) -> None:
    if not access.can(Capability.MANAGE):
        raise PermissionDenied("Switching crisis mode needs the 'manage' permission (an admin).")


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationError({"reason": "Say why (it is recorded on every held post)."})
    if len(text) > MAX_REASON:
        raise ValidationError({"reason": f"At most {MAX_REASON} characters."})
    return text


def _serialize_switches() -> None:
    """Two people switching at once take turns: both lock the tenant's publishing-state row, the
    one the tenant-wide pause itself locks, so the second sees the first's switch."""
    PublishingState.objects.select_for_update().get_or_create(singleton=True)


def _actor(access: Access) -> post_services.Actor:
    return post_services.Actor.of(access.user, label="crisis mode")


def crisis_mode_engage(
    *,
    access: Access,
    reason: str,
    scope: str = CrisisModeScope.TENANT,
    channel_ids: list[int] | None = None,
    incident: Incident | None = None,
    agency: Agency | None = None,
    client: ClientInfo | None = None,
) -> CrisisModeSwitch:
    """Switch crisis mode on: hold the posts `crisis_mode_preview` shows for this scope."""
    _require(access)
    return _engage(
        access=access,
        reason=reason,
        scope=scope,
        channel_ids=channel_ids,
        incident=incident,
        agency=agency,
        client=client,
    )


def crisis_mode_engage_for_incident(
    *, access: Access, incident: Incident, reason: str, scope: str, channel_ids: list[int]
) -> list[int]:
    """Crisis mode as declaring an incident switches it: whoever may declare (edit) may hold the
    posts with it. Already on, it stays as it is and the incident's timeline says so. Returns the
    ids of the posts held now."""
    if not access.can(Capability.EDIT):
        raise PermissionDenied("Declaring an incident needs the 'edit' permission.")
    state = mode_selectors.crisis_mode_state()
    if state.on:
        timeline_record(
            incident=incident,
            kind=TimelineKind.POSTS_PAUSED,
            text=f"Crisis mode was on already (since {state.since:%Y-%m-%d %H:%M} UTC), posts stay held.",
            actor=_actor(access),
        )
        return []
    switch = _engage(access=access, reason=reason, scope=scope, channel_ids=channel_ids, incident=incident)
    return list(switch.held_post_ids)


def _engage(
    *,
    access: Access,
    reason: str,
    scope: str,
    channel_ids: list[int] | None,
    incident: Incident | None,
    agency: Agency | None = None,
    client: ClientInfo | None = None,
) -> CrisisModeSwitch:
    text = _reason(reason)
    if scope not in CrisisModeScope.values:
        raise ValidationError({"scope": f"One of: {', '.join(CrisisModeScope.values)}."})
    channels = mode_selectors.channels_by_ids(channel_ids=list(channel_ids or []))
    if scope == CrisisModeScope.CHANNELS and not channels:
        raise ValidationError({"channel_ids": "Choose at least one channel."})
    if scope == CrisisModeScope.TENANT:
        channels = []
    with transaction.atomic():
        _serialize_switches()
        state = mode_selectors.crisis_mode_state()
        if state.on:
            raise ValidationError(
                {"on": f"Crisis mode is on already (since {state.since:%Y-%m-%d %H:%M} UTC)."}
            )
        linked = incident or mode_selectors.incident_named(reason=text)
        said = f"{text} (agency {agency.name})" if agency is not None else text
        change = None
        if scope == CrisisModeScope.TENANT:
            change = personalization_services.crisis_mode_set(on=True, reason=said, actor=access.user)
            held = list(
                post_services.posts_resume_preview(target=post_services.PauseTarget(scope=PauseScope.TENANT))
            )
        else:
            held = []
            for channel in channels:
                held += post_services.posts_pause(
                    target=post_services.PauseTarget(scope=PauseScope.CHANNEL, channel=channel),
                    reason=f"Crisis mode: {said}",
                    actor=_actor(access),
                )
        switch = CrisisModeSwitch.objects.create(
            on=True,
            scope=scope,
            channel_ids=[c.pk for c in channels],
            reason=text,
            actor_id=access.user.pk,
            actor_label=access.user.email,
            agency_id=agency.pk if agency else None,
            agency_label=agency.name if agency else "",
            incident=linked,
            held_post_ids=sorted(p.pk for p in held),
            change=change,
        )
        where = (
            "the whole workspace" if scope == CrisisModeScope.TENANT else ", ".join(c.name for c in channels)
        )
        if linked is not None:
            timeline_record(
                incident=linked,
                kind=TimelineKind.POSTS_PAUSED,
                text=f"Crisis mode on ({where}): {len(held)} scheduled posts held. {text}",
                actor=_actor(access),
                data={"switch": switch.pk, "posts": switch.held_post_ids},
            )
        audit_record(
            action=AuditAction.CRISIS_MODE_ON,
            actor=access.user,
            tenant=access.tenant,
            agency=agency,
            target=f"crisis mode: {where}",
            client=client,
            details={"scope": scope, "channel_ids": switch.channel_ids, "held": len(held), "reason": text},
        )
    return switch


def _decisions(
    held: list[ScheduledPost], decisions: dict[int, Decision], now: datetime
) -> dict[int, Decision]:
    """Every held post's decision (release by default), refused with the post named when it cannot
    be carried out: a passed time needs a person, a post already going out cannot become a draft."""
    errors: dict[str, str] = {}
    ids = {post.pk for post in held}
    stray = sorted(set(decisions) - ids)
    if stray:
        errors["decisions"] = f"Not held by crisis mode: posts {', '.join(map(str, stray))}."
    chosen: dict[int, Decision] = {}
    for post in held:
        decision = decisions.get(post.pk, Decision())
        key = f"decisions.{post.pk}"
        if decision.action not in DECISIONS:
            errors[key] = f"One of: {', '.join(DECISIONS)}."
        elif decision.action == RELEASE and mode_selectors.post_time_passed(post=post, now=now):
            errors[key] = (
                f"Its time ({post.scheduled_at:%Y-%m-%d %H:%M} UTC) passed while it was held: "
                "give it a new time, or keep it as a draft."
            )
        elif decision.action == RESCHEDULE and (
            decision.scheduled_at is None
            or timezone.is_naive(decision.scheduled_at)
            or decision.scheduled_at <= now
        ):
            errors[key] = "Give a new time in the future, with its time zone."
        elif decision.action == DRAFT and post.paused_from == PostStatus.SENDING:
            errors[key] = "It had started going out: release it or give it a new time."
        chosen[post.pk] = decision
    if errors:
        raise ValidationError(errors)
    return chosen


def _keep_as_draft(post: ScheduledPost, actor: post_services.Actor, reason: str) -> None:
    """Back to draft, its approval cleared: it needs approving again before it can go out.
    Personalization has no public service for this yet; its own transition helper keeps the
    post's history in one shape."""
    post = post_services._locked(post)
    post.approved_by_id = None
    post_services._transition(post, PostStatus.DRAFT, actor=actor, reason=reason)
    post.save()


def crisis_mode_release(
    *,
    access: Access,
    reason: str,
    decisions: dict[int, Decision] | None = None,
    agency: Agency | None = None,
    client: ClientInfo | None = None,
) -> CrisisModeSwitch:
    """Switch crisis mode off and carry out each held post's review in one transaction: released
    posts return to their state, rescheduled ones get their new time, kept ones become drafts."""
    _require(access)
    text = _reason(reason)
    now = timezone.now()
    actor = _actor(access)
    with transaction.atomic():
        _serialize_switches()
        state = mode_selectors.crisis_mode_state()
        if not state.on:
            raise ValidationError({"on": "Crisis mode is off."})
        held = mode_selectors.crisis_mode_held(state=state)
        chosen = _decisions(held, decisions or {}, now)
        said = f"{text} (agency {agency.name})" if agency is not None else text
        change = None
        if state.scope == CrisisModeScope.TENANT:
            change = personalization_services.crisis_mode_set(on=False, reason=said, actor=access.user)
        else:
            for channel in state.channels:
                post_services.posts_resume(
                    target=post_services.PauseTarget(scope=PauseScope.CHANNEL, channel=channel),
                    actor=actor,
                    reason=f"Crisis mode off: {said}",
                )
        review: list[dict[str, Any]] = []
        for post in ScheduledPost.objects.filter(pk__in=chosen).select_related("channel").order_by("id"):
            decision = chosen[post.pk]
            if decision.action == RESCHEDULE and decision.scheduled_at is not None:
                if post.status == PostStatus.SCHEDULED:
                    post = post_services.scheduled_post_update(
                        post=post, actor=actor, scheduled_at=decision.scheduled_at
                    )
                else:
                    post = post_services.scheduled_post_schedule(
                        post=post, actor=actor, scheduled_at=decision.scheduled_at, reason="crisis review"
                    )
            elif decision.action == DRAFT and post.status != PostStatus.DRAFT:
                _keep_as_draft(post, actor, "crisis review: kept as a draft")
            post.refresh_from_db(fields=["status", "scheduled_at"])
            review.append(
                {
                    "post": post.pk,
                    "decision": decision.action,
                    "status": post.status,
                    "scheduled_at": post.scheduled_at.isoformat() if post.scheduled_at else None,
                }
            )
        switch = CrisisModeSwitch.objects.create(
            on=False,
            scope=state.scope,
            channel_ids=[c.pk for c in state.channels],
            reason=text,
            actor_id=access.user.pk,
            actor_label=access.user.email,
            agency_id=agency.pk if agency else None,
            agency_label=agency.name if agency else "",
            incident=state.incident,
            held_post_ids=sorted(chosen),
            review=review,
            change=change,
        )
        counts = {action: sum(1 for r in review if r["decision"] == action) for action in DECISIONS}
        if state.incident is not None:
            timeline_record(
                incident=state.incident,
                kind=TimelineKind.POSTS_RESUMED,
                text=(
                    f"Crisis mode off: {counts[RELEASE]} posts released, {counts[RESCHEDULE]} "
                    f"rescheduled, {counts[DRAFT]} kept as drafts. {text}"
                ),
                actor=actor,
                data={"switch": switch.pk, "review": review},
            )
        audit_record(
            action=AuditAction.CRISIS_MODE_OFF,
            actor=access.user,
            tenant=access.tenant,
            agency=agency,
            target="crisis mode",
            client=client,
            details={"scope": state.scope, "reviewed": counts, "reason": text},
        )
    return switch
