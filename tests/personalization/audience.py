"""Seeding for the audience tests: consented contacts in two behaviour groups with deliveries and
engagement on two channels, written through the records and consent services."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from ethics.models import FairnessSettings, ModelVersion, Purpose
from ethics.services import ConsentEntry, consent_record_many
from personalization.models import (
    Channel,
    Contact,
    ContactImportJob,
    CrisisModeChange,
    EngagementEvent,
    Message,
    PublishingChannel,
    Recommendation,
    ScheduledPost,
    Segment,
)
from personalization.records import contact_create

ONLY_REGION = [{"name": "region", "source": "field", "key": "region"}]


def fairness_region_only() -> None:
    FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})


def seed(*, per_group: int = 100, biased: bool = False, now: datetime | None = None) -> dict[str, Any]:
    """Group "mail" reads email sent at 09:00 and ignores what comes at other hours; group "social"
    engages on Mastodon at 20:00 and not at other hours. Regions alternate within each group (fair),
    or follow the group (biased)."""
    now = now or timezone.now()
    mail = Channel.objects.create(kind="email", name="Newsletter")
    social = Channel.objects.create(kind="mastodon", name="Mastodon")
    messages = {
        "mail": [
            Message.objects.create(
                key=f"mail-{i}", text="Release notes " * (i + 2), tone="formal", length=40 + i
            )
            for i in range(2)
        ],
        "social": [
            Message.objects.create(
                key=f"social-{i}", text="Come see us", tone="playful", media_type="image", call_to_action=True
            )
            for i in range(2)
        ],
    }
    personalization = Purpose.objects.get(code="personalization")
    contacts: dict[str, list[Any]] = {"mail": [], "social": []}
    events = []
    for group, channel, habit in (("mail", mail, 9), ("social", social, 20)):
        for i in range(per_group):
            region = ("north" if group == "mail" else "south") if biased else ("north", "south")[i % 2]
            contact = contact_create(name=f"{group} {i}", email=f"{group}{i}@example.org", region=region)
            contacts[group].append(contact)
            for day in range(1, 11):
                # The other sends are spread over every other hour of the day across contacts.
                hour = habit if day % 2 else (habit + 1 + (7 * i + day) % 23) % 24
                sent = (now - timedelta(days=day)).replace(hour=hour, minute=0, second=0, microsecond=0)
                message = messages[group][day % 2]
                key = f"{contact.pk}-{day}"
                events.append(
                    EngagementEvent(
                        channel=channel,
                        contact=contact,
                        message=message,
                        kind="delivered",
                        external_id=f"d-{key}",
                        occurred_at=sent,
                    )
                )
                if hour == habit and day % 3:
                    events.append(
                        EngagementEvent(
                            channel=channel,
                            contact=contact,
                            message=message,
                            kind="opened",
                            external_id=f"o-{key}",
                            occurred_at=sent + timedelta(minutes=5),
                        )
                    )
    EngagementEvent.objects.bulk_create(events)
    everyone = contacts["mail"] + contacts["social"]
    consent_record_many(
        entries=[ConsentEntry(c, personalization, "grant") for c in everyone], source="api", actor="test"
    )
    return {"mail": mail, "social": social, "contacts": contacts, "messages": messages}


def audience_clean(tenant: Any) -> None:
    """Remove everything the committed (worker and browser) tests made in a tenant; ledger events
    stay, the ledger is append-only."""
    with tenant_context(tenant):
        Recommendation.objects.all().delete()
        Segment.objects.all().delete()
        EngagementEvent.objects.all().delete()
        Message.objects.all().delete()
        # Connectors protect their audience channel (and posts their connector).
        ScheduledPost.objects.all().delete()
        PublishingChannel.objects.all().delete()
        Channel.objects.all().delete()
        ContactImportJob.objects.all().delete()
        CrisisModeChange.objects.all().delete()
        Contact.objects.all().delete()
        ModelVersion.objects.all().delete()
        FairnessSettings.objects.all().delete()
    shutil.rmtree(Path(settings.DATA_DIR) / "media" / tenant.schema_name / "models", ignore_errors=True)
