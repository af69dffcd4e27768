"""Reads of personalization. Anything about contacts goes through the consent gate."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from ethics.selectors import consented_contacts
from personalization.models import Channel, CrisisModeChange, Recommendation, Segment, SegmentKind

PERSONALIZATION = "personalization"


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.select_related("publishing").order_by("name", "id")


def segment_list(*, include_retired: bool = False) -> QuerySet[Segment]:
    """Segments with their current size among consented contacts (a withdrawn member is not
    counted even before the worker removes the membership)."""
    segments = Segment.objects.all() if include_retired else Segment.objects.filter(is_active=True)
    consented = consented_contacts(purpose=PERSONALIZATION).values("pk")
    return segments.annotate(
        members=Count("memberships", filter=Q(memberships__contact_id__in=consented))
    ).order_by("kind", "number", "name", "id")


def segment_get(*, segment_id: int) -> Segment:
    segment = segment_list().filter(pk=segment_id).first()
    if segment is None:
        raise Http404("No such segment")
    return segment


# The key of "everyone": the engagement model's label for contacts of no learnt segment, and a
# post's audience when it names no segment.
ALL_CONTACTS = "all"


def segment_by_key(*, key: str) -> Segment | None:
    """The active segment a stable key names (see `Segment.key`), or None for an unknown key."""
    if key.isascii() and key.isdigit():
        return Segment.objects.filter(kind=SegmentKind.MODEL, number=int(key), is_active=True).first()
    if key.startswith("rule:") and key[5:].isascii() and key[5:].isdigit():
        return Segment.objects.filter(kind=SegmentKind.RULE, pk=int(key[5:]), is_active=True).first()
    return None


def segment_members(*, segment: Segment) -> QuerySet:
    """The segment's contacts that may be targeted now (the gate, not just the membership rows)."""
    return consented_contacts(purpose=PERSONALIZATION).filter(segment_memberships__segment=segment)


def crisis_mode_on() -> bool:
    latest = CrisisModeChange.objects.order_by("-changed_at", "-id").values_list("on", flat=True).first()
    return bool(latest)


def crisis_mode_history() -> QuerySet[CrisisModeChange]:
    return CrisisModeChange.objects.order_by("-changed_at", "-id")


def recommendation_list() -> QuerySet[Recommendation]:
    return Recommendation.objects.select_related("segment", "channel").order_by("-created_at", "-id")
