"""The audience: contacts (people a tenant speaks to) and their handles on each channel.

Personalization reaches contacts only through the consent gate (`ethics.selectors.consented_contacts`);
a test walks this app's source and fails if another module queries these models directly.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from pgvector.django import VectorField

from listening.models import EMBEDDING_DIM
from tenants.crypto import EncryptedTextField


class StakeholderKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    PROSPECT = "prospect", "Prospect"
    EMPLOYEE = "employee", "Employee"
    PRESS = "press", "Press"
    INVESTOR = "investor", "Investor"
    PARTNER = "partner", "Partner"


class Contact(models.Model):
    # A random public identifier: preference links and the ledger's keyed pseudonym are built on it,
    # so neither reveals the database id nor survives the contact's erasure.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=StakeholderKind.choices, default=StakeholderKind.CUSTOMER)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(max_length=254, blank=True, db_index=True)
    language = models.CharField(max_length=8, blank=True)
    region = models.CharField(max_length=64, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    attributes = models.JSONField(default=dict, blank=True)
    # GDPR Art. 18: a restricted contact is stored but not processed (the gate leaves them out).
    is_restricted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or self.email or str(self.uuid)


class ContactHandle(models.Model):
    """A contact's handle on one network, stored lower-case without a leading '@': data-subject
    requests find the mentions a person authored through these."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="handles")
    network = models.CharField(max_length=32)
    handle = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "handle"], name="contact_handle_unique"),
        ]
        indexes = [models.Index(fields=["handle"], name="contact_handle_lookup")]

    def __str__(self) -> str:
        return f"{self.network}:{self.handle}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ContactImportJob(models.Model):
    """A CSV or NDJSON file of contacts, imported by a worker (queue `ingest`) with its progress and
    each bad row's problem (row, column, message: never the cell's value). The file's bytes are kept
    only until the import ran: they are personal data."""

    original_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=8)
    content = models.BinaryField(default=b"", blank=True)
    status = models.CharField(max_length=8, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    consents_recorded = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # the first IMPORT_ERRORS_KEPT
    errors_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)  # why the whole import failed
    actor = models.CharField(max_length=64)
    created_by_id = models.BigIntegerField(null=True, blank=True)  # a public-schema user id
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


class ChannelKind(models.TextChoices):
    SOCIAL = "social", "Social account"
    EMAIL = "email", "Email list"
    STATUS_PAGE = "status_page", "Status page"
    WEBHOOK = "webhook", "Generic webhook"
    MASTODON = "mastodon", "Mastodon"


class Channel(models.Model):
    """Where the tenant speaks to its audience. `config` holds what is not secret (a list id, an
    instance URL); `credentials` (tokens, webhook secrets) is encrypted at rest."""

    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    name = models.CharField(max_length=100, unique=True)
    config = models.JSONField(default=dict, blank=True)
    credentials = EncryptedTextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """A message (or one variant of a draft) as engagement is learnt from it: its features, and its
    topic embedding (all-MiniLM-L6-v2) for interests and the topic part of the engagement model."""

    key = models.CharField(max_length=200, unique=True)
    text = models.TextField(blank=True)
    tone = models.CharField(max_length=32, default="neutral")
    media_type = models.CharField(max_length=32, default="text")
    call_to_action = models.BooleanField(default=False)
    length = models.PositiveIntegerField(default=0)
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.key


class EngagementKind(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    REPLIED = "replied", "Replied"
    SHARED = "shared", "Shared"
    LIKED = "liked", "Liked (favourited)"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


# What counts as engaging with a delivered message (an unsubscribe is a reaction, not engagement).
ENGAGED_KINDS = (
    EngagementKind.OPENED,
    EngagementKind.CLICKED,
    EngagementKind.REPLIED,
    EngagementKind.SHARED,
    EngagementKind.LIKED,
)


class EngagementEvent(models.Model):
    """One thing a contact did with a message on a channel. Ingest is idempotent on the channel's
    own event id (`external_id`): a redelivered webhook or a re-sent batch stores nothing twice.

    `contact` is empty for what happens on a public channel, where nobody is addressed: a post
    delivered to a webhook, a status page or Mastodon, and the favourites, boosts and replies it
    drew there (counted back through the connector)."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="events")
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="engagement_events"
    )
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    kind = models.CharField(max_length=16, choices=EngagementKind.choices)
    external_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="engagement_event_unique"),
        ]
        indexes = [
            models.Index(fields=["contact", "occurred_at"], name="engagement_contact_time"),
            models.Index(fields=["occurred_at"], name="engagement_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}"


class SegmentKind(models.TextChoices):
    MODEL = "model", "Learnt from behaviour"
    RULE = "rule", "Rule (attribute filters)"


class Segment(models.Model):
    """A group of contacts. Learnt segments keep `number`, the core's stable id, across retrains
    (a retrain that finds the same group again updates this row); rule segments hold their filters."""

    kind = models.CharField(max_length=8, choices=SegmentKind.choices)
    number = models.PositiveIntegerField(null=True, blank=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    size = models.PositiveIntegerField(default=0)
    share = models.FloatField(default=0.0)
    typical_channel = models.CharField(max_length=100, blank=True)
    typical_time = models.CharField(max_length=32, blank=True)
    rules = models.JSONField(default=list, blank=True)
    # A learnt segment the latest model no longer finds is kept (its id is never reused) but retired.
    is_active = models.BooleanField(default=True)
    model_version = models.ForeignKey(
        "ethics.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "number", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["number"], condition=models.Q(kind="model"), name="segment_model_number_unique"
            ),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(kind="rule"), name="segment_rule_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def key(self) -> str:
        """The segment's stable key, as posts and recommendations name it: a learnt segment's number
        (what the engagement model knows it by, kept across retrains), `rule:<id>` for a rule segment."""
        return str(self.number) if self.kind == SegmentKind.MODEL else f"rule:{self.pk}"


class SegmentMembership(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="segment_memberships")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "contact"], name="segment_membership_unique"),
        ]
        indexes = [models.Index(fields=["contact"], name="segment_membership_contact")]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.contact_id}"


class RecommendationKind(models.TextChoices):
    VARIANT = "variant", "Message variant"
    SLOTS = "slots", "Time slots"


class Recommendation(models.Model):
    """One piece of advice given, as given: a data subject's export lists those made for the
    segments they belong to."""

    kind = models.CharField(max_length=8, choices=RecommendationKind.choices)
    segment = models.ForeignKey(Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    segment_label = models.CharField(max_length=100)
    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=24)
    basis = models.CharField(max_length=24)
    exploration = models.BooleanField(default=False)
    advice = models.JSONField(default=dict)
    model_version = models.ForeignKey(
        "ethics.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} for {self.segment_label}"


class CrisisModeChange(models.Model):
    """Each switch of the tenant's crisis mode, append-only; the latest row is the current state.
    Timing advice switches off and scheduled posts pause while it is on."""

    on = models.BooleanField()
    reason = models.TextField()
    actor = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=254, blank=True)
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"crisis mode {'on' if self.on else 'off'} at {self.changed_at:%Y-%m-%d %H:%M}"


# Scheduled posts and publishing live in their own module; importing them here registers them.
from personalization.post_models import (  # noqa: E402, F401
    Campaign,
    CampaignMember,
    PostSend,
    PostTransition,
    PublishingChannel,
    PublishingState,
    ScheduledPost,
)
