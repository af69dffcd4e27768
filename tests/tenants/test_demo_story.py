"""The demo's audience and the outage story, in-process: the audience is seeded through the import,
ledger and engagement services (once), and the story's steps are called directly, as the replay's
worker task calls them, with a tenant of the `world` (no waiting on a clock)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from crisis import mode_selectors
from crisis.models import (
    Incident,
    IncidentSource,
    IncidentStatus,
    StatementPublication,
    StatementStatus,
    TimelineEntry,
    TimelineKind,
)
from ethics.models import ModelStatus
from ethics.selectors import consented_contacts
from listening.models import Mention
from listening.services.alerts import keyword_rules_evaluate
from personalization import records, services
from personalization.models import EngagementEvent, Segment
from personalization.post_models import PostStatus, ScheduledPost
from tenants.demo.audience import NEWSLETTER, STATUS_EMAIL, AudienceSeed, audience_seed
from tenants.demo.companies import LISTENING
from tenants.demo.listening import ListeningSeed, listening_seed
from tenants.demo.replay import STEPS, Replay, replay_act, replay_step
from tenants.demo.story import ALERT_DEADLINE, GOOD_IMPACT, REPORT_NOTE, cast_for, story_progress
from tests.tenants.test_demo import ACME

SMALL = AudienceSeed(contacts=96)


@pytest.fixture
def demo(world, monkeypatch, django_capture_on_commit_callbacks):
    """Tenant A as a demo tenant: a day of mentions, the demo sources, rules and a small audience."""
    monkeypatch.setitem(LISTENING, world.a.slug, ListeningSeed(ACME, days=1, per_day=5))
    with tenant_context(world.a):
        listening_seed(LISTENING[world.a.slug])
        with django_capture_on_commit_callbacks():
            audience_seed(company=ACME, tenant=world.a, seed=SMALL)
        yield world


@pytest.mark.django_db
def test_the_audience_is_imported_with_consents_history_channels_and_posts_once(
    world, django_capture_on_commit_callbacks
):
    with tenant_context(world.a):
        with django_capture_on_commit_callbacks() as queued:
            assert audience_seed(company=ACME, tenant=world.a) == 288
        everyone = records.contact_list().count()
        kinds = Counter(records.contact_list().values_list("kind", flat=True))
        stakeholders = {"customer", "prospect", "press", "investor", "partner", "employee"}
        assert everyone == 288 and stakeholders <= set(kinds)
        # Some withdrew since: the gate holds them back, the records keep them.
        consented = consented_contacts(purpose="personalization").count()
        assert 0 < everyone - consented < 0.15 * everyone
        assert consented_contacts(purpose="service_updates").exists()
        events = EngagementEvent.objects.all()
        by_channel = Counter(events.values_list("channel__name", "kind"))
        assert by_channel[(NEWSLETTER, "delivered")] > 2000 and by_channel[(NEWSLETTER, "opened")] > 200
        assert by_channel[("Mastodon followers", "liked")] > 100
        # The morning readers open what reaches them in their morning far more often than at night.
        readers = events.filter(channel__name=NEWSLETTER, contact__attributes__profile="email_mornings")
        opened = set(readers.filter(kind="opened").values_list("contact_id", "message_id"))
        rate: dict[bool, list[bool]] = {True: [], False: []}
        for contact, message, at, zone in readers.filter(kind="delivered").values_list(
            "contact_id", "message_id", "occurred_at", "contact__time_zone"
        ):
            hour = at.astimezone(ZoneInfo(zone)).hour
            if hour < 12 or hour >= 18:
                rate[hour < 12].append((contact, message) in opened)
        assert sum(rate[True]) / len(rate[True]) > 2 * sum(rate[False]) / len(rate[False])
        posts = Counter(ScheduledPost.objects.values_list("status", flat=True))
        assert posts == {PostStatus.SCHEDULED: 4, PostStatus.APPROVED: 1, PostStatus.DRAFT: 1}
        assert len(queued) >= 1  # the trainings (and the withdrawals' follow-ups), after commit
        before = EngagementEvent.objects.count()
        assert audience_seed(company=ACME, tenant=world.a) == 0
        assert EngagementEvent.objects.count() == before and ScheduledPost.objects.count() == 6
        # What the queued trainings do, in-process: both models pass their bias audits (every
        # profile has the same mix of languages and regions) and the segments are written.
        segments, engagement = services.segments_retrain(), services.engagement_retrain()
        assert segments is not None and segments.status == ModelStatus.ACTIVE, segments.audit_report
        assert segments.training_rows_excluded > 0  # the withdrawn, held back by the gate
        assert engagement is not None and engagement.status == ModelStatus.ACTIVE, engagement.audit_report
        assert Segment.objects.filter(is_active=True).count() >= 2


def _steps(run: Replay, steps: range, cast) -> list[str | None]:
    return [replay_act(replay=run, step=step, company=ACME, cast=cast) for step in steps]


@pytest.mark.django_db
@pytest.mark.embedder
def test_without_an_alert_the_story_waits_then_declares_by_hand_and_says_so(demo):
    run = Replay(started_at=timezone.now() - timedelta(seconds=1), speed=30)
    cast = cast_for(demo.a)
    waiting = ALERT_DEADLINE // 5 - 1  # the steps before the deadline's
    assert _steps(run, range(waiting), cast) == [None] * waiting
    assert not Incident.objects.exists()
    # Late, the team catches up a step at a time on what was due by then.
    assert _steps(run, range(waiting, waiting + 3), cast) == ["declare", "draft", "revise"]
    incident = Incident.objects.get()
    assert incident.source == IncidentSource.MANUAL and incident.playbook.scenario == "service_outage"
    note = TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.NOTE).order_by("id").first()
    assert note.text.startswith(f"No alert had fired by story minute {ALERT_DEADLINE}")
    assert mode_selectors.crisis_mode_state().on
    assert not ScheduledPost.objects.filter(status=PostStatus.SCHEDULED).exists()


@pytest.mark.django_db
@pytest.mark.embedder
def test_the_story_runs_from_the_alert_to_the_report_and_a_step_run_twice_does_nothing(demo):
    run = Replay(started_at=timezone.now() - timedelta(seconds=1), speed=30)
    cast = cast_for(demo.a)
    replay_step(replay=run, step=0, company=ACME)
    # The pipeline's part, in-process: enrichment stamps the mentions, the keyword rule fires.
    Mention.objects.filter(enriched_at__isnull=True).update(enriched_at=timezone.now())
    (alert,) = keyword_rules_evaluate(mention_ids=list(Mention.objects.values_list("pk", flat=True)))
    before = dict(
        ScheduledPost.objects.filter(status__in=(PostStatus.SCHEDULED, PostStatus.APPROVED)).values_list(
            "pk", "status"
        )
    )

    assert _steps(run, range(2), cast) == [None, "declare"]  # minute 10
    incident = Incident.objects.get()
    assert incident.alert == alert and incident.source == IncidentSource.ALERT
    assert incident.playbook.key == "service-outage" and incident.status == IncidentStatus.DECLARED
    assert set(ScheduledPost.objects.filter(status=PostStatus.PAUSED).values_list("pk", flat=True)) == set(
        before
    )

    assert _steps(run, range(2, 4), cast) == [None, "draft"]  # minute 20
    statement = incident.statements.get()
    rules = {flag["rule"] for flag in statement.tone_report["flags"]}
    assert {"minor", "third-party", "not-our-fault"} <= rules

    done = [key for key in _steps(run, range(4, STEPS), cast) if key]
    assert done == ["revise", "submit", "approve", "publish", "resolve", "resume", "report"]
    statement.refresh_from_db()
    assert GOOD_IMPACT in statement.body and statement.tone_report["flags"] == []
    assert statement.status == StatementStatus.PUBLISHED
    assert statement.approvals.get().approver_id == cast.approver.user.pk
    assert statement.claims.exists() and not statement.claims.exclude(status="confirmed").exists()
    (publication,) = StatementPublication.objects.filter(statement=statement)
    assert publication.channel.name == STATUS_EMAIL
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED and not mode_selectors.crisis_mode_state().on
    assert dict(ScheduledPost.objects.filter(pk__in=before).values_list("pk", "status")) == before
    report = TimelineEntry.objects.get(
        incident=incident, kind=TimelineKind.NOTE, text__startswith=REPORT_NOTE
    )
    assert f"/crisis/incidents/{incident.pk}/report/" in report.text

    entries = TimelineEntry.objects.count()
    assert _steps(run, range(STEPS), cast) == [None] * STEPS  # a redelivered step acts no more
    assert TimelineEntry.objects.count() == entries
    from tenants.demo.replay import replay_scene

    progress = story_progress(scene=replay_scene(replay=run, step=STEPS - 1, company=ACME))
    assert all(item.done for item in progress) and progress[0].label.endswith(alert.rule.name)
