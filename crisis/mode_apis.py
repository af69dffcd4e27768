"""Crisis mode API (`/api/v1/crisis/mode`): the state with what it holds and its history, the
preview of switching on, switching on, the resume review and switching off. Personalization's
`/api/v1/crisis-mode` stays the bare tenant-wide flag; this is crisis mode as an incident uses it
(scope, preview, review). Switching needs MANAGE; reading VIEW."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis import mode_selectors, mode_services
from crisis.mode_serializers import (
    EngageSerializer,
    HeldPostSerializer,
    HistorySerializer,
    ModeStateSerializer,
    PreviewQuerySerializer,
    ReleaseSerializer,
)
from crisis.models import Incident
from tenants.access import Capability
from tenants.api.base import TenantApi


def _state_body() -> dict[str, Any]:
    state = mode_selectors.crisis_mode_state()
    held = mode_selectors.crisis_mode_held(state=state)
    return {
        "state": ModeStateSerializer(state).data,
        "held": HeldPostSerializer(held, many=True).data,
        "history": HistorySerializer(mode_selectors.crisis_mode_history(), many=True).data,
    }


class CrisisModeStateApi(TenantApi):
    capabilities: ClassVar[dict[str, Capability]] = {
        "list": Capability.VIEW,
        "preview": Capability.VIEW,
        "engage": Capability.MANAGE,
        "release": Capability.MANAGE,
    }

    @extend_schema(responses=dict, operation_id="v1_crisis_mode_state")
    def list(self, request: Request) -> Response:
        """The current state (on/off, since, why, by whom, scope, linked incident), the posts held
        now (each with `time_passed`: it needs a new time or to be kept as a draft), the history."""
        return Response(_state_body())

    @extend_schema(parameters=[PreviewQuerySerializer], responses=dict)
    @action(detail=False, methods=["get"])
    def preview(self, request: Request) -> Response:
        """What switching on at this scope would hold: exactly what `on` then holds."""
        data = PreviewQuerySerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        channels = mode_selectors.channels_by_ids(channel_ids=data.validated_data["channel_ids"])
        posts = mode_selectors.crisis_mode_preview(scope=data.validated_data["scope"], channels=channels)
        return Response(
            {
                "scope": data.validated_data["scope"],
                "channels": [{"id": c.pk, "name": c.name} for c in channels],
                "count": len(posts),
                "posts": HeldPostSerializer(posts, many=True).data,
            }
        )

    @extend_schema(request=EngageSerializer, responses={201: dict})
    @action(detail=False, methods=["post"], url_path="on")
    def engage(self, request: Request) -> Response:
        data = EngageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = None
        if data.validated_data["incident"] is not None:
            incident = Incident.objects.filter(pk=data.validated_data["incident"]).first()
            if incident is None:
                raise ValidationError({"incident": "No such incident."})
        switch = mode_services.crisis_mode_engage(
            access=self.access,
            reason=data.validated_data["reason"],
            scope=data.validated_data["scope"],
            channel_ids=data.validated_data["channel_ids"],
            incident=incident,
            client=self.client,
        )
        return Response(
            {**_state_body(), "held_post_ids": switch.held_post_ids}, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=ReleaseSerializer, responses={201: dict})
    @action(detail=False, methods=["post"], url_path="off")
    def release(self, request: Request) -> Response:
        """Switch off, with a decision per held post (`release` by default): `reschedule` with a
        new `scheduled_at`, or `draft`. A post whose time passed cannot simply be released."""
        data = ReleaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        switch = mode_services.crisis_mode_release(
            access=self.access,
            reason=data.validated_data["reason"],
            decisions=data.validated_data["decisions"],
            client=self.client,
        )
        return Response({**_state_body(), "review": switch.review}, status=status.HTTP_201_CREATED)
