"""The demo's audience for one client tenant: consent purposes, a few hundred contacts of every
stakeholder kind imported with their consents (some withdrawn since, so the consent gate visibly
holds them back), weeks of engagement with what the company sent (email and Mastodon, each contact
in their own time zone, with behaviour profiles that differ by channel and time of day), the
publishing channels that need nothing outside this machine (email through Django's mail backend),
and scheduled posts over the coming days. Everything goes through the product's services: the
contact import, the consent ledger, engagement ingest, the post state machine; segment and
engagement training are queued on the workers as "Retrain now" queues them.

The profiles are the planted behaviour groups the segmentation tests use as well
(`tests/personalization/synthetic.py`). Contacts are spread over the groups, languages and regions
in a fixed cycle, so every group has the same mix of languages and regions, and reactions are spread
evenly within a group: the bias audits then judge a fair demo audience (and pass), as they would a
fair real one.
"""

from __future__ import annotations

import json
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from celery import chain
from django.db import transaction
from django.utils import timezone

from ethics.models import ConsentAction, ConsentSource, Purpose
from ethics.selectors import consented_contacts
from ethics.services import ConsentEntry, consent_record_many, purpose_create
from personalization import post_services, records
from personalization.models import Channel, ChannelKind, EngagementKind
from personalization.post_models import ConnectorKind, PostStatus, PublishingChannel, ScheduledPost
from personalization.services import channel_create, message_upsert
from tenants.demo.mentions import Company
from tenants.models import Membership, Role, Tenant, User

# Behaviour profiles of planted contact groups: engagement rates per channel and time band, days
# since the last engagement, engagements per month.
PROFILES: dict[str, dict[str, float]] = {
    "email_mornings": {"channel:email": 0.30, "channel:mastodon": 0.02, "time:morning": 0.25,
                       "time:evening": 0.03, "recency_days": 5, "frequency_per_month": 8},
    "social_evenings": {"channel:email": 0.03, "channel:mastodon": 0.25, "time:morning": 0.02,
                        "time:evening": 0.30, "recency_days": 3, "frequency_per_month": 12},
    "lapsed": {"channel:email": 0.04, "channel:mastodon": 0.03, "time:morning": 0.04,
               "time:evening": 0.04, "recency_days": 90, "frequency_per_month": 0.5},
    "press_night_owls": {"channel:email": 0.15, "channel:mastodon": 0.20, "time:morning": 0.01,
                         "time:evening": 0.08, "recency_days": 1, "frequency_per_month": 30},
}  # fmt: skip

SERVICE_UPDATES = "service_updates"
NEWSLETTER = "Customer newsletter"
STATUS_EMAIL = "Service status emails"
MASTODON = "Mastodon followers"
WEEKS = 8
LANGUAGES = ("en", "de", "fr", "es")
REGIONS = (
    ("Europe", "Europe/Berlin"),
    ("North America", "America/New_York"),
    ("Latin America", "America/Sao_Paulo"),
)
# Stakeholder kinds, in the proportions a B2B software company's list has them.
KINDS = ("customer",) * 12 + ("prospect",) * 3 + ("partner",) * 2 + ("employee",) * 2 + ("press", "investor")
FIRST = ("Ada", "Ben", "Chloé", "Diego", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kira", "Luca")
LAST = ("Schmidt", "Martin", "García", "Smith", "Rossi", "Novak", "Silva", "Tanaka", "Dubois", "Okafor")


@dataclass(frozen=True)
class AudienceSeed:
    contacts: int = 288  # 4 profiles x 12 (language, region) x 2 (followers or not) x 3


@dataclass(frozen=True)
class Send:
    """One message the company sent, on a channel, at a local hour and weekday of the recipient."""

    key: str
    channel: str
    weekday: int
    hour: int
    days_ago: int
    text: str
    tone: str
    media_type: str = "text"


def _purposes() -> dict[str, Purpose]:
    if not Purpose.objects.filter(code=SERVICE_UPDATES).exists():
        purpose_create(
            code=SERVICE_UPDATES,
            name="Service status",
            description="Telling you when a service you use is down, degraded or back.",
            notice_text="We email you when a service you use is down or degraded, and when it is back. "
            "You can withdraw this consent at any time on your preference page.",
        )
    return {p.code: p for p in Purpose.objects.all()}


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _contact_rows(company: Company, count: int) -> list[dict[str, object]]:
    """NDJSON rows of the contact import. Profile changes with every row, and the pair (language,
    region) runs through all twelve combinations every four rows (4 and 3 are coprime), so every
    profile, and every slice of it in import order, holds each language and region alike."""
    profiles = list(PROFILES)
    rows = []
    for i in range(count):
        combo = (i // 4) % 12
        language = LANGUAGES[combo % 4]
        region, zone = REGIONS[combo % 3]
        profile = profiles[i % 4]
        kind = KINDS[(i * 5) % len(KINDS)]
        follower = (i // 48) % 2 == 0
        # Half of the social crowd takes no email: whole slices of 96 rows, so still every language.
        outreach = not (profile == "social_evenings" and (i // 96) % 2 == 1)
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        row: dict[str, object] = {
            "kind": kind,
            "name": f"{first} {last}",
            "email": f"{_ascii(first)}.{_ascii(last)}.{i}@{kind}.example",
            "language": language,
            "region": region,
            "time_zone": zone,
            "attributes": {"profile": profile, "company": company.name},
            "consent": {
                "personalization": "yes",
                "analytics": "yes",
                "outreach": "yes" if outreach else "no",
                SERVICE_UPDATES: "yes" if kind in ("customer", "partner", "press") and i % 5 else "no",
            },
        }
        if follower:
            row["handles"] = [{"network": "mastodon", "handle": f"{_ascii(first)}{i}@social.example"}]
        rows.append(row)
    return rows


def _sends(company: Company) -> list[Send]:
    """Eight weeks of what the company sent: a weekly newsletter, release notes every other week and
    two Mastodon posts a week, at hours that vary, so hours of the week can be compared."""
    sends = []
    for week in range(WEEKS):
        base = 7 * (WEEKS - week)
        product = company.products[week % len(company.products)]
        sends.append(
            Send(f"newsletter-{week}", NEWSLETTER, 1, (9, 14, 9, 19, 11)[week % 5], base - 1,
                 f"{company.name} monthly: what is new in {product}, and tips from customers", "informative")
        )  # fmt: skip
        if week % 2 == 0:
            sends.append(
                Send(f"update-{week}", NEWSLETTER, 3, 15, base - 3,
                     f"{product} release notes: faster start-up and new regions", "formal")
            )  # fmt: skip
        for day, hour in ((0, (8, 12, 18)[week % 3]), (3, (20, 9, 21)[week % 3])):
            sends.append(
                Send(f"social-{week}-{day}", MASTODON, day, hour, base - day,
                     f"How teams use {product}: a short story from the community", "playful",
                     ("image", "video", "text")[(week + day) % 3])
            )  # fmt: skip
    return sends


def _engage_rate(profile: dict[str, float], channel_kind: str, hour: int, days_ago: int) -> float:
    rate = profile[f"channel:{channel_kind}"]
    morning, evening = profile["time:morning"], profile["time:evening"]
    band = morning if 6 <= hour < 12 else evening if hour >= 18 else (morning + evening) / 2
    p = rate * (0.4 + 4 * band)
    if days_ago < profile["recency_days"] - 30:  # lapsed: nothing lately
        p *= 0.1
    return float(min(p, 0.9))


def _send_time(send: Send, zone: str, now: datetime) -> datetime:
    local_now = now.astimezone(ZoneInfo(zone))
    day = local_now - timedelta(days=send.days_ago)
    day -= timedelta(days=(day.weekday() - send.weekday) % 7)
    return day.replace(hour=send.hour, minute=0, second=0, microsecond=0).astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class Recipient:
    contact_id: int
    profile: str
    zone: str
    emailed: bool
    follower: bool


def _history(company: Company, contacts: list[Recipient], now: datetime) -> None:
    """Deliveries and reactions of every send, through engagement ingest, one channel at a time.

    Of the recipients of a send who share a profile, the profile's rate of them react: a window
    that moves along them from send to send, so each reacts about as often as the others (the
    import order mixes languages and regions, so the window does too); only when is drawn."""
    rng = np.random.default_rng(zlib.crc32(f"audience-{company.handle}".encode()))
    channels = {c.name: c for c in Channel.objects.filter(name__in=(NEWSLETTER, MASTODON))}
    items: dict[str, list[dict[str, object]]] = {NEWSLETTER: [], MASTODON: []}
    for index, send in enumerate(_sends(company)):
        message_upsert(
            key=f"demo-{send.key}",
            text=send.text,
            tone=send.tone,
            media_type=send.media_type,
            call_to_action=True,
        )
        kind = "email" if send.channel == NEWSLETTER else "mastodon"
        for profile in PROFILES:
            group = [
                c
                for c in contacts
                if c.profile == profile
                and (c.emailed if kind == "email" else c.follower)
                and _send_time(send, c.zone, now) < now
            ]
            if not group:
                continue
            reacting = round(_engage_rate(PROFILES[profile], kind, send.hour, send.days_ago) * len(group))
            window = {(index * reacting + j) % len(group) for j in range(reacting)}
            for position, recipient in enumerate(group):
                at = _send_time(send, recipient.zone, now)
                key = f"{send.key}-{recipient.contact_id}"
                base = {"contact": recipient.contact_id, "message": f"demo-{send.key}"}
                items[send.channel].append(
                    {**base, "kind": EngagementKind.DELIVERED, "external_id": f"{key}-d", "occurred_at": at}
                )
                if position in window:
                    reaction = EngagementKind.OPENED if kind == "email" else EngagementKind.LIKED
                    later = at + timedelta(minutes=float(rng.exponential(40)))
                    items[send.channel].append(
                        {**base, "kind": reaction, "external_id": f"{key}-e", "occurred_at": later}
                    )
    for name, rows in items.items():
        records.engagement_ingest(channel=channels[name], items=rows, actor="demo seed")


def _member(tenant: Tenant, role: str) -> User | None:
    membership = (
        Membership.objects.filter(tenant=tenant, role=role, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
        .first()
    )
    return membership.user if membership else None


def _channels() -> None:
    if not Channel.objects.filter(name=MASTODON).exists():
        # Engagement on Mastodon comes from elsewhere here: an audience channel without a connector.
        channel_create(kind=ChannelKind.MASTODON, name=MASTODON, config={"instance": "social.example"})
    if not PublishingChannel.objects.filter(name=NEWSLETTER).exists():
        post_services.publishing_channel_create(
            name=NEWSLETTER, kind=ConnectorKind.EMAIL, consent_purpose="outreach"
        )
    if not PublishingChannel.objects.filter(name=STATUS_EMAIL).exists():
        post_services.publishing_channel_create(
            name=STATUS_EMAIL, kind=ConnectorKind.EMAIL, consent_purpose=SERVICE_UPDATES
        )


def posts_seed(*, company: Company, tenant: Tenant, now: datetime | None = None) -> int:
    """Posts over the coming days on the newsletter, most approved and scheduled (what crisis mode
    holds), one approved without a time and one draft. Only when nothing is scheduled ahead, so a
    demo started again days later has posts to pause again. Returns the posts made."""
    now = now or timezone.now()
    ahead = ScheduledPost.objects.filter(status=PostStatus.SCHEDULED, scheduled_at__gt=now)
    if ahead.exists():
        return 0
    writer, approver = _member(tenant, Role.ANALYST), _member(tenant, Role.APPROVER)
    channel = PublishingChannel.objects.get(name=NEWSLETTER)
    product = company.products[0]
    # (in days, at hour, text, targeting, scheduled: True, approved only: False, draft: None)
    plan: tuple[tuple[int, int, str, dict[str, str], bool | None], ...] = (
        (1, 9, f"Webinar next week: getting the most out of {product}", {"kind": "customer"}, True),
        (2, 14, f"{company.name} at the Cloud Summit: meet our team at booth 12", {}, True),
        (3, 10, f"New in {product}: audit logs per project", {"kind": "customer"}, True),
        (
            4,
            16,
            f"Quarterly update for investors: {company.name} grows in three regions",
            {"kind": "investor"},
            True,
        ),
        (5, 11, f"Partner programme: co-selling {product} with {company.name}", {"kind": "partner"}, False),
        (6, 9, f"Customer story: how a bank moved to {product}", {}, None),
    )
    made = 0
    for days, hour, text, targeting, schedule in plan:
        when = (now + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
        post = post_services.scheduled_post_create(
            channel=channel,
            text=text,
            actor=post_services.Actor.of(writer),
            scheduled_at=when,
            tone="informative",
            targeting=targeting,
        )
        made += 1
        if schedule is None:
            continue
        post = post_services.scheduled_post_approve(post=post, actor=post_services.Actor.of(approver))
        if schedule:
            post_services.scheduled_post_schedule(post=post, actor=post_services.Actor.of(writer))
    return made


def audience_seed(*, company: Company, tenant: Tenant, seed: AudienceSeed | None = None) -> int:
    """Seed the current tenant's audience (once: a tenant with contacts keeps them), its channels and
    upcoming posts, and queue the trainings. Returns the contacts imported."""
    seed = seed or AudienceSeed()
    now = timezone.now()
    purposes = _purposes()
    _channels()
    imported = 0
    if not consented_contacts(purpose="personalization").exists():
        rows = _contact_rows(company, seed.contacts)
        content = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()
        result = records.contacts_import(content=content, fmt="ndjson", actor="demo seed")
        imported = result.created
        gate = consented_contacts(purpose="personalization").order_by("pk")
        contacts = list(gate.values_list("pk", "attributes", "time_zone", "email"))
        outreach = set(consented_contacts(purpose="outreach").values_list("pk", flat=True))
        followers = set(
            records.contact_list().filter(handles__network="mastodon").values_list("pk", flat=True)
        )
        recipients = [
            Recipient(pk, attrs["profile"], zone, pk in outreach, pk in followers)
            for pk, attrs, zone, _ in contacts
        ]
        _history(company, recipients, now)
        # Some changed their minds since: withdrawn on the preference page (the ledger keeps both).
        by_pk = {c.pk: c for c in records.contact_list().filter(pk__in=[c[0] for c in contacts])}
        withdrawals = [
            ConsentEntry(by_pk[pk], purposes[code], ConsentAction.WITHDRAW)
            for index, (pk, *_rest) in enumerate(contacts)
            for code, every in (("personalization", 11), ("outreach", 13))
            if index % every == 5 and (code != "outreach" or pk in outreach)
        ]
        consent_record_many(entries=withdrawals, source=ConsentSource.PREFERENCE_PAGE, actor="contact")
        from personalization import tasks

        transaction.on_commit(lambda: chain(tasks.train_segments.si(), tasks.train_engagement.si()).delay())
    posts_seed(company=company, tenant=tenant, now=now)
    return imported
