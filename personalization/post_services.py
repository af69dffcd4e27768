"""Writes of scheduled posts: channels, the post state machine, pause and resume, campaigns.

The state machine
-----------------
    draft -> approved -> scheduled -> sending -> sent | failed
    approved | scheduled | sending -> paused -> (the state it left) | needs_reschedule
    needs_reschedule | failed -> scheduled (a person picks a new time)

Approving needs the APPROVE capability (the API checks it); editing an approved or scheduled post's
content sends it back to draft, so what goes out is what was approved. Every change is a
`PostTransition` row (who, when, why). A pause holds posts at one of three scopes (the post, its
channel, the tenant); a resume frees only what its own scope held, and a post whose time passed
while held goes to `needs_reschedule` and waits for a person.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from ethics.selectors import consented_contacts, purpose_by_code
from listening.connectors import safe_http
from personalization.models import Channel
from personalization.post_models import (
    CONNECTOR_AUDIENCE_KINDS,
    Campaign,
    CampaignGroup,
    CampaignMember,
    ConnectorKind,
    PauseScope,
    PostStatus,
    PostTransition,
    PublishingChannel,
    PublishingState,
    ScheduledPost,
    SendStatus,
)
from personalization.selectors import ALL_CONTACTS, segment_by_key
from tenants.models import User

HOLDABLE = (PostStatus.APPROVED, PostStatus.SCHEDULED, PostStatus.SENDING)
# A crisis statement's post (crisis.StatementPublication) is the crisis response itself: crisis mode
# holds marketing, never it.
NOT_A_STATEMENT = Q(statement_publication__isnull=True)
# What an approver approved: changing any of it (including where and to whom it goes) needs approval again.
CONTENT_FIELDS = (
    "text",
    "variant",
    "media_type",
    "tone",
    "call_to_action",
    "segment_key",
    "targeting",
    "channel",
    "campaign",
)
TARGETING_KEYS = {"kind", "language", "region"}
MIN_SECRET = 16
MAX_TEXT = {ConnectorKind.MASTODON: 500, ConnectorKind.EMAIL: 20_000, ConnectorKind.WEBHOOK: 20_000}


@dataclass(frozen=True)
class Actor:
    """Who acts: a person (id and label for the history) or the system (`crisis mode`, `publisher`)."""

    user_id: int | None
    label: str

    @classmethod
    def of(cls, user: User | None, label: str = "system") -> Actor:
        return cls(user.pk, user.email) if user is not None else cls(None, label)


SYSTEM = Actor(None, "publisher")


def _transition(post: ScheduledPost, to: str, *, actor: Actor, reason: str = "") -> None:
    PostTransition.objects.create(
        post=post,
        from_status=post.status,
        to_status=to,
        actor_id=actor.user_id,
        actor_label=actor.label[:254],
        reason=reason[:500],
    )
    post.status = to
    post.updated_at = timezone.now()


# Channels -------------------------------------------------------------------------------------------


def _channel_validate(channel: PublishingChannel) -> None:
    errors: dict[str, str] = {}
    if channel.kind in (ConnectorKind.WEBHOOK, ConnectorKind.MASTODON):
        if not channel.url:
            errors["url"] = "This connector needs a URL."
        else:
            try:
                safe_http.check_url(channel.url)
            except safe_http.FetchError as error:
                errors["url"] = str(error)
    if channel.kind == ConnectorKind.WEBHOOK and len(channel.webhook_secret) < MIN_SECRET:
        errors["webhook_secret"] = (
            f"Receivers verify the signature with a secret of at least {MIN_SECRET} characters."
        )
    if channel.kind == ConnectorKind.MASTODON and not channel.access_token:
        errors["access_token"] = "Mastodon needs an access token with the write:statuses scope."  # noqa: S105
    if channel.kind == ConnectorKind.EMAIL:
        if not channel.consent_purpose:
            errors["consent_purpose"] = "Email goes only to contacts who consented to a purpose: name it."
        else:
            try:
                purpose_by_code(code=channel.consent_purpose)
            except ValidationError:
                errors["consent_purpose"] = f"No purpose with the code '{channel.consent_purpose}'."
    if channel.channel_id is not None:
        audience = channel.channel
        allowed = CONNECTOR_AUDIENCE_KINDS.get(channel.kind, ())
        if PublishingChannel.objects.filter(channel_id=channel.channel_id).exclude(pk=channel.pk).exists():
            errors["channel"] = "This audience channel has a publishing connector already."
        elif audience.kind not in allowed:
            errors["channel"] = (
                f"A {channel.get_kind_display().lower()} connector publishes to a channel of kind "
                f"{' or '.join(allowed)}, not {audience.kind}."
            )
    if PublishingChannel.objects.filter(name=channel.name).exclude(pk=channel.pk).exists():
        errors["name"] = f"A channel named '{channel.name}' exists already."
    if errors:
        raise ValidationError(errors)


def publishing_channel_create(
    *,
    name: str,
    kind: str,
    url: str = "",
    webhook_secret: str = "",
    access_token: str = "",
    consent_purpose: str = "",
    channel: Channel | None = None,
) -> PublishingChannel:
    """A connector and its audience channel, together: `channel` when given, otherwise the audience
    channel of the same name if it exists without a connector, otherwise a new one of the
    connector's kind. Every delivery through the connector is then counted on that channel."""
    with transaction.atomic():
        created = None
        if channel is None:
            channel = Channel.objects.select_for_update().filter(name=name).first()
            if channel is None and kind in CONNECTOR_AUDIENCE_KINDS:
                created = channel = Channel(kind=CONNECTOR_AUDIENCE_KINDS[kind][0], name=name[:100])
        connector = PublishingChannel(
            channel=channel,
            name=name,
            kind=kind,
            url=url,
            webhook_secret=webhook_secret,
            access_token=access_token,
            consent_purpose=consent_purpose,
        )
        if created is not None:
            created.save()
            connector.channel = created
        _channel_validate(connector)
        connector.save()
    return connector


# Posts ------------------------------------------------------------------------------------------------


def _post_validate(post: ScheduledPost) -> None:
    errors: dict[str, str] = {}
    limit = MAX_TEXT[ConnectorKind(post.channel.kind)]
    if not post.text.strip():
        errors["text"] = "A post needs text."
    elif len(post.text) > limit:
        errors["text"] = f"At most {limit} characters on a {post.channel.get_kind_display()} channel."
    if post.scheduled_at is not None and timezone.is_naive(post.scheduled_at):
        errors["scheduled_at"] = "Give a time zone (e.g. 2026-12-01T09:00:00+01:00)."
    unknown = set(post.targeting) - TARGETING_KEYS
    if unknown:
        errors["targeting"] = f"Unknown keys: {', '.join(sorted(unknown))} (allowed: kind, language, region)."
    elif any(not isinstance(v, str) for v in post.targeting.values()):
        errors["targeting"] = "Targeting values are strings."
    if post.channel.kind != ConnectorKind.EMAIL and (post.targeting or post.campaign_id):
        errors["targeting"] = "Only email channels address contacts; a public channel reaches everyone."
    if post.segment_key not in ("", ALL_CONTACTS) and segment_by_key(key=post.segment_key) is None:
        errors["segment_key"] = (
            f"No active segment with the key '{post.segment_key}' (a learnt segment's number, "
            "rule:<id> for a rule segment, or all)."
        )
    if errors:
        raise ValidationError(errors)


def scheduled_post_create(
    *,
    channel: PublishingChannel,
    text: str,
    actor: Actor,
    scheduled_at: datetime | None = None,
    variant: str = "",
    media_type: str = "text",
    tone: str = "",
    call_to_action: str = "",
    segment_key: str = "",
    targeting: dict[str, str] | None = None,
    recommendation: dict[str, Any] | None = None,
    campaign: Campaign | None = None,
) -> ScheduledPost:
    post = ScheduledPost(
        channel=channel,
        text=text,
        scheduled_at=scheduled_at,
        variant=variant,
        media_type=media_type,
        tone=tone,
        call_to_action=call_to_action,
        segment_key=segment_key,
        targeting=targeting or {},
        recommendation=recommendation or {},
        campaign=campaign,
        created_by_id=actor.user_id,
    )
    _post_validate(post)
    with transaction.atomic():
        post.save()
        PostTransition.objects.create(
            post=post,
            from_status="",
            to_status=PostStatus.DRAFT,
            actor_id=actor.user_id,
            actor_label=actor.label,
            reason="created from a recommended slot" if recommendation else "created",
        )
    return post


def scheduled_post_from_slot(
    *, channel: PublishingChannel, text: str, slot: dict[str, Any], actor: Actor, **content: Any
) -> ScheduledPost:
    """A post at a recommended slot; the slot (its score, interval, reasons) is kept with the post."""
    start = slot["start"]
    return scheduled_post_create(
        channel=channel,
        text=text,
        actor=actor,
        scheduled_at=start,
        recommendation={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in slot.items()},
        **content,
    )


def scheduled_post_update(*, post: ScheduledPost, actor: Actor, **changes: Any) -> ScheduledPost:
    """Edit a post not yet out. New content returns any post but a draft to draft, its approval
    cleared (a held one returns to draft when resumed); a scheduled post's new time must be in the
    future."""
    with transaction.atomic():
        post = ScheduledPost.objects.select_for_update().select_related("channel").get(pk=post.pk)
        if post.status in (PostStatus.SENDING, PostStatus.SENT) or post.paused_from == PostStatus.SENDING:
            raise ValidationError({"status": "A post that has started going out cannot change."})
        content_changed = any(
            field in changes and changes[field] != getattr(post, field) for field in CONTENT_FIELDS
        )
        moved = "scheduled_at" in changes and changes["scheduled_at"] != post.scheduled_at
        for field, value in changes.items():
            setattr(post, field, value)
        _post_validate(post)
        waiting = post.status == PostStatus.SCHEDULED or post.paused_from == PostStatus.SCHEDULED
        if moved and waiting and (post.scheduled_at is None or post.scheduled_at <= timezone.now()):
            raise ValidationError({"scheduled_at": "A scheduled post needs a time in the future."})
        if content_changed and post.status not in (PostStatus.DRAFT, PostStatus.PAUSED):
            # Failed and needs-reschedule posts too: `schedule` (EDIT) would otherwise send new
            # content under the old approval.
            _transition(post, PostStatus.DRAFT, actor=actor, reason="content edited: needs approval again")
            post.approved_by_id = None
        elif content_changed and post.paused_from in (PostStatus.APPROVED, PostStatus.SCHEDULED):
            _transition(
                post, PostStatus.PAUSED, actor=actor, reason="content edited: back to draft when resumed"
            )
            post.paused_from, post.approved_by_id = PostStatus.DRAFT, None
        post.updated_at = timezone.now()
        post.save()
    return post


def _locked(post: ScheduledPost) -> ScheduledPost:
    return ScheduledPost.objects.select_for_update().select_related("channel").get(pk=post.pk)


def _refuse(post: ScheduledPost, action: str) -> ValidationError:
    return ValidationError({"status": f"A {post.get_status_display().lower()} post cannot be {action}."})


def scheduled_post_approve(*, post: ScheduledPost, actor: Actor, reason: str = "") -> ScheduledPost:
    with transaction.atomic():
        post = _locked(post)
        if post.status != PostStatus.DRAFT:
            raise _refuse(post, "approved")
        post.approved_by_id = actor.user_id
        _transition(post, PostStatus.APPROVED, actor=actor, reason=reason)
        post.save()
    return post


def _publishing_state() -> PublishingState:
    state, _ = PublishingState.objects.get_or_create(singleton=True)
    return state


def scheduled_post_schedule(
    *, post: ScheduledPost, actor: Actor, scheduled_at: datetime | None = None, reason: str = ""
) -> ScheduledPost:
    """Put an approved post (or one waiting for a new time) on the calendar. A post scheduled while
    its channel or the tenant is paused is held at once, with that pause's scope (a crisis
    statement's post excepted: NOT_A_STATEMENT)."""
    with transaction.atomic():
        post = _locked(post)
        if post.status not in (PostStatus.APPROVED, PostStatus.NEEDS_RESCHEDULE, PostStatus.FAILED):
            raise _refuse(post, "scheduled")
        when = scheduled_at or post.scheduled_at
        if when is None or timezone.is_naive(when):
            raise ValidationError({"scheduled_at": "Give a time, with its time zone."})
        if when <= timezone.now():
            raise ValidationError({"scheduled_at": "The time has passed: choose a time in the future."})
        post.scheduled_at = when
        _transition(post, PostStatus.SCHEDULED, actor=actor, reason=reason)
        state = _publishing_state()
        holdable = ScheduledPost.objects.filter(NOT_A_STATEMENT, pk=post.pk).exists()
        if holdable and state.is_paused:
            _hold(post, scope=PauseScope.TENANT, reason=state.pause_reason, actor=actor)
        elif holdable and post.channel.is_paused:
            _hold(post, scope=PauseScope.CHANNEL, reason=post.channel.pause_reason, actor=actor)
        post.save()
    return post


def scheduled_post_delete(*, post: ScheduledPost) -> None:
    """Delete a post nothing of which has gone out: a delivered send is the record of who got it."""
    with transaction.atomic():
        post = _locked(post)
        started = (
            post.paused_from == PostStatus.SENDING or post.sends.exclude(status=SendStatus.PENDING).exists()
        )
        if post.status in (PostStatus.SENDING, PostStatus.SENT) or started:
            raise _refuse(post, "deleted")
        post.delete()


# Pause and resume -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PauseTarget:
    scope: str  # PauseScope
    post: ScheduledPost | None = None
    channel: PublishingChannel | None = None


def _hold(post: ScheduledPost, *, scope: str, reason: str, actor: Actor) -> None:
    post.paused_from, post.pause_scope, post.pause_reason = post.status, scope, reason[:500]
    _transition(post, PostStatus.PAUSED, actor=actor, reason=f"paused ({scope}): {reason}")


def posts_held_by(*, target: PauseTarget) -> QuerySet[ScheduledPost]:
    """The posts a pause at `target` would hold (the preview), or holds now (for a resume)."""
    posts = ScheduledPost.objects.select_related("channel")
    if target.scope == PauseScope.POST:
        return posts.filter(pk=target.post.pk) if target.post is not None else posts.none()
    if target.scope == PauseScope.CHANNEL:
        return posts.filter(channel=target.channel)
    return posts.all()


def posts_pause_preview(*, target: PauseTarget) -> QuerySet[ScheduledPost]:
    return (
        posts_held_by(target=target)
        .filter(NOT_A_STATEMENT, status__in=HOLDABLE)
        .order_by("scheduled_at", "id")
    )


def posts_pause(*, target: PauseTarget, reason: str, actor: Actor) -> list[ScheduledPost]:
    """Hold every approved, scheduled or still-sending post in scope (a sending post's remaining
    sends wait). A channel or tenant pause also holds posts scheduled later, until resumed."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why (it is recorded on every held post)."})
    with transaction.atomic():
        if target.scope == PauseScope.TENANT:
            state = PublishingState.objects.select_for_update().get_or_create(singleton=True)[0]
            state.is_paused, state.pause_reason, state.paused_at = True, reason[:500], timezone.now()
            state.save()
        elif target.scope == PauseScope.CHANNEL and target.channel is not None:
            PublishingChannel.objects.filter(pk=target.channel.pk).update(
                is_paused=True, pause_reason=reason[:500]
            )
        held = list(posts_pause_preview(target=target).select_for_update(of=("self",)))
        for post in held:
            _hold(post, scope=target.scope, reason=reason, actor=actor)
            post.save()
    return held


def posts_resume_preview(*, target: PauseTarget) -> QuerySet[ScheduledPost]:
    held = posts_held_by(target=target).filter(status=PostStatus.PAUSED)
    if target.scope != PauseScope.POST:
        held = held.filter(pause_scope=target.scope)
    return held.order_by("scheduled_at", "id")


def posts_resume(*, target: PauseTarget, actor: Actor, reason: str = "") -> list[ScheduledPost]:
    """Free what this scope held: each post returns to its state, except a scheduled post whose time
    passed meanwhile, which goes to `needs_reschedule` for a person (it would otherwise go out late,
    out of context, the moment the pause lifts)."""
    now = timezone.now()
    with transaction.atomic():
        if target.scope == PauseScope.TENANT:
            PublishingState.objects.filter(singleton=True).update(
                is_paused=False, pause_reason="", paused_at=None
            )
        elif target.scope == PauseScope.CHANNEL and target.channel is not None:
            PublishingChannel.objects.filter(pk=target.channel.pk).update(is_paused=False, pause_reason="")
        resumed = list(posts_resume_preview(target=target).select_for_update(of=("self",)))
        for post in resumed:
            back = post.paused_from or PostStatus.APPROVED
            # A post caught mid-send also waits: its remaining sends go out when it is rescheduled.
            if (
                back in (PostStatus.SCHEDULED, PostStatus.SENDING)
                and post.scheduled_at
                and post.scheduled_at <= now
            ):
                back = PostStatus.NEEDS_RESCHEDULE
            _transition(post, back, actor=actor, reason=reason or "resumed")
            post.paused_from = post.pause_scope = post.pause_reason = ""
            post.save()
    return resumed


# Campaigns --------------------------------------------------------------------------------------------


def campaign_create(
    *, name: str, consent_purpose: str, holdout_fraction: float, seed: int | None = None
) -> Campaign:
    """Split the purpose's consenting contacts at random into treated and holdout. The seed is drawn
    when not given and always recorded, so the split can be re-derived and audited."""
    errors: dict[str, str] = {}
    if not 0.01 <= holdout_fraction <= 0.5:
        errors["holdout_fraction"] = "Between 0.01 and 0.5."
    if Campaign.objects.filter(name=name).exists():
        errors["name"] = f"A campaign named '{name}' exists already."
    try:
        purpose_by_code(code=consent_purpose)
    except ValidationError:
        errors["consent_purpose"] = f"No purpose with the code '{consent_purpose}'."
    if errors:
        raise ValidationError(errors)
    chosen_seed = seed if seed is not None else secrets.randbelow(2**62)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name, consent_purpose=consent_purpose, holdout_fraction=holdout_fraction, seed=chosen_seed
        )
        ids = sorted(consented_contacts(purpose=consent_purpose).values_list("pk", flat=True))
        draws = np.random.default_rng(chosen_seed).random(len(ids))
        CampaignMember.objects.bulk_create(
            [
                CampaignMember(
                    campaign=campaign,
                    contact_id=contact_id,
                    group=CampaignGroup.HOLDOUT if draw < holdout_fraction else CampaignGroup.TREATED,
                )
                for contact_id, draw in zip(ids, draws, strict=True)
            ],
            batch_size=2000,
        )
    return campaign


def campaign_engagements_record(*, campaign: Campaign, engagements: list[dict[str, int]]) -> int:
    """Count members' engagements in the campaign window (holdout members' too: they are the
    comparison), in one transaction. Returns how many entries named a member of the campaign."""
    counted = 0
    with transaction.atomic():
        for entry in engagements:
            counted += CampaignMember.objects.filter(
                campaign=campaign, contact_id=entry["contact_id"]
            ).update(engagements=F("engagements") + entry.get("count", 1))
    return counted
