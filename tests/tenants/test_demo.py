"""The demo's mentions: a believable rhythm and story, the same every time, seeded through ingest."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django_tenants.utils import tenant_context

from listening.models import AlertRule, Mention, Query, Source
from tenants.demo.listening import ListeningSeed, listening_seed
from tenants.demo.mentions import PRESS, Company, MentionWriter

ACME = Company(
    name="Acme Cloud",
    handle="acmecloud",
    products=("Acme Compute", "Acme Storage"),
    competitors=("Nimbus Hosting",),
    status_url="https://status.acme.example",
)
MONDAY = datetime(2026, 9, 7, tzinfo=UTC)


def _history(days: int, per_day: float, seed: int = 7) -> list:
    writer = MentionWriter(ACME, seed=seed)
    return list(writer.history(start=MONDAY, end=MONDAY + timedelta(days=days), per_day=per_day))


def test_history_has_a_daily_and_weekly_rhythm_around_the_asked_volume():
    mentions = _history(days=56, per_day=60)
    assert 0.85 * 56 * 60 < len(mentions) < 1.15 * 56 * 60
    assert all(MONDAY <= m.posted_at < MONDAY + timedelta(days=56) for m in mentions)
    by_day = Counter(m.posted_at.weekday() for m in mentions)
    assert min(by_day[d] for d in range(5)) > 1.5 * max(by_day[5], by_day[6])
    by_hour = Counter(m.posted_at.hour for m in mentions)
    assert by_hour[15] > 5 * by_hour[3]
    langs = Counter(m.lang_hint for m in mentions)
    assert {"de", "fr", "es"} <= set(langs) and langs[""] > 0.8 * len(mentions)
    news = [m for m in mentions if m.raw["kind"] == "news"]
    assert news and {m.author_handle for m in news} <= {handle for handle, _, _ in PRESS}


def test_the_same_seed_writes_the_same_demo_and_ids_are_unique():
    first, again, other = _history(7, 40), _history(7, 40), _history(7, 40, seed=8)
    assert [(m.external_id, m.text) for m in first] == [(m.external_id, m.text) for m in again]
    assert [m.text for m in first] != [m.text for m in other]
    assert len({m.external_id for m in first}) == len(first)


def test_the_outage_rises_peaks_and_recovers():
    start = MONDAY + timedelta(hours=10)
    mentions = MentionWriter(ACME).outage(start=start)
    assert [m.posted_at for m in mentions] == sorted(m.posted_at for m in mentions)
    per_minute = Counter(int((m.posted_at - start).total_seconds() // 60) for m in mentions)

    def rate(first: int, last: int) -> float:
        return sum(per_minute[minute] for minute in range(first, last)) / (last - first)

    assert rate(12, 45) > 2.5 * rate(0, 12) and rate(12, 45) > 2.5 * rate(80, 120)
    assert sum("down" in m.text for m in mentions) > 0.3 * len(mentions)
    assert any(
        "back" in m.text or "recovered" in m.text
        for m in mentions
        if m.posted_at > start + timedelta(minutes=80)
    )


@pytest.mark.django_db
def test_seeding_sets_up_listening_and_ingests_the_history_once(world):
    seed = ListeningSeed(ACME, days=3, per_day=40)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    with tenant_context(world.a):
        stored = listening_seed(seed, now=now)
        assert stored == Mention.objects.count() > 60
        assert Mention.objects.filter(source__name="Tech press (demo feed)").count() == (
            Mention.objects.filter(raw__kind="news").count()
        )
        assert set(Query.objects.values_list("name", flat=True)) == {"Acme Cloud", "Products", "Competitors"}
        assert AlertRule.objects.count() == 3 and Source.objects.count() == 2
        assert listening_seed(seed, now=now + timedelta(days=1)) == 0
        assert Mention.objects.count() == stored
