"""The audience: contacts (people a tenant speaks to) and their handles on each channel.

Personalization reaches contacts only through the consent gate (`ethics.selectors.consented_contacts`);
a test walks this app's source and fails if another module queries these models directly.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


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


# Scheduled posts and publishing live in their own module; importing them here registers them.
from personalization.post_models import (  # noqa: E402
    Campaign,
    CampaignMember,
    PostSend,
    PostTransition,
    PublishingChannel,
    PublishingState,
    ScheduledPost,
)

__all__ = [
    "Campaign",
    "CampaignMember",
    "Contact",
    "ContactHandle",
    "PostSend",
    "PostTransition",
    "PublishingChannel",
    "PublishingState",
    "ScheduledPost",
    "StakeholderKind",
]
