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
    # Uses crisis language (crisis.ml.features.crisis_language_match), set at enrichment: the
    # metric buckets count these, so a rebuild gives what enrichment counted.
    crisis_language = models.BooleanField(db_default=False)
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


class MetricGrain(models.IntegerChoices):
    """Bucket widths in seconds. Every mention is counted at each grain, so a year at day steps
    reads a few thousand rows instead of a hundred thousand 5-minute buckets."""

    MINUTES_5 = 300, "5 minutes"
    HOUR = 3600, "1 hour"
    DAY = 86400, "1 day (UTC)"


class MetricBucket(models.Model):
    """Counts of enriched mentions by time (UTC-aligned bucket start), query, source and language.

    Each dimension left empty (NULL) means "all": a mention is counted in the rows of its query
    (and of no query, which counts every mention once), crossed with its source or all sources,
    and its language or all languages. So the all-mentions total of an hour is one row, and a
    source or language filter reads only its own rows. Rows are only ever changed by adding
    deltas (listening.services.metrics), inside the transactions that change what they count."""

    grain = models.PositiveIntegerField(choices=MetricGrain.choices)
    bucket_start = models.DateTimeField()
    query = models.ForeignKey(Query, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # NULL is "all languages"; "" is a mention whose language was not recognised.
    lang = models.CharField(max_length=8, null=True, blank=True)
    volume = models.BigIntegerField(default=0)
    positive = models.BigIntegerField(default=0)
    neutral = models.BigIntegerField(default=0)
    negative = models.BigIntegerField(default=0)
    reach = models.BigIntegerField(default=0)  # sum of the authors' followers
    # The crisis-risk score's signals (crisis.risk_services), counted like the others:
    negative_reach = models.BigIntegerField(default=0)  # followers of the negative mentions' authors
    crisis_language = models.BigIntegerField(default=0)  # mentions using crisis language
    # Mentions by the press or high-reach authors: from a news feed (an RSS/Atom source) or by an
    # author with at least PRESS_FOLLOWERS followers (listening.services.metrics).
    press = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # NULLS NOT DISTINCT (PostgreSQL 15+): "all" rows are unique too, so the upsert can
            # name this constraint in ON CONFLICT. Its column order serves every read: equality
            # (or IS NULL) on grain, query, source and language, then the time range.
            models.UniqueConstraint(
                fields=["grain", "query", "source", "lang", "bucket_start"],
                name="metric_bucket_key",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.grain}s@{self.bucket_start:%Y-%m-%dT%H:%M} q{self.query_id} s{self.source_id}"


class AlertKind(models.TextChoices):
    VOLUME_SPIKE = "volume_spike", "Volume spike"
    NEGATIVE_SHARE = "negative_share", "Negative-share jump"
    KEYWORD = "keyword", "Keyword or query trigger"
    NEW_TOPIC = "new_topic", "New fast-growing topic"
    # Raised by the crisis-risk score (crisis.risk_services), through one system rule per tenant.
    CRISIS_RISK = "crisis_risk", "Crisis risk"


class AlertRule(models.Model):
    """What to watch and whom to tell. `query`/`source` narrow what a rule counts (for a keyword
    rule without an expression, the saved query is the trigger). Delivery targets are secrets
    (a Slack incoming-webhook URL is a credential), so they are encrypted at rest."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    is_active = models.BooleanField(default=True)
    query = models.ForeignKey(Query, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    expression = models.TextField(blank=True)
    sensitivity = models.PositiveSmallIntegerField(default=5)
    cooldown_minutes = models.PositiveIntegerField(default=60)
    notify_portal = models.BooleanField(default=True)
    email_to = models.JSONField(default=list, blank=True)
    webhook_url = EncryptedTextField(blank=True, default="")
    webhook_secret = EncryptedTextField(blank=True, default="")
    slack_url = EncryptedTextField(blank=True, default="")
    # The learned seasonal profile (listening.alerting.detectors.Profile), refreshed hourly.
    baseline = models.JSONField(default=dict, blank=True)
    baseline_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertStatus(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    DISMISSED = "dismissed", "Dismissed"
    ESCALATED = "escalated", "Escalated"


class Alert(models.Model):
    """One firing of a rule. `window_key` names the evaluation window (or the first triggering
    mention): unique per rule, so an evaluation retried for the same window fires once
    (RELIABILITY 27)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    window_key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    fired_at = models.DateTimeField(default=timezone.now)
    expected = models.FloatField(null=True, blank=True)
    observed = models.FloatField()
    score = models.FloatField(default=0)
    threshold = models.FloatField(default=0)
    why = models.TextField()
    mention_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.NEW)
    # Public-schema user ids (users live in `public`; a foreign key cannot cross schemas).
    acknowledged_by_id = models.BigIntegerField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    dismissed_by_id = models.BigIntegerField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    escalated_by_id = models.BigIntegerField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "window_key"], name="alert_rule_window_unique")
        ]
        indexes = [models.Index(fields=["-fired_at", "-id"], name="alert_recent")]

    def __str__(self) -> str:
        return f"{self.rule_id}@{self.window_key}"


class AlertEvidence(models.Model):
    """A mention behind an alert, with its reach when it fired; the top ones by reach are shown."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="evidence")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="+")
    reach = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "mention"], name="alert_evidence_unique"),
        ]
        indexes = [models.Index(fields=["rule", "mention"], name="alert_evidence_rule_mention")]

    def __str__(self) -> str:
        return f"{self.alert_id}:{self.mention_id}"


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Signed webhook"
    SLACK = "slack", "Slack"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AlertDelivery(models.Model):
    """One channel's delivery of one alert: its state is what the portal and API show."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=DeliveryChannel.choices)
    target = models.CharField(max_length=300, blank=True)  # shown to people: masked, never the secret
    delivery_id = models.UUIDField(unique=True)  # the X-Candor-Delivery of every attempt
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel"], name="alert_delivery_channel_unique")
        ]
        verbose_name_plural = "alert deliveries"

    def __str__(self) -> str:
        return f"{self.alert_id}:{self.channel}"


class Notification(models.Model):
    """The portal's bell: one per alert and member."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    user_id = models.BigIntegerField()  # a public-schema user id
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "user_id"], name="notification_alert_user_unique")
        ]
        indexes = [
            models.Index(fields=["user_id"], condition=Q(read_at__isnull=True), name="notification_unread")
        ]

    def __str__(self) -> str:
        return f"{self.alert_id}->{self.user_id}"


class TopicStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DORMANT = "dormant", "Dormant"


class TopicRun(models.Model):
    """One periodic clustering of a tenant's recent mentions (listening.services.topics).

    The window is [window_start, window_end); growth compares it with the window of the same length
    just before. `sampled` < `considered` when the window held more story representatives than the
    cap. Readers (alerts) take the latest finished run: `TopicRun.objects.filter(finished_at__isnull=False)
    .latest("finished_at")`, then its `snapshots`."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    considered = models.PositiveIntegerField(default=0)  # mentions with an embedding in the window
    sampled = models.PositiveIntegerField(default=0)  # story representatives clustered
    clusters = models.PositiveIntegerField(default=0)
    new_topics = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"topic run {self.pk} ({self.window_start:%Y-%m-%d %H:%M}-{self.window_end:%H:%M})"


class Topic(models.Model):
    """An emerging topic: a cluster of recent mentions that keeps its id across runs while it
    persists (matched on centroid cosine and term overlap), and goes dormant, never deleted, when it
    stops appearing; a later run may wake it up again.

    Fields for readers (alerts, dashboards):
    - `id` is stable; `label` (e.g. "outage · login · status page") and `terms` (most distinctive
      first) name it.
    - `first_seen_at` is when a run first found it (`first_run` that run); `last_seen_at` the end
      of the last window it appeared in; `status` active/dormant.
    - `volume`, `previous_volume`, `growth`, `positive`/`neutral`/`negative`, `negative_share` and
      `reach` repeat its latest snapshot, so lists sort and filter without a join; the history is
      `snapshots` (TopicSnapshot).
    - `parent` is the topic it split from; `merged_into` the topic that absorbed it (then dormant).
    """

    label = models.CharField(max_length=200)
    terms = models.JSONField(default=list)  # most distinctive first, at most 10
    centroid = VectorField(dimensions=EMBEDDING_DIM)  # unit length
    status = models.CharField(max_length=8, choices=TopicStatus.choices, default=TopicStatus.ACTIVE)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    first_run = models.ForeignKey(TopicRun, null=True, on_delete=models.SET_NULL, related_name="+")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="splits"
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="absorbed"
    )
    volume = models.PositiveIntegerField(default=0)
    previous_volume = models.PositiveIntegerField(default=0)
    growth = models.FloatField(default=0.0)
    positive = models.PositiveIntegerField(default=0)
    neutral = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    negative_share = models.FloatField(default=0.0)
    reach = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-growth", "-volume", "id"]
        indexes = [
            models.Index(fields=["status", "-growth"], name="topic_growth"),
            models.Index(fields=["status", "-volume"], name="topic_volume"),
        ]

    def __str__(self) -> str:
        return self.label


class TopicSnapshot(models.Model):
    """A topic as one run saw it. `volume` counts mentions (copies included) in the run's window;
    `previous_volume` those of the window before that lie as close to the topic's centroid;
    `growth` = (volume - previous_volume) / max(previous_volume, GROWTH_FLOOR) (listening.nlp.topics),
    so 0.5 is +50 % and a topic out of nowhere does not read as +infinity. `negative_share` =
    negative / volume. Counts are scaled up when the run sampled."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="snapshots")
    run = models.ForeignKey(TopicRun, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField()  # the run's window_end
    volume = models.PositiveIntegerField()
    previous_volume = models.PositiveIntegerField()
    positive = models.PositiveIntegerField()
    neutral = models.PositiveIntegerField()
    negative = models.PositiveIntegerField()
    reach = models.PositiveBigIntegerField()
    growth = models.FloatField()
    negative_share = models.FloatField()
    is_new = models.BooleanField(default=False)  # the run created this topic

    class Meta:
        ordering = ["topic", "taken_at"]
        constraints = [models.UniqueConstraint(fields=["topic", "run"], name="topic_snapshot_unique")]

    def __str__(self) -> str:
        return f"{self.topic_id}@{self.taken_at:%Y-%m-%d %H:%M}: {self.volume}"


class TopicMention(models.Model):
    """The topic of a mention: set at enrichment (nearest active topic, if close enough) and reset
    by each run for the mentions it clustered. One topic per mention. `posted_at` is copied so a
    topic's recent mentions come from one index."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="assignments")
    mention = models.OneToOneField(Mention, on_delete=models.CASCADE, related_name="topic_assignment")
    posted_at = models.DateTimeField()
    similarity = models.FloatField()  # cosine to the topic's centroid when assigned

    class Meta:
        indexes = [models.Index(fields=["topic", "-posted_at"], name="topic_mention_recent")]

    def __str__(self) -> str:
        return f"{self.topic_id}:{self.mention_id}"


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
            # The waiting items by priority: where the ranked list finds its priority floor. Written
            # as ORs, not IN: PostgreSQL prints an IN list in a form that re-parses differently, so a
            # tenant cloned from the template would not have the same index text (test_cloning).
            models.Index(
                fields=["-priority"],
                condition=Q(status="new") | Q(status="assigned"),
                name="inbox_item_waiting",
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
