"""Incidents and playbooks API: declare (with a scenario suggestion and a preview of the posts it
would hold), the incident's changes, status, roles, tasks, notes and timeline; the tenant's
playbooks. Everyone in the tenant reads; every write needs EDIT."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis import incident_selectors as selectors
from crisis import incident_services as services
from crisis import playbook_services
from crisis.incident_serializers import (
    IncidentCreateSerializer,
    IncidentDetailSerializer,
    IncidentFilterSerializer,
    IncidentRoleSerializer,
    IncidentSerializer,
    IncidentTaskSerializer,
    IncidentUpdateSerializer,
    NoteSerializer,
    PausePreviewSerializer,
    PlaybookFilterSerializer,
    PlaybookSerializer,
    PlaybookUpdateSerializer,
    PlaybookWriteSerializer,
    RoleSetSerializer,
    ScheduledPostBriefSerializer,
    StatusNoteSerializer,
    SuggestionSerializer,
    SuggestSerializer,
    TaskCreateSerializer,
    TaskUpdateSerializer,
    TimelineEntrySerializer,
)
from crisis.models import Incident, IncidentTask, Playbook
from listening import selectors as listening_selectors
from listening.models import Alert
from tenants.access import Access, Capability
from tenants.api.base import TenantApi
from tenants.api.errors import error_body

MAX_TASKS = 500


def _alert(alert_id: int | None) -> Alert | None:
    if alert_id is None:
        return None
    alert = (
        listening_selectors.alert_list(filters=listening_selectors.AlertFilters()).filter(pk=alert_id).first()
    )
    if alert is None:
        raise ValidationError({"alert": "No such alert."})
    return alert


def _playbook(playbook_id: int | None) -> Playbook | None:
    if playbook_id is None:
        return None
    playbook = selectors.playbook_list().filter(pk=playbook_id).first()
    if playbook is None:
        raise ValidationError({"playbook": "No such playbook."})
    return playbook


def _channels(ids: list[int]) -> list[Any]:
    channels = list(selectors.publishing_channel_list().filter(pk__in=ids))
    if len(channels) != len(set(ids)):
        raise ValidationError({"channels": "One of these channels does not exist."})
    return channels


def _idempotency_key(request: Request) -> str:
    return request.headers.get("Idempotency-Key", "").strip()[:100]


INCIDENT_FILTER_PARAMETERS = [
    OpenApiParameter("status", str, enum=["open", "resolved", "closed"]),
    OpenApiParameter("scenario", str),
    OpenApiParameter("severity", int, enum=[1, 2, 3, 4]),
]


class IncidentApi(mixins.ListModelMixin, TenantApi):
    """Incidents, newest first. Declare one (from an alert, by hand), change it, resolve, close or
    reopen it, give its roles, work its tasks and add notes; its timeline records every change."""

    serializer_class = IncidentSerializer
    capabilities = {"suggest": Capability.VIEW, "preview": Capability.VIEW}

    @property
    def cursor_ordering(self) -> tuple[str, ...]:
        return ("at", "id") if self.action == "timeline" else ("-declared_at", "-id")

    def scoped_queryset(self, access: Access) -> QuerySet[Any]:
        if self.action == "list":
            data = IncidentFilterSerializer(data=self.request.query_params)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            return selectors.incident_list(
                filters=selectors.IncidentFilters(
                    status=v.get("status", ""),
                    scenario=v.get("scenario", ""),
                    severity=int(v["severity"]) if v.get("severity") else None,
                )
            )
        return selectors.incident_list()

    def _detail(self, incident: Incident, code: int = 200) -> Response:
        fresh = (
            selectors.incident_list()
            .prefetch_related(
                "roles",
                Prefetch("tasks", queryset=IncidentTask.objects.order_by("position", "id")),
                "statements",
            )
            .get(pk=incident.pk)
        )
        return Response(IncidentDetailSerializer(fresh).data, status=code)

    @extend_schema(parameters=INCIDENT_FILTER_PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=IncidentDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._detail(self.get_object())

    @extend_schema(
        request=IncidentCreateSerializer,
        responses={201: IncidentDetailSerializer, 200: IncidentDetailSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def create(self, request: Request) -> Response:
        """Declare an incident. The playbook defaults to the active one for the scenario; `pause`
        holds every scheduled post (`tenant`, crisis mode), the `channels` given, or `none`. With an
        Idempotency-Key header, the same request again answers the first incident (200); another
        request under the same key is a 409."""
        data = IncidentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            declared = services.incident_declare(
                access=self.access,
                title=v["title"],
                summary=v["summary"],
                scenario=v["scenario"],
                severity=int(v["severity"]),
                owner_id=v.get("owner"),
                playbook=_playbook(v.get("playbook")),
                alert=_alert(v.get("alert")),
                variables=v["variables"],
                pause=v["pause"],
                channel_ids=v["channels"],
                source="api" if v.get("alert") is None else "alert",
                idempotency_key=_idempotency_key(request),
                client=self.client,
            )
        except services.IdempotencyConflict as error:
            return Response(error_body(409, "idempotency_conflict", str(error)), status=409)
        return self._detail(declared.incident, 200 if declared.replayed else 201)

    @extend_schema(request=IncidentUpdateSerializer, responses=IncidentDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change the title, summary, severity or owner (who becomes incident commander)."""
        incident = self.get_object()
        data = IncidentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        incident = services.incident_update(
            access=self.access,
            incident=incident,
            title=v.get("title"),
            summary=v.get("summary"),
            severity=int(v["severity"]) if "severity" in v else None,
            owner_id=v.get("owner"),
        )
        return self._detail(incident)

    def _status(self, request: Request, change: Any) -> Response:
        incident = self.get_object()
        data = StatusNoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = change(
            access=self.access,
            incident=incident,
            note=data.validated_data["note"],
            client=self.client,
        )
        return self._detail(incident)

    @extend_schema(request=StatusNoteSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        return self._status(request, services.incident_resolve)

    @extend_schema(request=StatusNoteSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        """Close a resolved incident (final)."""
        return self._status(request, services.incident_close)

    @extend_schema(request=StatusNoteSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str) -> Response:
        """Reopen a resolved incident."""
        return self._status(request, services.incident_reopen)

    @extend_schema(methods=["GET"], responses=IncidentRoleSerializer(many=True))
    @extend_schema(methods=["POST"], request=RoleSetSerializer, responses=IncidentRoleSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def roles(self, request: Request, pk: str) -> Response:
        """Who holds each role; POST gives one (`user` null takes it back: the owner holds it)."""
        incident = self.get_object()
        if request.method == "POST":
            data = RoleSetSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            incident = services.incident_role_set(
                access=self.access,
                incident=incident,
                role=data.validated_data["role"],
                user_id=data.validated_data["user"],
            )
        return Response(IncidentRoleSerializer(incident.roles.order_by("role"), many=True).data)

    @extend_schema(methods=["GET"], responses=IncidentTaskSerializer(many=True))
    @extend_schema(methods=["POST"], request=TaskCreateSerializer, responses={201: IncidentTaskSerializer})
    @action(detail=True, methods=["get", "post"])
    def tasks(self, request: Request, pk: str) -> Response:
        """The incident's tasks in playbook order (then those added by hand); POST adds one."""
        incident = self.get_object()
        if request.method == "POST":
            data = TaskCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            task = services.task_create(
                access=self.access,
                incident=incident,
                title=v["title"],
                instructions=v["instructions"],
                owner_id=v.get("owner"),
                due_at=v.get("due_at"),
            )
            return Response(IncidentTaskSerializer(task).data, status=status.HTTP_201_CREATED)
        tasks = selectors.task_list(incident=incident)[:MAX_TASKS]
        return Response(IncidentTaskSerializer(tasks, many=True).data)

    @extend_schema(responses=TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, pk: str) -> Response:
        """The timeline, oldest first, a cursor page at a time."""
        entries = selectors.timeline_list(incident=self.get_object())
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(TimelineEntrySerializer(page, many=True).data)

    @extend_schema(request=NoteSerializer, responses={201: TimelineEntrySerializer})
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.note_add(access=self.access, incident=incident, text=data.validated_data["text"])
        return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SuggestSerializer, responses=SuggestionSerializer)
    @action(detail=False, methods=["post"])
    def suggest(self, request: Request) -> Response:
        """The scenario an alert or a description describes, its evidence, and the suggested playbook."""
        data = SuggestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        suggestion = services.scenario_suggest(
            alert=_alert(data.validated_data.get("alert")), description=data.validated_data["description"]
        )
        return Response(SuggestionSerializer(suggestion).data)

    @extend_schema(request=PausePreviewSerializer, responses=ScheduledPostBriefSerializer(many=True))
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """The scheduled posts declaring with this crisis-mode choice would hold."""
        data = PausePreviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["pause"] == selectors.PauseMode.CHANNELS and not v["channels"]:
            raise ValidationError({"channels": "Choose the channels whose posts to pause."})
        posts = selectors.incident_pause_preview(mode=v["pause"], channels=_channels(v["channels"]))
        return Response(ScheduledPostBriefSerializer(posts, many=True).data)


class IncidentTaskApi(mixins.RetrieveModelMixin, TenantApi):
    """One task of an incident: mark it done or skipped (or open again), reassign it, move its deadline."""

    serializer_class = IncidentTaskSerializer

    def scoped_queryset(self, access: Access) -> QuerySet[IncidentTask]:
        return selectors.task_list()

    @extend_schema(request=TaskUpdateSerializer, responses=IncidentTaskSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        task = self.get_object()
        data = TaskUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        task = services.task_update(
            access=self.access,
            task=task,
            status=v.get("status"),
            owner_id=v.get("owner"),
            due_at=v.get("due_at"),
        )
        return Response(IncidentTaskSerializer(task).data)


class PlaybookApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """The tenant's playbooks (the shipped ones, copied in, and its own). Every save is validated
    against the playbook schema; an error names where it is (`steps/2/due_minutes: ...`)."""

    serializer_class = PlaybookSerializer
    cursor_ordering = ("scenario", "name", "id")

    def scoped_queryset(self, access: Access) -> QuerySet[Playbook]:
        if self.action == "list":
            data = PlaybookFilterSerializer(data=self.request.query_params)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            return selectors.playbook_list(scenario=v.get("scenario", ""), active_only=v["active"])
        return selectors.playbook_list()

    @extend_schema(parameters=[OpenApiParameter("scenario", str), OpenApiParameter("active", bool)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @staticmethod
    def _document(v: dict[str, Any]) -> dict[str, Any] | None:
        if "yaml" in v:
            return playbook_services.playbook_document(text=v["yaml"])
        return v.get("definition")

    @extend_schema(request=PlaybookWriteSerializer, responses={201: PlaybookSerializer})
    def create(self, request: Request) -> Response:
        data = PlaybookWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        playbook = playbook_services.playbook_create(
            access=self.access, definition=self._document(data.validated_data) or {}, client=self.client
        )
        return Response(PlaybookSerializer(playbook).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PlaybookUpdateSerializer, responses=PlaybookSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Replace the document (same id) and/or (de)activate; the version goes up."""
        playbook = self.get_object()
        data = PlaybookUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        playbook = playbook_services.playbook_update(
            access=self.access,
            playbook=playbook,
            definition=self._document(data.validated_data),
            is_active=data.validated_data.get("is_active"),
            client=self.client,
        )
        return Response(PlaybookSerializer(playbook).data)

    @extend_schema(request=None, responses={201: PlaybookSerializer})
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: str) -> Response:
        """A copy of this playbook the tenant owns, to adapt."""
        copy = playbook_services.playbook_duplicate(
            access=self.access, playbook=self.get_object(), client=self.client
        )
        return Response(PlaybookSerializer(copy).data, status=status.HTTP_201_CREATED)
