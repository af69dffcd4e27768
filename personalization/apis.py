"""Personalization API: contacts and their import, channels and engagement events, segments,
crisis mode, recommendations. Processing of contacts goes through the consent gate."""

from __future__ import annotations

from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from personalization import records, selectors, services
from personalization.models import Channel, Contact, ContactImportJob, Recommendation, Segment
from personalization.serializers import (
    ChannelSerializer,
    ChannelWriteSerializer,
    ContactImportJobSerializer,
    ContactImportSerializer,
    ContactSerializer,
    ContactWriteSerializer,
    CrisisModeChangeSerializer,
    CrisisModeSerializer,
    CrisisModeStateSerializer,
    EngagementBatchSerializer,
    EngagementItemSerializer,
    EngagementResultSerializer,
    MessageSerializer,
    RecommendationSerializer,
    RuleSegmentSerializer,
    SegmentSerializer,
    SlotRequestSerializer,
    VariantRequestSerializer,
)
from tenants.access import Access, Capability
from tenants.api.base import TenantApi


class ContactApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """The audience's contacts: who they are, their handles per network, language, region, time zone."""

    serializer_class = ContactSerializer

    def scoped_queryset(self, access: Access) -> QuerySet[Contact]:
        return records.contact_list()

    @extend_schema(request=ContactWriteSerializer, responses={201: ContactSerializer})
    def create(self, request: Request) -> Response:
        data = ContactWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact = records.contact_create(**data.validated_data)
        return Response(
            ContactSerializer(records.contact_get(contact_id=contact.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = ContactWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        contact = records.contact_update(contact=self.get_object(), **data.validated_data)
        return Response(ContactSerializer(records.contact_get(contact_id=contact.pk)).data)


def _actor(access: Access) -> str:
    if access.token is not None:
        return f"token:{access.token.prefix}"
    return f"user:{access.user.pk}"


class ContactImportApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Import contacts from a CSV or NDJSON file on a worker; each import is a job with its progress
    and the problems of each bad row."""

    parser_classes = [MultiPartParser]
    serializer_class = ContactImportJobSerializer

    def scoped_queryset(self, access: Access) -> QuerySet[ContactImportJob]:
        return records.contact_import_list()

    @extend_schema(request=ContactImportSerializer, responses={202: ContactImportJobSerializer})
    def create(self, request: Request) -> Response:
        """Columns: kind, name, email, language, region, time_zone, handles ("mastodon:@ada; x:ada"),
        `attr.<key>` for attributes, `consent.<purpose>` = yes/no (recorded in the consent ledger,
        source "import"). A file that cannot be read is a 400 now; otherwise the import is queued
        (202) and its job (GET /contacts/import/{id}) lists bad rows (row, column, message), which
        are skipped while the rest are created."""
        data = ContactImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > records.IMPORT_MAX_BYTES:
            raise ValidationError({"file": "The file is larger than 5 MB."})
        job = records.contact_import_start(
            content=upload.read(),
            fmt=data.validated_data["format"],
            name=upload.name or "",
            actor=_actor(self.access),
            user_id=self.access.user.pk,
        )
        return Response(ContactImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ChannelApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Where the tenant speaks to its audience; credentials are write-only and stored encrypted."""

    serializer_class = ChannelSerializer
    capabilities: ClassVar[dict[str, Capability]] = {
        "create": Capability.MANAGE,
        "partial_update": Capability.MANAGE,
    }

    def scoped_queryset(self, access: Access) -> QuerySet[Channel]:
        return selectors.channel_list()

    @extend_schema(request=ChannelWriteSerializer, responses={201: ChannelSerializer})
    def create(self, request: Request) -> Response:
        data = ChannelWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        channel = services.channel_create(
            kind=v["kind"], name=v["name"], config=v["config"], credentials=v.get("credentials", "")
        )
        return Response(ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChannelWriteSerializer, responses=ChannelSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = ChannelWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        channel = services.channel_update(channel=self.get_object(), **data.validated_data)
        return Response(ChannelSerializer(channel).data)

    @extend_schema(request=EngagementBatchSerializer, responses={200: EngagementResultSerializer})
    @action(detail=True, methods=["post"], url_path="events")
    def events(self, request: Request, pk: str) -> Response:
        """Up to 1,000 engagement events of this channel. Each is checked alone: invalid ones are
        reported by index (`errors`) and the valid ones stored. Sending an event again (same
        `external_id` on this channel) stores nothing (`duplicates`). An `unsubscribed` event
        withdraws the contact's consent for outreach."""
        channel = self.get_object()
        items = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(items, list) or not items:
            raise ValidationError({"events": "A non-empty list of events."})
        if len(items) > records.INGEST_MAX_ITEMS:
            raise ValidationError({"events": f"At most {records.INGEST_MAX_ITEMS} events per request."})
        valid, errors = [], []
        for index, item in enumerate(items):
            one = EngagementItemSerializer(data=item)
            if one.is_valid():
                valid.append((index, one.validated_data))
            else:
                errors += [
                    {"index": index, "field": field, "message": " ".join(str(m) for m in messages)}
                    for field, messages in one.errors.items()
                ]
        result = records.engagement_ingest(
            channel=channel, items=[item for _, item in valid], actor=_actor(self.access)
        )
        # The service numbers the items it was given: back to the caller's numbering.
        errors += [{**e, "index": valid[e["index"]][0]} for e in result.errors]
        body = {
            "stored": result.stored,
            "duplicates": result.duplicates,
            "errors": sorted(errors, key=lambda e: e["index"]),
        }
        return Response(EngagementResultSerializer(body).data)


class MessageApi(TenantApi):
    """Messages by your key, with the features engagement is learnt from."""

    @extend_schema(request=MessageSerializer, responses={200: MessageSerializer})
    def create(self, request: Request) -> Response:
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_upsert(**data.validated_data)
        return Response(MessageSerializer(message).data)


class SegmentApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Learnt segments (stable numbers across retraining, described in words) and rule segments."""

    serializer_class = SegmentSerializer
    capabilities: ClassVar[dict[str, Capability]] = {"train": Capability.EDIT}

    def scoped_queryset(self, access: Access) -> QuerySet[Segment]:
        return selectors.segment_list()

    @extend_schema(request=RuleSegmentSerializer, responses={201: SegmentSerializer})
    def create(self, request: Request) -> Response:
        """A rule segment: every filter must hold (`field` a contact field or `attributes.<key>`;
        `op` eq, neq or in)."""
        data = RuleSegmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        segment = services.segment_rule_create(**data.validated_data)
        return Response(SegmentSerializer(selectors.segment_get(segment_id=segment.pk)).data, status=201)

    @extend_schema(request=None, responses={202: None})
    @action(detail=False, methods=["post"], url_path="train")
    def train(self, request: Request) -> Response:
        """Queue the segmentation job and then the engagement model's training (queue `ml`)."""
        return Response({"queued": services.training_request()}, status=status.HTTP_202_ACCEPTED)


class CrisisModeApi(TenantApi):
    """The tenant's crisis mode: while on, timing advice is off and scheduled posts pause."""

    capabilities: ClassVar[dict[str, Capability]] = {"create": Capability.MANAGE}

    @extend_schema(responses=CrisisModeStateSerializer)
    def list(self, request: Request) -> Response:
        history = selectors.crisis_mode_history()[:50]
        return Response(
            {"on": selectors.crisis_mode_on(), "history": CrisisModeChangeSerializer(history, many=True).data}
        )

    @extend_schema(request=CrisisModeSerializer, responses={201: CrisisModeChangeSerializer})
    def create(self, request: Request) -> Response:
        data = CrisisModeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        change = services.crisis_mode_set(**data.validated_data, actor=self.access.user)
        return Response(CrisisModeChangeSerializer(change).data, status=status.HTTP_201_CREATED)


def _segments(ids: list[int] | None) -> list[Segment]:
    if not ids:
        return list(services.segments_for_advice())
    found = {s.pk: s for s in selectors.segment_list().filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError({"segments": f"No such segment: {', '.join(map(str, missing))}."})
    return [found[i] for i in ids]


def _channel(channel_id: int) -> Channel:
    channel = selectors.channel_list().filter(pk=channel_id).first()
    if channel is None:
        raise ValidationError({"channel": "No such channel."})
    return channel


class RecommendationApi(mixins.ListModelMixin, TenantApi):
    """Advice: which variant of a draft to send to each segment, and the best three slots of the
    coming week per segment and channel. Each answer carries a confidence interval, its reasons,
    whether it explores, and says so when there is not enough history. Every answer is kept."""

    serializer_class = RecommendationSerializer
    # Asking for advice reads, but stores what was advised: analysts and up.
    capabilities: ClassVar[dict[str, Capability]] = {"variants": Capability.EDIT, "slots": Capability.EDIT}

    def scoped_queryset(self, access: Access) -> QuerySet[Recommendation]:
        return selectors.recommendation_list()

    @extend_schema(request=VariantRequestSerializer, responses=RecommendationSerializer(many=True))
    @action(detail=False, methods=["post"], url_path="variants")
    def variants(self, request: Request) -> Response:
        data = VariantRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        made = services.variants_advise(
            variants=v["variants"],
            channel=_channel(v["channel"]),
            hour_of_week=v["hour_of_week"],
            segments=_segments(v.get("segments")),
            actor=self.access.user,
        )
        return Response(RecommendationSerializer(made, many=True).data)

    @extend_schema(request=SlotRequestSerializer, responses=RecommendationSerializer(many=True))
    @action(detail=False, methods=["post"], url_path="slots")
    def slots(self, request: Request) -> Response:
        data = SlotRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        made = services.slots_advise(
            channel=_channel(v["channel"]), segments=_segments(v.get("segments")), actor=self.access.user
        )
        return Response(RecommendationSerializer(made, many=True).data)
