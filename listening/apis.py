"""Listening API: sources, ingest (bulk and signed webhooks), uploads, queries, mentions."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, JsonResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from listening import selectors
from listening.connectors import bulk, webhook
from listening.connectors.base import ConnectorError
from listening.connectors.items import PayloadRejected
from listening.models import (
    InboxItem,
    InboxSettings,
    InboxStatus,
    Mention,
    Query,
    Sentiment,
    Source,
    SourceKind,
    Topic,
    TopicStatus,
    UploadJob,
)
from listening.nlp.needs_reply import Reason
from listening.serializers import (
    InboxAnswerSerializer,
    InboxAssignSerializer,
    InboxCloseSerializer,
    InboxDraftSerializer,
    InboxEventSerializer,
    InboxItemSerializer,
    InboxSettingsSerializer,
    InboxStatsSerializer,
    IngestResultSerializer,
    MentionSerializer,
    QueryPreviewInSerializer,
    QueryPreviewSerializer,
    QuerySerializer,
    QueryUpdateSerializer,
    QueryWriteSerializer,
    SimilarMentionSerializer,
    SourceCreateSerializer,
    SourceSecretSerializer,
    SourceSerializer,
    SourceUpdateSerializer,
    TopicDetailSerializer,
    TopicFilterSerializer,
    TopicHistoryFilterSerializer,
    TopicSerializer,
    UploadCreatedSerializer,
    UploadCreateSerializer,
    UploadJobSerializer,
    UploadMappingSerializer,
    WebhookResultSerializer,
)
from listening.services import inbox, queries, sources, uploads
from listening.services.ingest import mention_ingest
from tenants.access import Access, Capability
from tenants.api.base import TenantApi
from tenants.api.errors import error_body, json_error
from tenants.api.pagination import Cursor


def _too_large(request: HttpRequest | Request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > settings.API_MAX_BODY_BYTES
    except ValueError:
        return True


def _rejected(errors: list[Any]) -> int:
    """Items refused (an item may have several errors)."""
    return len({e.index for e in errors})


def _errors(errors: list[Any]) -> list[dict[str, Any]]:
    return [{"index": e.index, "field": e.field, "message": e.message} for e in errors]


class SourceApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Where mentions come from: signed webhooks, the bulk API, uploads, RSS/Atom feeds, Mastodon."""

    serializer_class = SourceSerializer
    cursor_ordering = ("name", "id")

    def scoped_queryset(self, access: Access) -> QuerySet[Source]:
        return selectors.source_list()

    @extend_schema(request=SourceCreateSerializer, responses={201: SourceSecretSerializer})
    def create(self, request: Request) -> Response:
        data = SourceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = sources.source_create(**data.validated_data)
        body = SourceSecretSerializer(created.source, context={"request": request}).data
        return Response({**body, "secret": created.secret or None}, status=status.HTTP_201_CREATED)

    @extend_schema(request=SourceUpdateSerializer, responses=SourceSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = SourceUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = sources.source_update(source=self.get_object(), **data.validated_data)
        return Response(SourceSerializer(source, context={"request": request}).data)

    @extend_schema(request=None, responses=SourceSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        """A new webhook secret, shown once; the previous one keeps working for 24 hours."""
        source = self.get_object()
        secret = sources.source_rotate_secret(source=source)
        return Response({**SourceSerializer(source, context={"request": request}).data, "secret": secret})

    @extend_schema(
        request={
            "application/json": {"type": "array", "items": {"type": "object"}},
            "application/x-ndjson": {"type": "string"},
        },
        responses={200: IngestResultSerializer},
    )
    @action(detail=True, methods=["post"], url_path="mentions", parser_classes=[])
    def ingest(self, request: Request, pk: str) -> Response:
        """Bulk ingest into an API source: a JSON array or NDJSON, up to 10,000 mentions. Invalid
        items are reported by index while the valid ones are stored; sending the same mention twice
        stores it once."""
        source = self.get_object()
        if source.kind != SourceKind.API:
            return Response(
                error_body(400, "invalid", "Bulk ingest goes to a source of kind 'api'."), status=400
            )
        if _too_large(request):
            return Response(
                error_body(413, "too_large", "The body is larger than the API accepts."), status=413
            )
        try:
            items, errors = bulk.parse_bulk(
                request._request.body, request.content_type or "", max_items=settings.LISTENING_BULK_MAX_ITEMS
            )
        except PayloadRejected as error:
            return Response(error_body(400, "invalid", str(error)), status=400)
        result = mention_ingest(source=source, items=[item for _, item in items])
        body = {
            "stored": result.stored,
            "duplicates": result.duplicates,
            "rejected": _rejected(errors),
            "errors": _errors(errors),
        }
        return Response(body, status=400 if errors and not items else 200)


class WebhookView(APIView):
    """Signed push webhooks: no token, the HMAC signature is the credential. Answered 2xx only once
    the mentions are committed (RELIABILITY 10). An APIView (not a plain View) so the route is in
    the OpenAPI schema; it reads the raw body itself (the signature is over the bytes), so it has no
    parsers, and no authentication, permission or throttle classes, as before."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    parser_classes = []

    @extend_schema(
        operation_id="listening_webhook_receive",
        auth=[],
        request={"application/json": OpenApiTypes.ANY},
        parameters=[
            OpenApiParameter(webhook.TIMESTAMP_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(webhook.DELIVERY_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(
                webhook.SIGNATURE_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="`v1=` and the hex HMAC-SHA256 of the timestamp and raw body (see the docs)",
            ),
        ],
        responses={200: WebhookResultSerializer},
    )
    def post(self, request: Request, source_id: int) -> JsonResponse:
        if _too_large(request):
            return json_error(413, "too_large", "The body is larger than the API accepts.")
        source = Source.objects.filter(pk=source_id).first()
        if source is None:
            return json_error(404, "not_found", "No such source.")
        raw = request._request
        try:
            outcome = sources.webhook_receive(source=source, headers=raw.headers, body=raw.body)
        except webhook.WebhookRejected as error:
            return json_error(error.status, error.code, str(error))
        except ConnectorError as error:
            return json_error(400, "invalid", str(error))
        result = outcome.result
        return JsonResponse(
            {
                "stored": result.stored,
                "duplicates": result.duplicates,
                "rejected": _rejected(outcome.errors),
                "errors": _errors(outcome.errors),
                "replayed": outcome.replayed,
            }
        )


class UploadApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """File uploads (CSV or NDJSON): upload, check the column mapping, start, follow the progress."""

    serializer_class = UploadJobSerializer

    def scoped_queryset(self, access: Access) -> QuerySet[UploadJob]:
        return selectors.upload_list()

    @extend_schema(
        request={"multipart/form-data": UploadCreateSerializer}, responses={201: UploadCreatedSerializer}
    )
    def create(self, request: Request) -> Response:
        if int(request.META.get("CONTENT_LENGTH") or 0) > settings.LISTENING_UPLOAD_MAX_BYTES:
            return Response(
                error_body(413, "too_large", "The file is larger than uploads accept."), status=413
            )
        data = UploadCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = None
        if data.validated_data.get("source") is not None:
            source = selectors.source_get(source_id=data.validated_data["source"])
        created = uploads.upload_create(
            file=data.validated_data["file"], source=source, created_by_id=self.access.user.pk
        )
        preview = created.preview
        return Response(
            {
                "job": UploadJobSerializer(created.job).data,
                "preview": {
                    "format": preview.format,
                    "columns": preview.columns,
                    "sample_rows": preview.sample_rows,
                    "suggested_mapping": preview.suggested_mapping,
                },
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=UploadMappingSerializer, responses=UploadJobSerializer)
    @action(detail=True, methods=["post"], url_path="start")
    def start(self, request: Request, pk: str) -> Response:
        data = UploadMappingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = uploads.upload_start(job=self.get_object(), mapping=data.validated_data["mapping"])
        return Response(UploadJobSerializer(job).data)

    @extend_schema(responses={(200, "text/csv"): bytes})
    @action(detail=True, methods=["get"], url_path="rejected")
    def rejected(self, request: Request, pk: str) -> FileResponse:
        """The rejected rows, with why, as CSV (cells escaped against spreadsheet formulas)."""
        job = self.get_object()
        if not job.rejected_report:
            raise NotFound("This upload has no rejected rows.")
        return FileResponse(
            job.rejected_report.open("rb"),
            as_attachment=True,
            filename=f"rejected-{job.pk}.csv",
            content_type="text/csv",
        )


class QueryApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Boolean queries for brands, products, topics and competitors; each tags the mentions it
    matches, including the ones stored before it was written (a worker backfills them)."""

    serializer_class = QuerySerializer
    cursor_ordering = ("name", "id")
    capabilities = {"preview": Capability.VIEW}

    def scoped_queryset(self, access: Access) -> QuerySet[Query]:
        return selectors.query_list()

    @extend_schema(request=QueryWriteSerializer, responses={201: QuerySerializer})
    def create(self, request: Request) -> Response:
        data = QueryWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        query = queries.query_create(**data.validated_data)
        return Response(QuerySerializer(query).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=QueryUpdateSerializer, responses=QuerySerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = QueryUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        query = queries.query_update(query=self.get_object(), **data.validated_data)
        return Response(QuerySerializer(query).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        queries.query_delete(query=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=QueryPreviewInSerializer, responses=QueryPreviewSerializer)
    @action(detail=False, methods=["post"], url_path="preview")
    def preview(self, request: Request) -> Response:
        """How many recent mentions an expression matches (the editor's live count), or where its
        syntax is wrong."""
        data = QueryPreviewInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = queries.query_preview(**data.validated_data)
        return Response(
            {"matched": result.matched, "scanned": result.scanned, "sample_ids": result.sample_ids}
        )


class MentionFilterSerializer(serializers.Serializer):
    query = serializers.IntegerField(required=False, min_value=1)
    source = serializers.IntegerField(required=False, min_value=1)  # type: ignore[assignment]  # a DRF field named like a stub attribute
    sentiment = serializers.ChoiceField(choices=Sentiment.choices, required=False)
    lang = serializers.RegexField(r"^[a-z]{2,3}$", required=False)
    author = serializers.CharField(max_length=200, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    q = serializers.CharField(max_length=500, required=False, help_text="Full-text search")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "must be after since"})
        return attrs


MENTION_FILTER_PARAMETERS = [
    OpenApiParameter("query", int),
    OpenApiParameter("source", int),
    OpenApiParameter("sentiment", str, enum=Sentiment.values),
    OpenApiParameter("lang", str),
    OpenApiParameter("author", str),
    OpenApiParameter("since", str),
    OpenApiParameter("until", str),
    OpenApiParameter(
        "q", str, description='Full-text search (web-search syntax: words, "phrases", -not, or)'
    ),
]


class MentionApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """The mention stream: filter by query, source, sentiment, language, author and time; search
    the text; find mentions like one (by meaning)."""

    serializer_class = MentionSerializer
    cursor_ordering = ("-posted_at", "-id")

    def _filters(self) -> selectors.MentionFilters:
        data = MentionFilterSerializer(data=self.request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return selectors.MentionFilters(
            query_id=v.get("query"),
            source_id=v.get("source"),
            sentiment=v.get("sentiment", ""),
            lang=v.get("lang", ""),
            author=v.get("author", ""),
            since=v.get("since"),
            until=v.get("until"),
            text=v.get("q", ""),
        )

    def scoped_queryset(self, access: Access) -> QuerySet[Mention]:
        if self.action == "list":
            return selectors.mention_list(filters=self._filters())
        return selectors.mention_list(filters=selectors.MentionFilters())

    @extend_schema(parameters=MENTION_FILTER_PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=MENTION_FILTER_PARAMETERS, responses=SimilarMentionSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="similar")
    def similar(self, request: Request, pk: str) -> Response:
        """Mentions most like this one in meaning (embedding cosine similarity), best first."""
        mention = selectors.mention_get(mention_id=int(pk))
        similar = selectors.mention_similar(mention=mention, filters=self._filters())
        return Response(SimilarMentionSerializer(similar, many=True).data)


TOPIC_FILTER_PARAMETERS = [
    OpenApiParameter("sort", str, enum=list(selectors.TOPIC_ORDERINGS), description="default: growth"),
    OpenApiParameter("status", str, enum=[*TopicStatus.values, "all"], description="default: active"),
    OpenApiParameter("min_volume", int),
    OpenApiParameter("new_since", str, description="First seen at or after (ISO 8601)"),
    OpenApiParameter("q", str, description="A word of the topic's name"),
]
TOPIC_HISTORY_DAYS = 7


class TopicApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Emerging topics: clusters of recent mentions named by their most distinctive terms, with
    volume, sentiment and growth against the window before; a topic keeps its id across runs."""

    serializer_class = TopicSerializer

    @property
    def cursor_ordering(self) -> tuple[str, ...]:
        if self.action == "mentions":
            return ("-posted_at", "-id")
        return selectors.TOPIC_ORDERINGS[self._query[1]]

    @cached_property
    def _query(self) -> tuple[selectors.TopicFilters, str]:
        """The list's filters and sort order, validated once per request."""
        data = TopicFilterSerializer(data=self.request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        filters = selectors.TopicFilters(
            status="" if v["status"] == "all" else v["status"],
            min_volume=v.get("min_volume", 0),
            new_since=v.get("new_since"),
            text=v.get("q", ""),
        )
        return filters, v["sort"]

    def scoped_queryset(self, access: Access) -> QuerySet[Topic]:
        if self.action == "list":
            filters, sort = self._query
            return selectors.topic_list(filters=filters, sort=sort)
        return selectors.topic_list(filters=selectors.TopicFilters(status=""))

    @extend_schema(parameters=TOPIC_FILTER_PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[OpenApiParameter("since", str, description="History from (default: 7 days ago)")],
        responses=TopicDetailSerializer,
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The topic with its snapshot history (volume and sentiment per run) and example mentions."""
        data = TopicHistoryFilterSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        topic = self.get_object()
        since = data.validated_data.get("since") or timezone.now() - timedelta(days=TOPIC_HISTORY_DAYS)
        topic.history_snapshots = selectors.topic_history(topic=topic, since=since)
        topic.example_mentions = selectors.topic_examples(topic=topic)
        return Response(TopicDetailSerializer(topic).data)

    @extend_schema(parameters=MENTION_FILTER_PARAMETERS, responses=MentionSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="mentions")
    def mentions(self, request: Request, pk: str) -> Response:
        """The topic's mentions, newest first, with the mention stream's filters."""
        data = MentionFilterSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        topic = self.get_object()
        filters = selectors.MentionFilters(
            query_id=v.get("query"),
            source_id=v.get("source"),
            sentiment=v.get("sentiment", ""),
            lang=v.get("lang", ""),
            author=v.get("author", ""),
            since=v.get("since"),
            until=v.get("until"),
            text=v.get("q", ""),
        )
        page = self.paginate_queryset(selectors.topic_mentions(topic=topic, filters=filters))
        return self.get_paginated_response(MentionSerializer(page, many=True).data)


class InboxFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[selectors.INBOX_WAITING, selectors.INBOX_ALL, *InboxStatus.values],
        required=False,
        default=selectors.INBOX_WAITING,
    )
    assignee = serializers.RegexField(
        r"^(me|unassigned|[1-9][0-9]{0,17})$",
        required=False,
        error_messages={"invalid": 'Give a user id, "me" or "unassigned".'},
    )
    reason = serializers.ChoiceField(choices=Reason.ALL, required=False)
    query = serializers.IntegerField(required=False, min_value=1)
    q = serializers.CharField(max_length=500, required=False, help_text="Full-text search")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "must be after since"})
        return attrs


class InboxStatsQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    target_minutes = serializers.IntegerField(required=False, min_value=1, max_value=60 * 24 * 30)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        until = attrs.get("until") or timezone.now()
        since = attrs.get("since") or until - timedelta(days=30)
        if since >= until:
            raise serializers.ValidationError({"until": "must be after since"})
        if until - since > timedelta(days=366):
            raise serializers.ValidationError({"since": "the range can be a year at most"})
        return {**attrs, "since": since, "until": until}


INBOX_FILTER_PARAMETERS = [
    OpenApiParameter("status", str, enum=[selectors.INBOX_WAITING, selectors.INBOX_ALL, *InboxStatus.values]),
    OpenApiParameter("assignee", str, description='A user id, "me" or "unassigned"'),
    OpenApiParameter("reason", str, enum=list(Reason.ALL)),
    OpenApiParameter("query", int, description="Mentions tagged by this query"),
    OpenApiParameter("q", str, description="Full-text search of the mention"),
    OpenApiParameter("since", str, description="Arrived at or after"),
    OpenApiParameter("until", str, description="Arrived before"),
]


class InboxApi(mixins.RetrieveModelMixin, TenantApi):
    """Mentions that need an answer, ranked by priority: assign, draft, answer, close, reopen, and
    first-response times per member and overall. Reading needs VIEW; acting needs EDIT."""

    serializer_class = InboxItemSerializer
    cursor_ordering = ("-rank", "id")
    capabilities = {"stats": Capability.VIEW, "events": Capability.VIEW}

    def _filters(self) -> selectors.InboxFilters:
        data = InboxFilterSerializer(data=self.request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        assignee = v.get("assignee", "")
        return selectors.InboxFilters(
            status=v["status"],
            assignee_id=self.access.user.pk
            if assignee == "me"
            else int(assignee)
            if assignee.isdigit()
            else None,
            unassigned=assignee == "unassigned",
            reason=v.get("reason", ""),
            query_id=v.get("query"),
            text=v.get("q", ""),
            since=v.get("since"),
            until=v.get("until"),
        )

    def scoped_queryset(self, access: Access) -> QuerySet[InboxItem]:
        # Items are reached one by one (retrieve and the actions) whatever their status.
        return selectors.inbox_item_list(
            filters=selectors.InboxFilters(status=selectors.INBOX_ALL), now=timezone.now()
        )

    def _item_response(self, item: InboxItem) -> Response:
        item = selectors.inbox_item_get(item_id=item.pk)
        people = selectors.inbox_people(user_ids=[item.assignee_id, item.first_responder_id])
        return Response(InboxItemSerializer(item, context={"people": people}).data)

    @extend_schema(parameters=INBOX_FILTER_PARAMETERS, responses=InboxItemSerializer(many=True))
    def list(self, request: Request) -> Response:
        # A first page (no cursor) needs only its page size and one more row (the paginator's look
        # ahead): the selector can then skip items that cannot rank that high.
        top = None
        if "cursor" not in request.query_params and isinstance(self.paginator, Cursor):
            top = self.paginator.get_page_size(request) + 1
        page = self.paginate_queryset(
            selectors.inbox_item_list(filters=self._filters(), now=timezone.now(), top=top)
        )
        assert page is not None  # the cursor paginator always pages
        selectors.inbox_items_load(items=page)
        people = selectors.inbox_people(
            user_ids=[pk for item in page for pk in (item.assignee_id, item.first_responder_id)]
        )
        return self.get_paginated_response(
            InboxItemSerializer(page, many=True, context={"people": people}).data
        )

    def retrieve(self, request: Request, pk: str) -> Response:
        return self._item_response(self.get_object())

    @extend_schema(request=InboxAssignSerializer, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str) -> Response:
        """Give the item to a member who may edit ("me", a user id), or null for the team queue."""
        data = InboxAssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignee = data.validated_data["assignee"]
        item = inbox.inbox_item_assign(
            item=self.get_object(),
            tenant=self.access.tenant,
            assignee_id=self.access.user.pk if assignee == "me" else assignee,
            actor=self.access.user,
        )
        return self._item_response(item)

    @extend_schema(request=InboxDraftSerializer, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def draft(self, request: Request, pk: str) -> Response:
        data = InboxDraftSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = inbox.inbox_item_draft(
            item=self.get_object(), text=data.validated_data["draft"], actor=self.access.user
        )
        return self._item_response(item)

    @extend_schema(request=InboxAnswerSerializer, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def answer(self, request: Request, pk: str) -> Response:
        """Mark answered with the reply that was sent; the first answer stops the response clock."""
        data = InboxAnswerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = inbox.inbox_item_answer(
            item=self.get_object(), reply=data.validated_data["reply"], actor=self.access.user
        )
        return self._item_response(item)

    @extend_schema(request=InboxCloseSerializer, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        """No reply needed."""
        data = InboxCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = inbox.inbox_item_close(
            item=self.get_object(), actor=self.access.user, note=data.validated_data["note"]
        )
        return self._item_response(item)

    @extend_schema(request=None, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str) -> Response:
        return self._item_response(inbox.inbox_item_reopen(item=self.get_object(), actor=self.access.user))

    @extend_schema(responses=InboxEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str) -> Response:
        """The item's history: every change, who made it and when."""
        events = list(selectors.inbox_item_events(item=self.get_object()))
        people = selectors.inbox_people(user_ids=[e.actor_id for e in events])
        return Response(InboxEventSerializer(events, many=True, context={"people": people}).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "since", str, description="Answered at or after (default: 30 days before until)"
            ),
            OpenApiParameter("until", str, description="Answered before (default: now)"),
            OpenApiParameter("target_minutes", int, description="Default: the inbox settings' target"),
        ],
        responses=InboxStatsSerializer,
    )
    @action(detail=False, methods=["get"])
    def stats(self, request: Request) -> Response:
        """First-response times (median, 90th percentile, count, share within the target) overall and
        per member, for items first answered in the range; and what is waiting now."""
        data = InboxStatsQuerySerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        target = v.get("target_minutes") or selectors.inbox_settings_get().response_target_minutes
        result = selectors.inbox_stats(since=v["since"], until=v["until"], target_s=target * 60)
        return Response(InboxStatsSerializer(result).data)


class InboxSettingsApi(TenantApi):
    """The inbox thresholds of this tenant: read with VIEW, changed with MANAGE."""

    serializer_class = InboxSettingsSerializer
    capabilities = {"list": Capability.VIEW, "partial_update_settings": Capability.MANAGE}

    def scoped_queryset(self, access: Access) -> QuerySet[InboxSettings]:
        return InboxSettings.objects.none()

    def list(self, request: Request) -> Response:
        return Response(InboxSettingsSerializer(selectors.inbox_settings_get()).data)

    @extend_schema(request=InboxSettingsSerializer, responses=InboxSettingsSerializer)
    def partial_update_settings(self, request: Request) -> Response:
        data = InboxSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(InboxSettingsSerializer(inbox.inbox_settings_update(**data.validated_data)).data)
