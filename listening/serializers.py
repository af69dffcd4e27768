"""API shapes of listening. Write serializers name exactly what a caller may set."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from listening.models import (
    InboxEvent,
    InboxItem,
    InboxSettings,
    Mention,
    Query,
    QueryKind,
    Source,
    SourceKind,
    Topic,
    TopicSnapshot,
    TopicStatus,
    UploadJob,
)


class SourceSerializer(serializers.ModelSerializer):
    webhook_url = serializers.SerializerMethodField(
        help_text="Where a webhook source receives signed deliveries."
    )

    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "kind",
            "config",
            "is_active",
            "poll_interval_s",
            "last_polled_at",
            "last_error",
            "last_error_at",
            "consecutive_errors",
            "created_at",
            "webhook_url",
        ]
        read_only_fields = fields

    def get_webhook_url(self, source: Source) -> str | None:
        if source.kind != SourceKind.WEBHOOK:
            return None
        request = self.context.get("request")
        path = f"/api/v1/hooks/sources/{source.pk}"
        return request.build_absolute_uri(path) if request is not None else path


class SourceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    config = serializers.DictField(
        required=False,
        default=dict,
        help_text='rss: {"url"}; mastodon: {"instance", "tag"} or {"instance", "account_id"}',
    )
    poll_interval_s = serializers.IntegerField(required=False, default=300, min_value=60, max_value=86_400)


class SourceUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    config = serializers.DictField(required=False)
    is_active = serializers.BooleanField(required=False)
    poll_interval_s = serializers.IntegerField(required=False, min_value=60, max_value=86_400)


class SourceSecretSerializer(SourceSerializer):
    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The webhook signing secret, shown this once (null for sources that are not webhooks).",
    )

    class Meta(SourceSerializer.Meta):
        fields = [*SourceSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class ItemErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField(help_text="New mentions stored")
    duplicates = serializers.IntegerField(help_text="Mentions this source had already delivered")
    rejected = serializers.IntegerField(help_text="Invalid items, listed in `errors`")
    errors = ItemErrorSerializer(many=True)  # type: ignore[assignment]  # a DRF field named like a stub attribute


class WebhookResultSerializer(IngestResultSerializer):
    replayed = serializers.BooleanField(help_text="This delivery id was received before: nothing stored")


class MentionSerializer(serializers.ModelSerializer):
    source = serializers.SerializerMethodField()  # type: ignore[assignment]  # a DRF field named like a stub attribute
    author = serializers.SerializerMethodField()
    story = serializers.SerializerMethodField()
    queries = serializers.SerializerMethodField()
    enriched = serializers.SerializerMethodField()

    class Meta:
        model = Mention
        fields = [
            "id",
            "source",
            "external_id",
            "text",
            "author",
            "url",
            "posted_at",
            "received_at",
            "lang",
            "sentiment",
            "sentiment_score",
            "story",
            "is_share",
            "queries",
            "enriched",
        ]
        read_only_fields = fields

    def get_source(self, mention: Mention) -> dict[str, Any]:
        return {"id": mention.source_id, "name": mention.source.name, "kind": mention.source.kind}

    def get_author(self, mention: Mention) -> dict[str, Any]:
        return {
            "handle": mention.author_handle,
            "name": mention.author_name,
            "followers": mention.author_followers,
        }

    def get_story(self, mention: Mention) -> dict[str, Any] | None:
        if mention.story is None:
            return None
        return {"id": mention.story_id, "mentions": mention.story.mention_count}

    def get_queries(self, mention: Mention) -> list[int]:
        return sorted(match.query_id for match in mention.query_matches.all())

    def get_enriched(self, mention: Mention) -> bool:
        return mention.enriched_at is not None


class SimilarMentionSerializer(MentionSerializer):
    similarity = serializers.SerializerMethodField()

    class Meta(MentionSerializer.Meta):
        fields = [*MentionSerializer.Meta.fields, "similarity"]
        read_only_fields = fields

    def get_similarity(self, mention: Mention) -> float:
        return round(1.0 - float(getattr(mention, "distance", 1.0)), 4)


class QuerySerializer(serializers.ModelSerializer):
    backfill = serializers.SerializerMethodField()

    class Meta:
        model = Query
        fields = ["id", "name", "kind", "expression", "is_active", "created_at", "updated_at", "backfill"]
        read_only_fields = fields

    def get_backfill(self, query: Query) -> dict[str, Any]:
        return {
            "status": query.backfill_status,
            "done": query.backfill_done,
            "total": query.backfill_total,
            "error": query.backfill_error,
        }


class QueryWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expression = serializers.CharField(max_length=2_000)
    kind = serializers.ChoiceField(choices=QueryKind.choices, default=QueryKind.BRAND)
    is_active = serializers.BooleanField(default=True)


class QueryUpdateSerializer(QueryWriteSerializer):
    name = serializers.CharField(max_length=100, required=False)
    expression = serializers.CharField(max_length=2_000, required=False)
    kind = serializers.ChoiceField(choices=QueryKind.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class QueryPreviewInSerializer(serializers.Serializer):
    expression = serializers.CharField(max_length=2_000)
    days = serializers.IntegerField(default=7, min_value=1, max_value=90)


class QueryPreviewSerializer(serializers.Serializer):
    matched = serializers.IntegerField()
    scanned = serializers.IntegerField(help_text="The most recent mentions looked at (at most 2,000)")
    sample_ids = serializers.ListField(child=serializers.IntegerField())


class UploadJobSerializer(serializers.ModelSerializer):
    source: Any = serializers.PrimaryKeyRelatedField(
        read_only=True
    )  # a DRF field named like a stub attribute
    rejected_report = serializers.SerializerMethodField()

    class Meta:
        model = UploadJob
        fields = [
            "id",
            "source",
            "original_name",
            "file_format",
            "status",
            "mapping",
            "rows_done",
            "rows_total",
            "stored",
            "duplicates",
            "rejected",
            "error",
            "created_at",
            "finished_at",
            "rejected_report",
        ]
        read_only_fields = fields

    def get_rejected_report(self, job: UploadJob) -> str | None:
        return f"/api/v1/uploads/{job.pk}/rejected" if job.rejected_report else None


class UploadPreviewSerializer(serializers.Serializer):
    format = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    sample_rows = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    suggested_mapping = serializers.DictField(child=serializers.CharField())


class UploadCreatedSerializer(serializers.Serializer):
    job = UploadJobSerializer()
    preview = UploadPreviewSerializer()


class UploadCreateSerializer(serializers.Serializer):
    file = serializers.FileField()
    source = serializers.IntegerField(  # type: ignore[assignment]  # a DRF field named like a stub attribute
        required=False, help_text="A file-upload source; a default one otherwise"
    )


class UploadMappingSerializer(serializers.Serializer):
    mapping = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="Mention field -> file column: external_id, text, posted_at (required), author_handle, "
        "author_name, author_followers, url, lang",
    )


class TopicSerializer(serializers.ModelSerializer):
    sentiment = serializers.SerializerMethodField(help_text="Mentions per sentiment in the latest window.")
    growth = serializers.FloatField(help_text="(volume - previous_volume) / max(previous_volume, 5)")

    class Meta:
        model = Topic
        fields = [
            "id",
            "label",
            "terms",
            "status",
            "volume",
            "previous_volume",
            "growth",
            "sentiment",
            "negative_share",
            "reach",
            "first_seen_at",
            "last_seen_at",
            "parent",
            "merged_into",
        ]
        read_only_fields = fields

    def get_sentiment(self, topic: Topic) -> dict[str, int]:
        return {"positive": topic.positive, "neutral": topic.neutral, "negative": topic.negative}


class TopicSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = TopicSnapshot
        fields = [
            "taken_at",
            "volume",
            "previous_volume",
            "positive",
            "neutral",
            "negative",
            "negative_share",
            "reach",
            "growth",
        ]
        read_only_fields = fields


class TopicDetailSerializer(TopicSerializer):
    history = TopicSnapshotSerializer(many=True, source="history_snapshots")
    examples = MentionSerializer(many=True, source="example_mentions")

    class Meta(TopicSerializer.Meta):
        fields = [*TopicSerializer.Meta.fields, "history", "examples"]
        read_only_fields = fields


class TopicFilterSerializer(serializers.Serializer):
    sort = serializers.ChoiceField(choices=["growth", "volume", "negative", "new"], default="growth")
    status = serializers.ChoiceField(choices=[*TopicStatus.values, "all"], default=TopicStatus.ACTIVE)
    min_volume = serializers.IntegerField(required=False, min_value=0, max_value=10**9)
    new_since = serializers.DateTimeField(required=False, help_text="First seen at or after")
    q = serializers.CharField(max_length=100, required=False, help_text="A word of the topic's name")


class TopicHistoryFilterSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="History from (default: 7 days ago)")


# Inbox -------------------------------------------------------------------------------------------


def _person(people: dict[int, Any], user_id: int | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    person = people.get(user_id)
    return {"id": user_id, "name": (person.full_name or person.email) if person else ""}


class InboxItemSerializer(serializers.ModelSerializer):
    """An inbox item with its mention. People come from the view's `people` context (one query)."""

    rank = serializers.SerializerMethodField(help_text="Priority plus the waiting bonus, as listed.")
    assignee = serializers.SerializerMethodField()
    first_responder = serializers.SerializerMethodField()
    first_response_s = serializers.SerializerMethodField(help_text="Arrival to first answer, seconds.")
    copies = serializers.SerializerMethodField(help_text="Other copies and shares of the same story.")
    mention = serializers.SerializerMethodField()

    class Meta:
        model = InboxItem
        fields = [
            "id",
            "status",
            "reasons",
            "priority",
            "rank",
            "assignee",
            "draft",
            "reply",
            "received_at",
            "created_at",
            "updated_at",
            "first_response_at",
            "first_response_s",
            "first_responder",
            "copies",
            "mention",
        ]
        read_only_fields = fields

    def _people(self) -> dict[int, Any]:
        return self.context.get("people", {})

    def get_rank(self, item: InboxItem) -> float:
        return round(getattr(item, "rank", item.priority), 3)

    def get_assignee(self, item: InboxItem) -> dict[str, Any] | None:
        return _person(self._people(), item.assignee_id)

    def get_first_responder(self, item: InboxItem) -> dict[str, Any] | None:
        return _person(self._people(), item.first_responder_id)

    def get_first_response_s(self, item: InboxItem) -> float | None:
        if item.first_response_at is None:
            return None
        return (item.first_response_at - item.received_at).total_seconds()

    def get_copies(self, item: InboxItem) -> int:
        story = item.story
        return max(story.mention_count - 1, 0) if story is not None else 0

    def get_mention(self, item: InboxItem) -> dict[str, Any]:
        m = item.mention
        return {
            "id": m.pk,
            "text": m.text,
            "url": m.url,
            "posted_at": serializers.DateTimeField().to_representation(m.posted_at),
            "lang": m.lang,
            "sentiment": m.sentiment,
            "sentiment_score": m.sentiment_score,
            "author": {"handle": m.author_handle, "name": m.author_name, "followers": m.author_followers},
            "source": {"id": m.source_id, "name": m.source.name, "kind": m.source.kind},
        }


class InboxEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = InboxEvent
        fields = ["id", "kind", "actor", "at", "data"]
        read_only_fields = fields

    def get_actor(self, event: InboxEvent) -> dict[str, Any] | None:
        return _person(self.context.get("people", {}), event.actor_id)


@extend_schema_field(
    {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "enum": ["me"]}], "nullable": True}
)
class _AssigneeField(serializers.Field):
    """ "me", a user id, or null (back to the team queue)."""

    default_error_messages = {"invalid": 'Give a user id, "me", or null.'}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> int | str:
        if data == "me":
            return "me"
        if isinstance(data, bool):
            self.fail("invalid")
        # isascii: "²".isdigit() holds but int("²") raises; the length keeps int() from refusing.
        if isinstance(data, int) or (
            isinstance(data, str) and data.isascii() and data.isdigit() and len(data) < 19
        ):
            value = int(data)
            if 0 < value < 2**63:
                return value
        self.fail("invalid")
        raise AssertionError  # fail() raises

    def to_representation(self, value: Any) -> Any:
        return value


class InboxAssignSerializer(serializers.Serializer):
    assignee = _AssigneeField()


class InboxDraftSerializer(serializers.Serializer):
    draft = serializers.CharField(max_length=10_000, allow_blank=True, trim_whitespace=False)


class InboxAnswerSerializer(serializers.Serializer):
    reply = serializers.CharField(max_length=10_000)


class InboxCloseSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class InboxSettingsSerializer(serializers.ModelSerializer):
    high_reach_followers = serializers.IntegerField(min_value=1, max_value=10**10, required=False)
    negative_min_score = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    response_target_minutes = serializers.IntegerField(min_value=1, max_value=60 * 24 * 30, required=False)

    class Meta:
        model = InboxSettings
        fields = ["high_reach_followers", "negative_min_score", "response_target_minutes", "updated_at"]
        read_only_fields = ["updated_at"]


class ResponseTimesSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    median_s = serializers.FloatField(allow_null=True)
    p90_s = serializers.FloatField(allow_null=True)
    within_target = serializers.IntegerField()
    within_target_share = serializers.FloatField(allow_null=True)


class MemberResponseTimesSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    name = serializers.CharField()
    times = ResponseTimesSerializer()
    waiting = serializers.IntegerField()


class InboxStatsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    target_s = serializers.IntegerField()
    overall = ResponseTimesSerializer()
    members = MemberResponseTimesSerializer(many=True)
    waiting = serializers.IntegerField()
    waiting_unassigned = serializers.IntegerField()
    oldest_waiting_at = serializers.DateTimeField(allow_null=True)
