"""Listening's personal data: mentions a person authored, found by their known handles.

Registered with ethics (`ethics.personal_data`, `ethics.retention`) in `ListeningConfig.ready`.
Erasure anonymises a mention in place (it still counts in volumes and stories): author fields,
text, link, raw payload, embedding and search vector are cleared, and the external id is replaced
so the platform's post id no longer points back at the person.
"""

from __future__ import annotations

from datetime import datetime
from functools import reduce
from operator import or_

from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat

from ethics.personal_data import Person, Provider, Rows
from ethics.retention import RetentionKind
from listening.models import InboxEvent, InboxItem, Mention

ERASED_TEXT = "[erased at the author's request]"
EXPORT_FIELDS = (
    "id",
    "source__name",
    "external_id",
    "text",
    "author_handle",
    "author_name",
    "author_followers",
    "url",
    "posted_at",
    "received_at",
    "lang",
    "sentiment",
)


def _authored(person: Person) -> QuerySet[Mention]:
    if not person.handles:
        return Mention.objects.none()
    # Handles arrive as "jo", "@jo" or "jo@instance": stored as sent, matched without case.
    match = reduce(
        or_, (Q(author_handle__iexact=h) | Q(author_handle__iexact=f"@{h}") for h in person.handles)
    )
    return Mention.objects.filter(match)


def _export(person: Person) -> Rows:
    authored = _authored(person)
    # What the team wrote back to them (drafts and replies) is about them too.
    replies = InboxItem.objects.filter(mention__in=authored).values("mention_id", "status", "draft", "reply")
    return {
        "mention": list(authored.order_by("posted_at", "id").values(*EXPORT_FIELDS)),
        "inbox_item": list(replies.order_by("mention_id")),
    }


def _erase(person: Person) -> dict[str, int]:
    items = InboxItem.objects.filter(mention__in=_authored(person))
    # Drafts, replies and the notes of their history: written to or about the person.
    events = InboxEvent.objects.filter(item__in=items).exclude(data={}).update(data={})
    replies = items.update(draft="", reply="")
    count = _authored(person).update(
        text=ERASED_TEXT,
        author_handle="",
        author_name="",
        author_followers=None,
        url="",
        raw={},
        embedding=None,
        search_vector=None,
        external_id=Concat(Value("erased-"), Cast("id", CharField())),
    )
    return {"mention": count, "inbox_item": replies, "inbox_event": events}


PROVIDER = Provider(
    name="listening",
    models=("listening.Mention", "listening.InboxItem", "listening.InboxEvent"),
    export=_export,
    erase=_erase,
    order=100,
)


def _older(cutoff: datetime) -> QuerySet[Mention]:
    return Mention.objects.filter(posted_at__lt=cutoff)


def _purge(cutoff: datetime, batch: int = 5000) -> int:
    """Deleted in batches of ids, so one huge delete does not hold locks on the whole table."""
    removed = 0
    while ids := list(_older(cutoff).order_by("id").values_list("id", flat=True)[:batch]):
        removed += Mention.objects.filter(id__in=ids).delete()[1].get("listening.Mention", 0)
    return removed


RETENTION = RetentionKind(
    kind="mentions", label="Mentions (by posting time)", count=lambda c: _older(c).count(), purge=_purge
)
