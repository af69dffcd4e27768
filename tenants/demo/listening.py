"""The demo's listening set-up for one client tenant: two sources, the brand, product and competitor
queries, the alert rules a communications team starts with, and weeks of past mentions ingested
through the real ingest path (enrichment, metrics and topics then run on the workers)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from django.utils import timezone

from listening.models import AlertKind, Mention, QueryKind, SourceKind
from listening.services.alerts import alert_rule_create
from listening.services.ingest import mention_ingest
from listening.services.queries import query_create
from listening.services.sources import source_create
from tenants.demo.mentions import Company, MentionWriter

SOCIAL_SOURCE = "Social (demo feed)"
PRESS_SOURCE = "Tech press (demo feed)"
# Mentions per ingest call: each is one transaction whose enrichment is queued when it commits.
CHUNK = 2000


@dataclass(frozen=True)
class ListeningSeed:
    company: Company
    days: int
    per_day: float


def _brand_expression(company: Company) -> str:
    return f'"{company.name}" OR @{company.handle} OR #{company.handle}'


def _or_phrases(names: tuple[str, ...]) -> str:
    return " OR ".join(f'"{name}"' for name in names)


def listening_seed(seed: ListeningSeed, *, now: datetime | None = None) -> int:
    """Set up listening in the current tenant and ingest its history; returns the mentions stored.
    A tenant that has mentions already is left as it is (the demo is seeded once)."""
    if Mention.objects.exists():
        return 0
    company = seed.company
    social = source_create(name=SOCIAL_SOURCE, kind=SourceKind.API).source
    press = source_create(name=PRESS_SOURCE, kind=SourceKind.API).source
    brand = query_create(name=company.name, expression=_brand_expression(company), kind=QueryKind.BRAND)
    query_create(name="Products", expression=_or_phrases(company.products), kind=QueryKind.PRODUCT)
    query_create(name="Competitors", expression=_or_phrases(company.competitors), kind=QueryKind.COMPETITOR)
    alert_rule_create(name="Brand volume spike", kind=AlertKind.VOLUME_SPIKE, query=brand)
    alert_rule_create(name="Brand turns negative", kind=AlertKind.NEGATIVE_SHARE, query=brand)
    alert_rule_create(
        name="Outage language",
        kind=AlertKind.KEYWORD,
        expression=f"({_brand_expression(company)} OR {_or_phrases(company.products)}) AND "
        "(outage OR down OR 502 OR unavailable)",
    )
    end = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    # Each company its own draws: two demo tenants of the same size must not look alike.
    writer = MentionWriter(company, seed=zlib.crc32(company.handle.encode()))
    history = writer.history(start=end - timedelta(days=seed.days), end=end, per_day=seed.per_day)
    stored = 0
    while chunk := list(islice(history, CHUNK)):
        news = [m for m in chunk if m.raw.get("kind") == "news"]
        social_items = [m for m in chunk if m.raw.get("kind") != "news"]
        stored += mention_ingest(source=social, items=social_items).stored
        stored += mention_ingest(source=press, items=news).stored if news else 0
    return stored
