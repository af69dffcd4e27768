"""Reads of scheduled posts: lists for the API and the calendar, sends per post, the uplift report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from personalization.ml.uplift import Uplift, uplift_estimate
from personalization.post_models import (
    Campaign,
    CampaignGroup,
    CampaignMember,
    PostSend,
    PostTransition,
    PublishingChannel,
    ScheduledPost,
    SendStatus,
)


def publishing_channel_list() -> QuerySet[PublishingChannel]:
    return PublishingChannel.objects.annotate(
        posts_waiting=Count("posts", filter=Q(posts__status__in=("approved", "scheduled", "paused")))
    ).order_by("name")


def scheduled_post_list(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    channel_id: int | None = None,
    status: str | None = None,
) -> QuerySet[ScheduledPost]:
    """Posts with their channel, send counts and history, in calendar order (undated drafts last)."""
    posts = (
        ScheduledPost.objects.select_related("channel")
        .annotate(
            sends_total=Count("sends"),
            sends_delivered=Count("sends", filter=Q(sends__status=SendStatus.DELIVERED)),
            sends_failed=Count("sends", filter=Q(sends__status=SendStatus.FAILED)),
        )
        .prefetch_related(Prefetch("transitions", queryset=PostTransition.objects.order_by("at", "id")))
        .order_by("scheduled_at", "id")
    )
    if start is not None:
        posts = posts.filter(scheduled_at__gte=start)
    if end is not None:
        posts = posts.filter(scheduled_at__lt=end)
    if channel_id is not None:
        posts = posts.filter(channel_id=channel_id)
    if status:
        posts = posts.filter(status=status)
    return posts


def post_send_list(*, post: ScheduledPost) -> QuerySet[PostSend]:
    return PostSend.objects.filter(post=post).order_by("id")


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.annotate(
        treated_n=Count("members", filter=Q(members__group=CampaignGroup.TREATED)),
        holdout_n=Count("members", filter=Q(members__group=CampaignGroup.HOLDOUT)),
    )


@dataclass(frozen=True)
class UpliftReport:
    campaign: Campaign
    treated_vs_holdout: Uplift | None
    recommended_vs_not: Uplift | None
    notes: list[str]


def _estimate(
    treated: list[int], holdout: list[int], name: str, notes: list[str], **options: object
) -> Uplift | None:
    if len(treated) < 2 or len(holdout) < 2:
        notes.append(
            f"{name}: not enough contacts (need 2 on each side, have {len(treated)} and {len(holdout)})."
        )
        return None
    return uplift_estimate(treated=treated, holdout=holdout, **options)  # type: ignore[arg-type]


def campaign_uplift(
    *, campaign: Campaign, method: str = "analytic", confidence: float = 0.95
) -> UpliftReport:
    """Engagements per contact: treated against holdout (the campaign's effect), and, among the
    treated, contacts reached by posts placed at recommended slots against those reached only by
    posts placed by hand (the recommendations' effect). Contacts are the units."""
    if method not in ("analytic", "bootstrap"):
        raise ValidationError({"method": "analytic or bootstrap"})
    delivered = PostSend.objects.filter(
        post__campaign=campaign, contact_id=OuterRef("contact_id"), status=SendStatus.DELIVERED
    )
    rows = list(
        CampaignMember.objects.filter(campaign=campaign)
        .annotate(
            recommended=Exists(delivered.exclude(post__recommendation={})),
            by_hand=Exists(delivered.filter(post__recommendation={})),
        )
        .values_list("group", "engagements", "recommended", "by_hand")
    )
    notes: list[str] = []
    options = {"method": method, "confidence": confidence, "seed": campaign.seed}
    treated = [e for g, e, _, _ in rows if g == CampaignGroup.TREATED]
    holdout = [e for g, e, _, _ in rows if g == CampaignGroup.HOLDOUT]
    recommended = [e for g, e, r, _ in rows if g == CampaignGroup.TREATED and r]
    by_hand = [e for g, e, r, h in rows if g == CampaignGroup.TREATED and h and not r]
    return UpliftReport(
        campaign=campaign,
        treated_vs_holdout=_estimate(treated, holdout, "Treated against holdout", notes, **options),
        recommended_vs_not=_estimate(
            recommended, by_hand, "Recommended against by-hand sends", notes, **options
        ),
        notes=notes,
    )
