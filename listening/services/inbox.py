"""The inbox: mentions that need an answer, queued by enrichment, worked by the team.

Items are queued inside enrichment's transaction, for the rows that transaction claimed, so a batch
delivered twice queues nothing twice (and `mention` is unique besides). One item per story: a copy
or a share of a post already queued is counted on its story (`Story.mention_count`), not queued
again; enrichment holds the story's advisory lock while it queues, and a partial unique index on
the story is the backstop. Shares (`RT @user: ...`) never open an item: the person to answer is the
author of the original, not everyone who passed it on.

Every change by a person is an InboxEvent (who, when, what); first-response time runs from the
mention's arrival (`received_at`) to the first answer and is never reset by reopening.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from listening.models import (
    InboxEvent,
    InboxEventKind,
    InboxItem,
    InboxSettings,
    InboxStatus,
    Mention,
)
from listening.nlp.needs_reply import Post, Thresholds, base_priority, reasons_for
from listening.selectors import inbox_settings_get
from tenants.access import Capability, capabilities_for_roles, roles_in_tenant
from tenants.models import Tenant, User

REPLY_MAX_CHARS = 10_000


def inbox_items_queue(*, mentions: Sequence[Mention]) -> int:
    """Queue the enriched mentions that need an answer; returns how many items were opened.
    Runs inside enrichment's transaction, on the rows it claimed."""
    settings = inbox_settings_get()
    thresholds = Thresholds(
        high_reach_followers=settings.high_reach_followers, negative_min_score=settings.negative_min_score
    )
    candidates: list[tuple[Mention, list[str], float]] = []
    for mention in mentions:
        if mention.is_share:
            continue
        post = Post(
            text=mention.text,
            lang=mention.lang,
            sentiment=mention.sentiment,
            sentiment_score=mention.sentiment_score,
            followers=mention.author_followers,
            raw=mention.raw if isinstance(mention.raw, dict) else {},
        )
        reasons = reasons_for(post, thresholds)
        if reasons:
            candidates.append((mention, reasons, base_priority(post, reasons)))
    if not candidates:
        return 0
    story_ids = {m.story_id for m, _, _ in candidates if m.story_id is not None}
    queued = set(InboxItem.objects.filter(story_id__in=story_ids).values_list("story_id", flat=True))
    now = timezone.now()
    items = []
    for mention, reasons, priority in candidates:
        if mention.story_id is not None:
            if mention.story_id in queued:
                continue
            queued.add(mention.story_id)
        items.append(
            InboxItem(
                mention=mention,
                story_id=mention.story_id,
                reasons=reasons,
                priority=priority,
                received_at=mention.received_at,
                created_at=now,
                updated_at=now,
            )
        )
    # ON CONFLICT DO NOTHING: the unique indexes (mention; story) are the last word on duplicates.
    InboxItem.objects.bulk_create(items, ignore_conflicts=True)
    created = list(
        InboxItem.objects.filter(mention_id__in=[i.mention_id for i in items], created_at=now).values_list(
            "id", "reasons"
        )
    )
    InboxEvent.objects.bulk_create(
        InboxEvent(item_id=pk, kind=InboxEventKind.CREATED, at=now, data={"reasons": reasons})
        for pk, reasons in created
    )
    return len(created)


def _locked(item: InboxItem) -> InboxItem:
    """The item's row, locked for the change: two people acting at once are applied one by one."""
    return InboxItem.objects.select_for_update().get(pk=item.pk)


def _record(item: InboxItem, kind: str, actor: User, fields: list[str], **data: Any) -> InboxItem:
    now = timezone.now()
    item.updated_at = now
    item.save(update_fields=[*fields, "updated_at"])
    InboxEvent.objects.create(item=item, kind=kind, actor_id=actor.pk, at=now, data=data)
    return item


def inbox_assignee_validate(*, tenant: Tenant, user_id: int) -> User:
    """The user, if they may work the inbox of `tenant`: a member or agency staff who can edit."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or Capability.EDIT not in capabilities_for_roles(
        roles_in_tenant(user=user, tenant=tenant)
    ):
        raise ValidationError(
            {"assignee": "Assign to a member of this workspace (or its agency) who may edit."}
        )
    return user


def inbox_item_assign(*, item: InboxItem, tenant: Tenant, assignee_id: int | None, actor: User) -> InboxItem:
    """Give the item to a member (None takes it back to the team queue)."""
    if assignee_id is not None:
        inbox_assignee_validate(tenant=tenant, user_id=assignee_id)
    with transaction.atomic():
        item = _locked(item)
        previous = item.assignee_id
        if previous == assignee_id:
            return item
        item.assignee_id = assignee_id
        if item.status in (InboxStatus.NEW, InboxStatus.ASSIGNED):
            item.status = InboxStatus.ASSIGNED if assignee_id is not None else InboxStatus.NEW
        kind = InboxEventKind.ASSIGNED if assignee_id is not None else InboxEventKind.UNASSIGNED
        return _record(item, kind, actor, ["assignee_id", "status"], previous=previous, assignee=assignee_id)


def inbox_item_draft(*, item: InboxItem, text: str, actor: User) -> InboxItem:
    """Save a reply draft; drafting an unassigned item takes it."""
    with transaction.atomic():
        item = _locked(item)
        if item.status not in (InboxStatus.NEW, InboxStatus.ASSIGNED):
            raise ValidationError({"draft": "This item is done; reopen it to draft another reply."})
        item.draft = text
        fields = ["draft"]
        if item.assignee_id is None:
            item.assignee_id, item.status = actor.pk, InboxStatus.ASSIGNED
            fields += ["assignee_id", "status"]
        return _record(item, InboxEventKind.DRAFTED, actor, fields, chars=len(text))


def inbox_item_answer(*, item: InboxItem, reply: str, actor: User) -> InboxItem:
    """Mark answered with the reply that was sent. The first answer stops the response clock."""
    reply = reply.strip()
    if not reply:
        raise ValidationError({"reply": "Write the reply that was sent."})
    with transaction.atomic():
        item = _locked(item)
        if item.status not in (InboxStatus.NEW, InboxStatus.ASSIGNED):
            raise ValidationError({"status": f"This item is already {item.get_status_display().lower()}."})
        now = timezone.now()
        item.status, item.reply, item.draft = InboxStatus.ANSWERED, reply, ""
        fields = ["status", "reply", "draft"]
        if item.assignee_id is None:
            item.assignee_id = actor.pk
            fields.append("assignee_id")
        if item.first_response_at is None:
            item.first_response_at, item.first_responder_id = now, actor.pk
            fields += ["first_response_at", "first_responder_id"]
        return _record(item, InboxEventKind.ANSWERED, actor, fields, chars=len(reply))


def inbox_item_close(*, item: InboxItem, actor: User, note: str = "") -> InboxItem:
    """No reply needed (spam, already handled elsewhere). Not an answer: no response time."""
    with transaction.atomic():
        item = _locked(item)
        if item.status not in (InboxStatus.NEW, InboxStatus.ASSIGNED):
            raise ValidationError({"status": f"This item is already {item.get_status_display().lower()}."})
        item.status = InboxStatus.CLOSED
        return _record(item, InboxEventKind.CLOSED, actor, ["status"], note=note)


def inbox_item_reopen(*, item: InboxItem, actor: User) -> InboxItem:
    """Back to the queue (a follow-up came in, or it was closed by mistake)."""
    with transaction.atomic():
        item = _locked(item)
        if item.status not in (InboxStatus.ANSWERED, InboxStatus.CLOSED):
            raise ValidationError({"status": "Only answered or closed items can be reopened."})
        previous = item.status
        item.status = InboxStatus.ASSIGNED if item.assignee_id is not None else InboxStatus.NEW
        return _record(item, InboxEventKind.REOPENED, actor, ["status"], previous=previous)


def inbox_settings_update(
    *,
    high_reach_followers: int | None = None,
    negative_min_score: float | None = None,
    response_target_minutes: int | None = None,
) -> InboxSettings:
    """Change the thresholds; they apply to mentions enriched from now on."""
    with transaction.atomic():
        settings, _ = InboxSettings.objects.select_for_update().get_or_create(pk=1)
        if high_reach_followers is not None:
            settings.high_reach_followers = high_reach_followers
        if negative_min_score is not None:
            settings.negative_min_score = negative_min_score
        if response_target_minutes is not None:
            settings.response_target_minutes = response_target_minutes
        settings.updated_at = timezone.now()
        settings.save()
    return settings
