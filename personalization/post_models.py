"""Scheduled posts and their publishing: channels with a connector, posts with their state machine
and its history, one send record per (post, recipient), campaigns with seeded holdout groups.

Imported by `personalization.models`, so these are models of the personalization app.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from tenants.crypto import EncryptedTextField


class ConnectorKind(models.TextChoices):
    WEBHOOK = "webhook", "Outbound webhook (signed)"
    EMAIL = "email", "Email"
    MASTODON = "mastodon", "Mastodon"


# The audience channel kinds a connector may publish to (the first is the one created with it).
CONNECTOR_AUDIENCE_KINDS: dict[str, tuple[str, ...]] = {
    "webhook": ("webhook", "status_page", "social"),
    "email": ("email",),
    "mastodon": ("mastodon", "social"),
}


class PublishingChannel(models.Model):
    """How posts reach an audience channel: the connector and its credentials (encrypted at rest).

    Every connector belongs to exactly one audience `Channel` (created with it, or an existing one
    named at creation), and a channel has at most one connector: the channel is where engagement is
    counted, the connector is how posts get there. Kept as two tables so credentials and pause
    state live only where something is published, and audience channels that Candor only reads
    (engagement ingested from elsewhere) carry none."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=ConnectorKind.choices)
    # Delivered sends and the counts fetched back become this channel's engagement events.
    channel = models.OneToOneField(
        "personalization.Channel", on_delete=models.PROTECT, related_name="publishing"
    )
    # Webhook: the receiver. Mastodon: the instance's base URL (https://mastodon.social).
    url = EncryptedTextField(blank=True, default="")
    webhook_secret = EncryptedTextField(blank=True, default="")
    access_token = EncryptedTextField(blank=True, default="")
    # Email: the consent purpose whose consenting contacts may be written to.
    consent_purpose = models.CharField(max_length=64, blank=True)
    is_paused = models.BooleanField(default=False)
    pause_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PublishingState(models.Model):
    """The tenant's one row: the tenant-wide pause (what crisis mode drives)."""

    singleton = models.BooleanField(default=True, unique=True)
    is_paused = models.BooleanField(default=False)
    pause_reason = models.CharField(max_length=500, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"paused: {self.pause_reason}" if self.is_paused else "publishing"


class Campaign(models.Model):
    """Contacts of a campaign split, by a recorded seed, into a treated group and a holdout that
    receives nothing: the difference of their engagement is the campaign's uplift."""

    name = models.CharField(max_length=200, unique=True)
    consent_purpose = models.CharField(max_length=64)
    holdout_fraction = models.FloatField()
    seed = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class CampaignGroup(models.TextChoices):
    TREATED = "treated", "Treated"
    HOLDOUT = "holdout", "Holdout"


class CampaignMember(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey("personalization.Contact", on_delete=models.CASCADE, related_name="+")
    group = models.CharField(max_length=8, choices=CampaignGroup.choices)
    # Engagements counted in the campaign window (what the uplift compares, one unit per contact).
    engagements = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.contact_id} ({self.group})"


class PostStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    PAUSED = "paused", "Paused"
    NEEDS_RESCHEDULE = "needs_reschedule", "Needs reschedule"


class PauseScope(models.TextChoices):
    POST = "post", "This post"
    CHANNEL = "channel", "Its channel"
    TENANT = "tenant", "The whole workspace"


class MediaType(models.TextChoices):
    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    LINK = "link", "Link"


class ScheduledPost(models.Model):
    channel = models.ForeignKey(PublishingChannel, on_delete=models.PROTECT, related_name="posts")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="posts"
    )
    status = models.CharField(max_length=20, choices=PostStatus.choices, default=PostStatus.DRAFT)
    text = models.TextField()
    variant = models.CharField(max_length=64, blank=True)
    media_type = models.CharField(max_length=8, choices=MediaType.choices, default=MediaType.TEXT)
    tone = models.CharField(max_length=32, blank=True)
    call_to_action = models.CharField(max_length=200, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # A segment's stable identity and attribute filters (kind, language, region) on the audience.
    segment_key = models.CharField(max_length=64, blank=True)
    targeting = models.JSONField(default=dict, blank=True)
    # The recommended slot this post was filled from (empty when placed by hand): the uplift report
    # compares recommended with non-recommended sends.
    recommendation = models.JSONField(default=dict, blank=True)
    # While paused: the state to return to and who held it (a channel's resume frees only its own).
    paused_from = models.CharField(max_length=20, choices=PostStatus.choices, blank=True)
    pause_scope = models.CharField(max_length=8, choices=PauseScope.choices, blank=True)
    pause_reason = models.CharField(max_length=500, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)  # a public-schema user id
    approved_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="post_due")]

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.text[:40]}"

    @property
    def is_recommended(self) -> bool:
        return bool(self.recommendation)


class PostTransition(models.Model):
    """Every change of a post's status: who (None: the system), when, why."""

    post = models.ForeignKey(ScheduledPost, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=PostStatus.choices)
    to_status = models.CharField(max_length=20, choices=PostStatus.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.post_id}: {self.from_status} -> {self.to_status}"


class SendStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class PostSend(models.Model):
    """One delivery of a post to one recipient: the channel itself ("channel") or one contact
    ("contact:<id>"). The unique (post, recipient) is claimed before anything leaves Candor."""

    post = models.ForeignKey(ScheduledPost, on_delete=models.CASCADE, related_name="sends")
    recipient = models.CharField(max_length=64)
    contact = models.ForeignKey(
        "personalization.Contact", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Sent with every attempt (Idempotency-Key, X-Candor-Delivery, Message-ID): a receiver that
    # saw it already answers without acting twice.
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=SendStatus.choices, default=SendStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["post", "recipient"], name="post_send_once"),
        ]

    def __str__(self) -> str:
        return f"{self.post_id} -> {self.recipient}"
