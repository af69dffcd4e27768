"""Scheduled posts API: publishing channels, posts and their transitions, the calendar, pause and
resume with a preview (per post, per channel, tenant-wide), sends per post, campaigns and uplift.

Approving, resuming and the tenant-wide pause need the APPROVE capability; the rest of the writes
EDIT. Every object is reached through the guarded base class (another tenant's answers 404)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from personalization import post_selectors, post_services, publishing
from personalization.post_models import PauseScope, PostStatus, ScheduledPost
from personalization.post_serializers import (
    CalendarQuerySerializer,
    CalendarSerializer,
    CampaignSerializer,
    CampaignWriteSerializer,
    EngagementsInSerializer,
    PauseResultSerializer,
    PauseSerializer,
    PostFromSlotSerializer,
    PostListQuerySerializer,
    PostSendSerializer,
    PreviewSerializer,
    PublishingChannelSerializer,
    PublishingChannelWriteSerializer,
    ReasonSerializer,
    RetrySerializer,
    ScheduledPostSerializer,
    ScheduledPostWriteSerializer,
    ScheduleSerializer,
    UpliftQuerySerializer,
    UpliftReportSerializer,
)
from tenants.access import Access, Capability
from tenants.api.base import TenantApi

MAX_PREVIEW = 500


def _actor(api: TenantApi) -> post_services.Actor:
    return post_services.Actor.of(api.access.user)


PREVIEW_PARAMETERS = [OpenApiParameter("action", str, enum=["pause", "resume"])]


def _pause_answer(scope: str, posts: Any) -> Response:
    """The posts held or freed (or that would be), with their history, in calendar order."""
    ids = [post.pk for post in posts]
    rows = list(post_selectors.scheduled_post_list().filter(pk__in=ids[:MAX_PREVIEW]))
    return Response(PauseResultSerializer({"scope": scope, "count": len(ids), "posts": rows}).data)


def _preview(request: Request, target: post_services.PauseTarget) -> Response:
    data = PreviewSerializer(data=request.query_params)
    data.is_valid(raise_exception=True)
    if data.validated_data["action"] == "pause":
        return _pause_answer(target.scope, post_services.posts_pause_preview(target=target))
    return _pause_answer(target.scope, post_services.posts_resume_preview(target=target))


class PublishingChannelApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Where posts go (webhook, email, Mastodon), and the channel-wide pause."""

    serializer_class = PublishingChannelSerializer
    cursor_ordering = ("name", "id")
    # Registering a connector stores its credentials: admins only, as for audience channels.
    capabilities = {"create": Capability.MANAGE, "resume": Capability.APPROVE, "preview": Capability.VIEW}

    def scoped_queryset(self, access: Access) -> Any:
        return post_selectors.publishing_channel_list()

    def _answer(self, channel_id: int, code: int = status.HTTP_200_OK) -> Response:
        channel = post_selectors.publishing_channel_list().get(pk=channel_id)
        return Response(PublishingChannelSerializer(channel).data, status=code)

    @extend_schema(request=PublishingChannelWriteSerializer, responses={201: PublishingChannelSerializer})
    def create(self, request: Request) -> Response:
        data = PublishingChannelWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = post_services.publishing_channel_create(**data.validated_data)
        return self._answer(channel.pk, status.HTTP_201_CREATED)

    @extend_schema(request=PauseSerializer, responses=PauseResultSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        """Hold the channel's approved, scheduled and sending posts, and those scheduled later."""
        data = PauseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = post_services.PauseTarget(scope=PauseScope.CHANNEL, channel=self.get_object())
        held = post_services.posts_pause(
            target=target, reason=data.validated_data["reason"], actor=_actor(self)
        )
        return _pause_answer(PauseScope.CHANNEL, held)

    @extend_schema(request=ReasonSerializer, responses=PauseResultSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = post_services.PauseTarget(scope=PauseScope.CHANNEL, channel=self.get_object())
        resumed = post_services.posts_resume(
            target=target, actor=_actor(self), reason=data.validated_data.get("reason", "")
        )
        return _pause_answer(PauseScope.CHANNEL, resumed)

    @extend_schema(parameters=PREVIEW_PARAMETERS, responses=PauseResultSerializer)
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str) -> Response:
        """What a pause of this channel would hold, or what a resume would free."""
        return _preview(
            request, post_services.PauseTarget(scope=PauseScope.CHANNEL, channel=self.get_object())
        )


class ScheduledPostApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantApi):
    """Scheduled posts: create (by hand or from a recommended slot), edit, approve, schedule, pause,
    resume; the calendar; the sends of each post; the tenant-wide pause that crisis mode drives."""

    serializer_class = ScheduledPostSerializer
    cursor_ordering = ("-created_at", "-id")
    capabilities = {
        "approve": Capability.APPROVE,
        "resume": Capability.APPROVE,
        "pause_all": Capability.APPROVE,
        "resume_all": Capability.APPROVE,
        "calendar": Capability.VIEW,
        "sends": Capability.VIEW,
        "preview": Capability.VIEW,
        "preview_all": Capability.VIEW,
    }

    def scoped_queryset(self, access: Access) -> Any:
        if self.action == "list":
            data = PostListQuerySerializer(data=self.request.query_params)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            return post_selectors.scheduled_post_list(
                start=v.get("start"), end=v.get("end"), channel_id=v.get("channel"), status=v.get("status")
            )
        return post_selectors.scheduled_post_list()

    def _answer(self, post: ScheduledPost, code: int = status.HTTP_200_OK) -> Response:
        fresh = post_selectors.scheduled_post_list().get(pk=post.pk)
        return Response(ScheduledPostSerializer(fresh).data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str),
            OpenApiParameter("end", str),
            OpenApiParameter("channel", int),
            OpenApiParameter("status", str, enum=PostStatus.values),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ScheduledPostWriteSerializer, responses={201: ScheduledPostSerializer})
    def create(self, request: Request) -> Response:
        data = ScheduledPostWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = post_services.scheduled_post_create(actor=_actor(self), **data.validated_data)
        return self._answer(post, status.HTTP_201_CREATED)

    @extend_schema(request=PostFromSlotSerializer, responses={201: ScheduledPostSerializer})
    @action(detail=False, methods=["post"], url_path="from-slot")
    def from_slot(self, request: Request) -> Response:
        """A draft at a recommended slot; the slot (score, interval, reasons) stays with the post."""
        data = PostFromSlotSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = post_services.scheduled_post_from_slot(actor=_actor(self), **data.validated_data)
        return self._answer(post, status.HTTP_201_CREATED)

    @extend_schema(request=ScheduledPostWriteSerializer, responses=ScheduledPostSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Edit a post not yet out; new content sends an approved or scheduled post back to draft."""
        data = ScheduledPostWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        post = post_services.scheduled_post_update(
            post=self.get_object(), actor=_actor(self), **data.validated_data
        )
        return self._answer(post)

    def perform_destroy(self, instance: ScheduledPost) -> None:
        post_services.scheduled_post_delete(post=instance)

    @extend_schema(request=ReasonSerializer, responses=ScheduledPostSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = post_services.scheduled_post_approve(
            post=self.get_object(), actor=_actor(self), reason=data.validated_data.get("reason", "")
        )
        return self._answer(post)

    @extend_schema(request=ScheduleSerializer, responses=ScheduledPostSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, pk: str) -> Response:
        """Put an approved post on the calendar, or give a held post whose time passed a new time."""
        data = ScheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = post_services.scheduled_post_schedule(
            post=self.get_object(), actor=_actor(self), **data.validated_data
        )
        return self._answer(post)

    @extend_schema(request=PauseSerializer, responses=PauseResultSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        data = PauseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = post_services.PauseTarget(scope=PauseScope.POST, post=self.get_object())
        held = post_services.posts_pause(
            target=target, reason=data.validated_data["reason"], actor=_actor(self)
        )
        return _pause_answer(PauseScope.POST, held)

    @extend_schema(request=ReasonSerializer, responses=PauseResultSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = post_services.PauseTarget(scope=PauseScope.POST, post=self.get_object())
        resumed = post_services.posts_resume(
            target=target, actor=_actor(self), reason=data.validated_data.get("reason", "")
        )
        return _pause_answer(PauseScope.POST, resumed)

    @extend_schema(parameters=PREVIEW_PARAMETERS, responses=PauseResultSerializer)
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str) -> Response:
        return _preview(request, post_services.PauseTarget(scope=PauseScope.POST, post=self.get_object()))

    @extend_schema(request=PauseSerializer, responses=PauseResultSerializer)
    @action(detail=False, methods=["post"], url_path="pause-all")
    def pause_all(self, request: Request) -> Response:
        """Hold every post of the tenant (what crisis mode does), including those scheduled later."""
        data = PauseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = post_services.PauseTarget(scope=PauseScope.TENANT)
        held = post_services.posts_pause(
            target=target, reason=data.validated_data["reason"], actor=_actor(self)
        )
        return _pause_answer(PauseScope.TENANT, held)

    @extend_schema(request=ReasonSerializer, responses=PauseResultSerializer)
    @action(detail=False, methods=["post"], url_path="resume-all")
    def resume_all(self, request: Request) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = post_services.PauseTarget(scope=PauseScope.TENANT)
        resumed = post_services.posts_resume(
            target=target, actor=_actor(self), reason=data.validated_data.get("reason", "")
        )
        return _pause_answer(PauseScope.TENANT, resumed)

    @extend_schema(parameters=PREVIEW_PARAMETERS, responses=PauseResultSerializer)
    @action(detail=False, methods=["get"], url_path="preview-all")
    def preview_all(self, request: Request) -> Response:
        """What a tenant-wide pause would hold, or what a tenant-wide resume would free."""
        return _preview(request, post_services.PauseTarget(scope=PauseScope.TENANT))

    @extend_schema(request=RetrySerializer, responses=PostSendSerializer(many=True))
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """Another attempt of the post's failed sends (all, or those named in `sends`); refused
        while publishing is paused. Recorded in the post's history and the audit log."""
        data = RetrySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sends = publishing.post_sends_retry(
            post=self.get_object(),
            user=self.access.user,
            send_ids=data.validated_data.get("sends"),
            client=self.client,
        )
        return Response(PostSendSerializer(sends, many=True).data)

    @extend_schema(responses=PostSendSerializer(many=True))
    @action(detail=True, methods=["get"])
    def sends(self, request: Request, pk: str) -> Response:
        """Each recipient's send: status, attempts, last error, next retry, the remote id."""
        sends = post_selectors.post_send_list(post=self.get_object())
        page = self.paginate_queryset(sends)
        return self.get_paginated_response(PostSendSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("view", str, enum=["week", "month"]),
            OpenApiParameter("date", str),
            OpenApiParameter("channel", int),
        ],
        responses=CalendarSerializer,
    )
    @action(detail=False, methods=["get"])
    def calendar(self, request: Request) -> Response:
        """Posts per channel and day of the week (Monday first) or month containing `date`."""
        data = CalendarQuerySerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        day = v.get("date") or timezone.localdate()
        if v["view"] == "week":
            first = day - timedelta(days=day.weekday())
            last = first + timedelta(days=7)
        else:
            first = day.replace(day=1)
            last = (first + timedelta(days=32)).replace(day=1)
        zone = timezone.get_current_timezone()
        start = datetime.combine(first, time.min, tzinfo=zone)
        end = datetime.combine(last, time.min, tzinfo=zone)
        posts = post_selectors.scheduled_post_list(start=start, end=end, channel_id=v.get("channel"))
        days: dict[str, list[dict[str, Any]]] = {}
        for post in posts[:2000]:
            days.setdefault(timezone.localtime(post.scheduled_at).date().isoformat(), []).append(
                ScheduledPostSerializer(post).data
            )
        return Response({"view": v["view"], "start": start.isoformat(), "end": end.isoformat(), "days": days})


class CampaignApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Campaigns with their seeded holdout group, engagement counts, and the uplift report."""

    serializer_class = CampaignSerializer
    capabilities = {"uplift": Capability.VIEW}

    def scoped_queryset(self, access: Access) -> Any:
        return post_selectors.campaign_list()

    @extend_schema(request=CampaignWriteSerializer, responses={201: CampaignSerializer})
    def create(self, request: Request) -> Response:
        data = CampaignWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = post_services.campaign_create(**data.validated_data)
        return Response(
            CampaignSerializer(post_selectors.campaign_list().get(pk=campaign.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=EngagementsInSerializer, responses={200: None})
    @action(detail=True, methods=["post"])
    def engagements(self, request: Request, pk: str) -> Response:
        """Count members' engagements in the campaign window (contacts outside it are ignored)."""
        data = EngagementsInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        counted = post_services.campaign_engagements_record(
            campaign=self.get_object(), engagements=data.validated_data["engagements"]
        )
        return Response({"counted": counted})

    @extend_schema(
        parameters=[
            OpenApiParameter("method", str, enum=["analytic", "bootstrap"]),
            OpenApiParameter("confidence", float),
        ],
        responses=UpliftReportSerializer,
    )
    @action(detail=True, methods=["get"])
    def uplift(self, request: Request, pk: str) -> Response:
        data = UpliftQuerySerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        report = post_selectors.campaign_uplift(campaign=self.get_object(), **data.validated_data)
        return Response(UpliftReportSerializer(report).data)
