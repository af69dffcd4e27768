"""Tenant-schema models of listening: where mentions come from, the mentions themselves (with
what enrichment learned about them), the stories near-duplicates collapse into, and the boolean
queries that tag them."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from tenants.crypto import EncryptedTextField

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


class SourceKind(models.TextChoices):
    WEBHOOK = "webhook", "Signed webhook"
    API = "api", "Bulk API"
    UPLOAD = "upload", "File upload"
    RSS = "rss", "RSS or Atom feed"
    MASTODON = "mastodon", "Mastodon"


POLLED_KINDS = (SourceKind.RSS, SourceKind.MASTODON)


class Source(models.Model):
    """Where mentions come from. Polled kinds keep their position (ETag, cursor) here, so a
    restart neither loses nor repeats mentions."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    # rss: {"url"}; mastodon: {"instance", "tag"} or {"instance", "account_id"}.
    config = models.JSONField(default=dict, blank=True)
    # Webhook signing secrets; the previous one stays valid until `previous_secret_expires_at`.
    secret = EncryptedTextField(blank=True, default="")
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    poll_interval_s = models.PositiveIntegerField(default=300)
    cursor = models.CharField(max_length=200, blank=True)
    etag = models.CharField(max_length=512, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_errors = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"


class Story(models.Model):
    """Near-duplicates and shares of one post: a thousand copies are one story, shared 1,000 times."""

    key = models.BigIntegerField(db_index=True)  # 64-bit text fingerprint (listening.nlp.dedupe)
    first_mention = models.ForeignKey("Mention", null=True, on_delete=models.SET_NULL, related_name="+")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    mention_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "stories"

    def __str__(self) -> str:
        return f"story {self.pk} x{self.mention_count}"


class Mention(models.Model):
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="mentions")
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    author_handle = models.CharField(max_length=200, blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    author_followers = models.PositiveBigIntegerField(null=True, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    posted_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    lang_hint = models.CharField(max_length=8, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    # Enrichment: empty until a worker has enriched the mention (enriched_at set).
    lang = models.CharField(max_length=8, blank=True)
    sentiment = models.CharField(max_length=8, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    search_vector = SearchVectorField(null=True, blank=True)
    story = models.ForeignKey(
        Story, null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    is_share = models.BooleanField(default=False)
    enriched_at = models.DateTimeField(null=True, blank=True)
    enrich_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-posted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="mention_source_external_unique")
        ]
        indexes = [
            models.Index(fields=["-posted_at", "-id"], name="mention_recent"),
            models.Index(fields=["author_handle"], name="mention_author"),
            # The sweep finds never-enriched mentions through this small partial index.
            models.Index(fields=["id"], condition=Q(enriched_at__isnull=True), name="mention_unenriched"),
            GinIndex(fields=["search_vector"], name="mention_search"),
            HnswIndex(
                name="mention_embedding",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"


class QueryKind(models.TextChoices):
    BRAND = "brand", "Brand"
    PRODUCT = "product", "Product"
    TOPIC = "topic", "Topic"
    COMPETITOR = "competitor", "Competitor"


class BackfillStatus(models.TextChoices):
    IDLE = "idle", "Up to date"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FAILED = "failed", "Failed"


class Query(models.Model):
    """A boolean query (listening.querylang) that tags every mention it matches."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=QueryKind.choices, default=QueryKind.BRAND)
    expression = models.TextField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Backfill re-matches stored mentions whenever the expression changes; `revision` fences a
    # stale backfill job out when the expression changes again while it runs.
    revision = models.PositiveIntegerField(default=1)
    backfill_status = models.CharField(
        max_length=16, choices=BackfillStatus.choices, default=BackfillStatus.IDLE
    )
    backfill_done = models.PositiveIntegerField(default=0)
    backfill_total = models.PositiveIntegerField(default=0)
    backfill_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "queries"

    def __str__(self) -> str:
        return self.name


class QueryMatch(models.Model):
    """A mention tagged by a query. `posted_at` is copied so per-query time ranges use one index."""

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="matches")
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="query_matches")
    posted_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["query", "mention"], name="query_match_unique")]
        indexes = [models.Index(fields=["query", "-posted_at"], name="query_match_recent")]

    def __str__(self) -> str:
        return f"{self.query_id}:{self.mention_id}"


class WebhookDelivery(models.Model):
    """Delivery ids seen per source, kept 3 days (senders retry for up to 3 days): a replayed
    delivery is acknowledged and not stored again (RELIABILITY 13)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=100)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    stored = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "delivery_id"], name="webhook_delivery_unique")
        ]

    def __str__(self) -> str:
        return self.delivery_id


class UploadStatus(models.TextChoices):
    MAPPING = "mapping", "Waiting for the column mapping"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class UploadJob(models.Model):
    """A CSV or NDJSON file of mentions: mapped by a person, imported by a worker."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="uploads")
    file = models.FileField(upload_to="uploads/")
    original_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=8)  # csv or ndjson
    delimiter = models.CharField(max_length=1, blank=True)  # of a CSV file, as sniffed
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.MAPPING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    stored = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rejected_report = models.FileField(upload_to="uploads/rejected/", blank=True)
    error = models.TextField(blank=True)
    created_by_id = models.BigIntegerField(null=True)  # a public-schema user id
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


class InboxSettings(models.Model):
    """The tenant's inbox thresholds: one row per tenant schema (pk 1), defaults until edited."""

    high_reach_followers = models.PositiveBigIntegerField(default=10_000)
    negative_min_score = models.FloatField(default=0.6)
    response_target_minutes = models.PositiveIntegerField(default=60)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "inbox settings"

    def __str__(self) -> str:
        return "inbox settings"


class InboxStatus(models.TextChoices):
    NEW = "new", "New"
    ASSIGNED = "assigned", "Assigned"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "No reply needed"


WAITING_STATUSES = (InboxStatus.NEW, InboxStatus.ASSIGNED)


class InboxItem(models.Model):
    """A mention that needs an answer: why (reasons), how urgent (priority), who has it, and when
    it was first answered. One item per story: copies and shares of a queued post are counted on
    the story, not queued again. People are public-schema users, kept by id (as UploadJob does)."""

    mention = models.OneToOneField(Mention, on_delete=models.CASCADE, related_name="inbox_item")
    story = models.ForeignKey(Story, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reasons = ArrayField(models.CharField(max_length=16), default=list)
    priority = models.FloatField()  # when it arrived; waiting time is added when the inbox is read
    status = models.CharField(max_length=16, choices=InboxStatus.choices, default=InboxStatus.NEW)
    assignee_id = models.BigIntegerField(null=True, blank=True)
    draft = models.TextField(blank=True)
    reply = models.TextField(blank=True)
    received_at = models.DateTimeField()  # the mention's arrival: first-response time starts here
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The first answer only: reopening and answering again never changes the measured time.
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_responder_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["story"], condition=Q(story__isnull=False), name="inbox_item_story_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-priority"], name="inbox_item_rank"),
            # The waiting items by priority: where the ranked list finds its priority floor.
            models.Index(
                fields=["-priority"], condition=Q(status__in=["new", "assigned"]), name="inbox_item_waiting"
            ),
            models.Index(fields=["first_response_at"], name="inbox_item_responded"),
            models.Index(fields=["received_at"], name="inbox_item_received"),
            GinIndex(fields=["reasons"], name="inbox_item_reasons"),
        ]

    def __str__(self) -> str:
        return f"inbox {self.pk} ({self.status})"


class InboxEventKind(models.TextChoices):
    CREATED = "created", "Queued"
    ASSIGNED = "assigned", "Assigned"
    UNASSIGNED = "unassigned", "Unassigned"
    DRAFTED = "drafted", "Draft saved"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed without reply"
    REOPENED = "reopened", "Reopened"


class InboxEvent(models.Model):
    """Every change of an item, who and when: the item's history and the data behind its timing."""

    item = models.ForeignKey(InboxItem, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=InboxEventKind.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)  # None: the system (enrichment)
    at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["item", "at"], name="inbox_event_item")]

    def __str__(self) -> str:
        return f"{self.kind} {self.item_id}"
