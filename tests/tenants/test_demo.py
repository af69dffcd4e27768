"""The demo's mentions: a believable rhythm and story, the same every time, seeded through ingest."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from listening.models import AlertRule, Mention, Query, Source
from tenants.demo.companies import LISTENING
from tenants.demo.listening import ListeningSeed, listening_seed
from tenants.demo.mentions import PRESS, Company, MentionWriter
from tenants.demo.replay import (
    STEPS,
    STORY_MINUTES,
    Replay,
    replay_running,
    replay_start,
    replay_step,
    replay_story,
)

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


@pytest.fixture
def demo_a(world, monkeypatch):
    """Tenant A as a demo tenant: a little history and the demo sources."""
    monkeypatch.setitem(LISTENING, world.a.slug, ListeningSeed(ACME, days=1, per_day=5))
    with tenant_context(world.a):
        listening_seed(LISTENING[world.a.slug])
    return world


@pytest.mark.django_db
def test_a_replay_step_compresses_the_story_and_stores_it_once(demo_a):
    start = datetime(2026, 12, 1, 10, tzinfo=UTC)
    run = Replay(started_at=start, speed=30)
    story = replay_story(replay=run, company=ACME)
    with tenant_context(demo_a.a):
        before = Mention.objects.count()
        stored = [replay_step(replay=run, step=step, company=ACME) for step in range(STEPS)]
        assert sum(stored) == len(story) == Mention.objects.count() - before
        assert stored[3] > 2 * stored[0]  # minutes 15-20 are the surge, 0-5 the first reports
        assert [replay_step(replay=run, step=step, company=ACME) for step in range(STEPS)] == [0] * STEPS
        replayed = Mention.objects.filter(external_id__in=[m.external_id for m in story])
        assert start <= min(replayed.values_list("posted_at", flat=True))
        assert max(replayed.values_list("posted_at", flat=True)) <= start + timedelta(
            minutes=STORY_MINUTES / 30
        )


@pytest.mark.django_db
def test_the_replay_starts_once_in_a_demo_tenant_only(demo_a, django_capture_on_commit_callbacks):
    with tenant_context(demo_a.b), pytest.raises(ValidationError, match="no demo data"):
        replay_start(slug=demo_a.b.slug)
    with tenant_context(demo_a.a):
        with pytest.raises(ValidationError, match="speed"):
            replay_start(slug=demo_a.a.slug, speed=1000)
        with django_capture_on_commit_callbacks() as queued:
            replay_start(slug=demo_a.a.slug, speed=300)
        assert len(queued) == 1 and replay_running()
        with pytest.raises(ValidationError, match="running"):
            replay_start(slug=demo_a.a.slug)


@pytest.mark.django_db
def test_admins_of_a_demo_tenant_get_the_replay_button(demo_a, api_for):
    admin, analyst = api_for("a_admin").client, api_for("a_analyst").client
    assert 'data-testid="demo-replay"' in admin.get("/").content.decode()
    assert 'data-testid="demo-replay"' not in analyst.get("/").content.decode()
    assert analyst.post("/demo/outage/").status_code == 403
    refused = admin.post("/demo/outage/", {"speed": "fast"}, follow=True)
    assert "Choose the replay&#x27;s pace from the list." in refused.content.decode()
    too_fast = admin.post("/demo/outage/", {"speed": "1000"}, follow=True)
    assert "Replay between 1x and 300x real time." in too_fast.content.decode()
    response = admin.post("/demo/outage/")
    assert response.status_code == 302 and response["Location"] == "/listening/dashboard/"
    page = admin.get("/").content.decode()
    assert "A replay is running now." in page
    # Where the story is: nothing done yet, the alert first.
    assert 'data-testid="demo-progress"' in page and "○</span> The pipeline raises an alert" in page
    assert (
        'data-testid="demo-replay"'
        not in api_for("b_admin", tenant=demo_a.b).client.get("/").content.decode()
    )


@pytest.mark.django_db
def test_the_replay_through_the_api(demo_a, api_for, django_capture_on_commit_callbacks):
    viewer, admin = api_for("a_viewer"), api_for("a_admin", scope="write")
    assert viewer.get("/api/v1/demo/outage").json() == {
        "running": False,
        "started_at": None,
        "speed": None,
        "ends_at": None,
        "progress": [],
    }
    assert viewer.post("/api/v1/demo/outage", {"speed": 300}).status_code == 403
    refused = admin.post("/api/v1/demo/outage", {"speed": 1000})
    assert refused.status_code == 400 and "speed" in refused.json()["error"]["fields"]
    assert admin.post("/api/v1/demo/outage", {"speed": "fast"}).status_code == 400
    with django_capture_on_commit_callbacks() as queued:
        started = admin.post("/api/v1/demo/outage", {"speed": 120})
    assert started.status_code == 202 and len(queued) == 1
    body = started.json()
    assert body["running"] and body["speed"] == 120
    assert body["progress"][0] == {"milestone": "The pipeline raises an alert", "done": False}
    assert admin.post("/api/v1/demo/outage", {}).status_code == 400  # one replay at a time
    other = api_for("b_admin", tenant=demo_a.b, scope="write", tenants=[demo_a.b])
    assert "no demo data" in other.post("/api/v1/demo/outage", {}).json()["error"]["message"]
    assert other.get("/api/v1/demo/outage").json()["running"] is False  # per workspace
