"""Alert evaluation on constructed mention series in a real tenant schema: every kind firing and
not firing, seasonality, sensitivity, cooldown, idempotent re-evaluation, notifications, quality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from listening.models import (
    Alert,
    AlertEvidence,
    AlertKind,
    AlertStatus,
    Mention,
    Notification,
    Query,
    QueryMatch,
    Source,
    SourceKind,
)
from listening.services import alerts
from listening.services.metrics import metrics_rebuild

_ids = count()


def at_hour(hours_ago: int) -> datetime:
    now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)


def add(
    source: Source,
    when: datetime,
    n: int,
    *,
    text: str = "Acme is fine",
    sentiment: str = "neutral",
    followers: int = 10,
    enriched: bool = True,
) -> list[Mention]:
    rows = [
        Mention(
            source=source,
            external_id=f"m{next(_ids)}",
            text=text,
            posted_at=when + timedelta(seconds=i * 299 // max(n, 1)),
            author_handle=f"user{i}",
            author_followers=followers + i,
            lang="en",
            sentiment=sentiment if enriched else "",
            enriched_at=when if enriched else None,
        )
        for i in range(n)
    ]
    return Mention.objects.bulk_create(rows)


def history(source: Source, *, end: datetime, peak_hour: int, days: int = 14) -> None:
    """`days` of 5-minute bins before `end`: 1 mention per bin, 8 per bin in the peak hour."""
    rows = []
    moment = end - timedelta(days=days)
    while moment < end:
        n = 8 if moment.hour == peak_hour else 1
        rows.extend(
            Mention(
                source=source,
                external_id=f"h{next(_ids)}",
                text="Acme",
                posted_at=moment + timedelta(seconds=i),
                lang="en",
                sentiment="neutral",
                enriched_at=moment,
            )
            for i in range(n)
        )
        moment += timedelta(minutes=5)
    Mention.objects.bulk_create(rows, batch_size=5000)
    counted()


def counted() -> None:
    """Baselines read the metric buckets: count what the test wrote directly into the table."""
    now = datetime.now(UTC)
    metrics_rebuild(start=now - timedelta(days=30), end=now + timedelta(days=1))


@pytest.fixture
def source(world):
    with tenant_context(world.a):
        yield Source.objects.create(name="Feed", kind=SourceKind.API)


def rule(**fields):
    fields.setdefault("name", f"rule {next(_ids)}")
    return alerts.alert_rule_create(**fields).rule


def test_a_normal_daily_peak_does_not_fire_but_the_same_volume_at_night_does(source):
    evaluation = at_hour(2)
    peak = rule(kind=AlertKind.VOLUME_SPIKE, sensitivity=10)
    history(source, end=evaluation, peak_hour=evaluation.hour)
    add(source, evaluation, 24)  # 8 per 5 minutes: as every day at this hour
    now = evaluation + timedelta(minutes=15)
    assert alerts.alert_rule_evaluate(rule_id=peak.pk, now=now) is None

    Mention.objects.all().delete()
    night = rule(kind=AlertKind.VOLUME_SPIKE, sensitivity=5)
    history(source, end=evaluation, peak_hour=(evaluation.hour + 12) % 24)
    add(source, evaluation, 24)
    alert = alerts.alert_rule_evaluate(rule_id=night.pk, now=now)
    assert alert is not None
    assert alert.observed == 24 and 2 < alert.expected < 5
    assert "24 mentions in 15 min" in alert.why and "this hour of the week" in alert.why
    # Evidence: the window's mentions with the widest reach first.
    reaches = list(
        AlertEvidence.objects.filter(alert=alert).order_by("-reach").values_list("reach", flat=True)
    )
    assert len(reaches) == alerts.EVIDENCE_TOP and reaches[0] == 10 + 23


def test_sensitivity_decides_a_moderate_spike(source):
    evaluation = at_hour(2)
    history(source, end=evaluation, peak_hour=(evaluation.hour + 12) % 24, days=7)
    add(source, evaluation, 9)  # 3 expected
    now = evaluation + timedelta(minutes=15)
    calm, keen = (
        rule(kind=AlertKind.VOLUME_SPIKE, sensitivity=1),
        rule(kind=AlertKind.VOLUME_SPIKE, sensitivity=10),
    )
    assert alerts.alert_rule_evaluate(rule_id=calm.pk, now=now) is None
    assert alerts.alert_rule_evaluate(rule_id=keen.pk, now=now) is not None


def test_a_new_tenant_without_history_fires_only_on_a_real_burst(source):
    spike = rule(kind=AlertKind.VOLUME_SPIKE)
    now = datetime.now(UTC)
    add(source, now - timedelta(minutes=10), 3)
    assert alerts.alert_rule_evaluate(rule_id=spike.pk, now=now) is None
    spike.refresh_from_db()
    assert spike.baseline["profile"]["basis"][0] == "cold"
    add(source, now - timedelta(minutes=5), 40)
    alert = alerts.alert_rule_evaluate(rule_id=spike.pk, now=now)
    assert alert is not None and "no history yet" in alert.why


def test_re_evaluating_the_same_window_fires_once_and_cooldown_holds(source):
    spike = rule(kind=AlertKind.VOLUME_SPIKE, cooldown_minutes=30)
    now = datetime.now(UTC)
    add(source, now - timedelta(minutes=5), 40)
    first = alerts.alert_rule_evaluate(rule_id=spike.pk, now=now)
    assert first is not None
    for _ in range(3):  # a task retried around the threshold (RELIABILITY 27)
        assert alerts.alert_rule_evaluate(rule_id=spike.pk, now=now) is None
    add(source, now + timedelta(minutes=10), 40)
    assert (
        alerts.alert_rule_evaluate(rule_id=spike.pk, now=now + timedelta(minutes=15)) is None
    )  # cooling down
    later = now + timedelta(minutes=31)
    add(source, later - timedelta(minutes=5), 80)
    assert alerts.alert_rule_evaluate(rule_id=spike.pk, now=later) is not None
    assert Alert.objects.filter(rule=spike).count() == 2


def test_the_window_key_is_unique_per_rule(source):
    spike = rule(kind=AlertKind.VOLUME_SPIKE, cooldown_minutes=5)
    now = datetime.now(UTC)
    add(source, now - timedelta(minutes=5), 40)
    first = alerts.alert_rule_evaluate(rule_id=spike.pk, now=now)
    Alert.objects.filter(pk=first.pk).update(fired_at=now - timedelta(hours=1))  # cooldown over
    assert alerts.alert_rule_evaluate(rule_id=spike.pk, now=now) is None  # same window: not again
    assert Alert.objects.filter(rule=spike).count() == 1


def test_negative_share_jump_fires_and_a_usual_share_does_not(source):
    now = datetime.now(UTC)
    jump = rule(kind=AlertKind.NEGATIVE_SHARE)
    add(source, now - timedelta(days=3), 170, sentiment="neutral")
    add(source, now - timedelta(days=2), 30, sentiment="negative")  # 15% negative usually
    add(source, now - timedelta(minutes=30), 10, sentiment="negative")
    add(source, now - timedelta(minutes=20), 40, sentiment="neutral")  # 20% now: usual
    counted()
    assert alerts.alert_rule_evaluate(rule_id=jump.pk, now=now) is None
    add(source, now - timedelta(minutes=10), 25, sentiment="negative", followers=5000)  # 35 of 75
    jump.baseline_at = None
    alert = alerts.alert_rule_evaluate(rule_id=jump.pk, now=now)
    assert alert is not None
    assert "35 of 75 mentions negative" in alert.why
    assert alert.expected == pytest.approx((30 + 0.2 * 20) / (200 + 20))
    evidence = Mention.objects.filter(pk__in=AlertEvidence.objects.filter(alert=alert).values("mention_id"))
    assert {m.sentiment for m in evidence} == {"negative"} and min(
        m.author_followers for m in evidence
    ) >= 5000


def test_negative_share_needs_a_minimum_volume(source):
    now = datetime.now(UTC)
    jump = rule(kind=AlertKind.NEGATIVE_SHARE, sensitivity=10)
    add(source, now - timedelta(minutes=10), 12, sentiment="negative")
    assert alerts.alert_rule_evaluate(rule_id=jump.pk, now=now) is None


def test_keyword_rule_fires_on_matching_mentions_once(source):
    trigger = rule(
        kind=AlertKind.KEYWORD, expression='acme AND (outage OR "data breach")', cooldown_minutes=60
    )
    quiet = add(source, datetime.now(UTC), 3, text="Acme's new logo looks nice")
    assert alerts.keyword_rules_evaluate(mention_ids=[m.pk for m in quiet]) == []
    hits = add(source, datetime.now(UTC), 2, text="Acme outage: nothing works", followers=900)
    fired = alerts.keyword_rules_evaluate(mention_ids=[m.pk for m in hits + quiet])
    assert len(fired) == 1 and fired[0].mention_count == 2 and fired[0].expected is None
    assert "2 new mentions matching 'acme AND (outage OR \"data breach\")'" in fired[0].why
    # The same mentions again (a redelivered task), and the minute's safety-net scan: nothing new.
    assert alerts.keyword_rules_evaluate(mention_ids=[m.pk for m in hits]) == []
    assert alerts.alert_rules_evaluate() == []
    # A new match within the cooldown joins the alert instead of firing again.
    more = add(source, datetime.now(UTC), 1, text="ACME data breach reported")
    assert alerts.keyword_rules_evaluate(mention_ids=[m.pk for m in more]) == []
    assert Alert.objects.get(rule=trigger).mention_count == 3
    # After the cooldown, a new match fires again.
    late = add(source, datetime.now(UTC), 1, text="acme outage again")
    assert (
        len(
            alerts.keyword_rules_evaluate(
                mention_ids=[late[0].pk], now=datetime.now(UTC) + timedelta(hours=2)
            )
        )
        == 1
    )


def test_keyword_rule_on_a_saved_query_and_the_safety_net_scan(source):
    query = Query.objects.create(name="Outages", expression="outage")
    trigger = rule(kind=AlertKind.KEYWORD, query=query)
    tagged, untagged = add(source, datetime.now(UTC), 1, text="outage"), add(source, datetime.now(UTC), 1)
    QueryMatch.objects.create(query=query, mention=tagged[0], posted_at=tagged[0].posted_at)
    fired = alerts.alert_rules_evaluate()  # the hook's message was lost: the minute's run finds it
    assert len(fired) == 1 and fired[0].rule == trigger
    assert list(AlertEvidence.objects.values_list("mention_id", flat=True)) == [tagged[0].pk]
    assert untagged[0].pk not in AlertEvidence.objects.values_list("mention_id", flat=True)


def test_scope_limits_what_a_rule_counts(source):
    other = Source.objects.create(name="Other", kind=SourceKind.API)
    scoped = rule(kind=AlertKind.VOLUME_SPIKE, source=other)
    now = datetime.now(UTC)
    add(source, now - timedelta(minutes=5), 40)
    assert alerts.alert_rule_evaluate(rule_id=scoped.pk, now=now) is None
    add(other, now - timedelta(minutes=5), 40)
    assert alerts.alert_rule_evaluate(rule_id=scoped.pk, now=now) is not None


def test_members_and_agency_staff_are_notified(world, source):
    spike = rule(kind=AlertKind.KEYWORD, expression="outage")
    hits = add(source, datetime.now(UTC), 1, text="outage")
    alert = alerts.keyword_rules_evaluate(mention_ids=[hits[0].pk])[0]
    notified = set(Notification.objects.filter(alert=alert).values_list("user_id", flat=True))
    a_side = {u.pk for key, u in world.users.items() if key.startswith(("a_", "ag_"))}
    assert notified == a_side
    assert not notified & {world.users["b_owner"].pk, world.users["b_admin"].pk}
    assert alerts.notification_read(user_id=world.users["a_owner"].pk) == 1
    assert spike.pk == alert.rule_id


def test_status_changes_and_their_order(world, source):
    rule(kind=AlertKind.KEYWORD, expression="outage")
    make = lambda: alerts.keyword_rules_evaluate(  # noqa: E731
        mention_ids=[add(source, datetime.now(UTC), 1, text="outage")[0].pk],
        now=datetime.now(UTC) + timedelta(days=next(_ids)),
    )[0]
    user = world.users["a_analyst"].pk
    escalated = alerts.alert_escalate(alert=make(), user_id=user, note="Incident opened")
    assert escalated.status == AlertStatus.ESCALATED and escalated.acknowledged_at == escalated.escalated_at
    with pytest.raises(ValidationError):
        alerts.alert_dismiss(alert=escalated, user_id=user)
    dismissed = alerts.alert_dismiss(alert=alerts.alert_acknowledge(alert=make(), user_id=user), user_id=user)
    assert dismissed.status == AlertStatus.DISMISSED and dismissed.acknowledged_by_id == user


def test_quality_arithmetic(world, source):
    noisy, useful, silent = (
        rule(kind=AlertKind.KEYWORD, expression="outage", name=n) for n in ("Noisy", "Useful", "Silent")
    )
    now = datetime.now(UTC)
    user = world.users["a_analyst"].pk

    def fire(r, days_ago):
        return Alert.objects.create(
            rule=r,
            kind=r.kind,
            window_key=f"k{next(_ids)}",
            window_start=now,
            window_end=now,
            fired_at=now - timedelta(days=days_ago),
            observed=1,
            why="x",
        )

    made = [fire(noisy, d) for d in (1, 2, 3, 4, 5, 6, 7, 8)]
    for alert in made[:6]:
        alerts.alert_dismiss(alert=alert, user_id=user)
    alerts.alert_acknowledge(alert=made[6], user_id=user)
    fire(noisy, 40)  # outside the 28 days
    alerts.alert_escalate(alert=fire(useful, 3), user_id=user)
    fire(useful, 10)
    rows = {q.name: q for q in alerts.alert_quality(since=now - timedelta(days=28), until=now)}
    assert rows["Noisy"].alerts == 8 and rows["Noisy"].per_week == 2.0
    assert rows["Noisy"].dismissed_share == 0.75 and rows["Noisy"].acknowledged_share == 0.125
    assert rows["Useful"].escalated_share == 0.5 and rows["Useful"].acknowledged_share == 0.5
    assert rows["Silent"].alerts == 0 and rows["Silent"].per_week == 0.0
    assert rows["All rules"].alerts == 10 and rows["All rules"].escalated_share == 0.1
    assert silent.name == "Silent"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": AlertKind.VOLUME_SPIKE, "sensitivity": 11}, "sensitivity"),
        ({"kind": AlertKind.VOLUME_SPIKE, "cooldown_minutes": 1}, "cooldown_minutes"),
        ({"kind": AlertKind.KEYWORD}, "expression"),
        ({"kind": AlertKind.KEYWORD, "expression": "acme AND ("}, "expression"),
        ({"kind": AlertKind.VOLUME_SPIKE, "expression": "acme"}, "expression"),
        ({"kind": AlertKind.VOLUME_SPIKE, "email_to": ["not-an-address"]}, "email_to"),
        ({"kind": AlertKind.VOLUME_SPIKE, "webhook_url": "http://169.254.169.254/latest"}, "webhook_url"),
        ({"kind": AlertKind.VOLUME_SPIKE, "slack_url": "http://127.0.0.1:8080/hook"}, "slack_url"),
    ],
)
def test_rule_validation(world, fields, field):
    with tenant_context(world.a), pytest.raises(ValidationError) as error:
        rule(**fields)
    assert field in error.value.message_dict


def _topic_run(source, *, label: str, volume: int, previous: int, growth: float, age: timedelta):
    from listening.models import Topic, TopicMention, TopicRun, TopicSnapshot

    now = datetime.now(UTC)
    run = TopicRun.objects.create(
        window_start=now - timedelta(hours=6), window_end=now, finished_at=now, clusters=1
    )
    topic = Topic.objects.create(
        label=label,
        terms=label.split(" · "),
        centroid=[1.0] + [0.0] * 383,
        first_seen_at=now - age,
        last_seen_at=now,
        volume=volume,
        previous_volume=previous,
        growth=growth,
    )
    TopicSnapshot.objects.create(
        topic=topic,
        run=run,
        taken_at=now,
        volume=volume,
        previous_volume=previous,
        positive=0,
        neutral=volume,
        negative=0,
        reach=0,
        growth=growth,
        negative_share=0.0,
        is_new=age < timedelta(hours=1),
    )
    members = add(source, now - timedelta(hours=1), 3, text=label, followers=500)
    TopicMention.objects.bulk_create(
        TopicMention(topic=topic, mention=m, posted_at=m.posted_at, similarity=0.9) for m in members
    )
    return run, topic


def test_a_new_fast_growing_topic_fires_once_per_run(source):
    watcher = rule(kind=AlertKind.NEW_TOPIC, cooldown_minutes=5)
    now = datetime.now(UTC)
    assert alerts.alert_rule_evaluate(rule_id=watcher.pk, now=now) is None  # no run yet
    _topic_run(source, label="outage · login", volume=40, previous=2, growth=7.0, age=timedelta(hours=2))
    alert = alerts.alert_rule_evaluate(rule_id=watcher.pk, now=now)
    assert alert is not None and alert.why.startswith("New topic 'outage · login': 40 mentions")
    assert AlertEvidence.objects.filter(alert=alert).count() == 3
    # The same run again, after the cooldown: not twice.
    assert alerts.alert_rule_evaluate(rule_id=watcher.pk, now=now + timedelta(minutes=10)) is None


def test_old_or_slow_topics_do_not_fire(source):
    watcher = rule(kind=AlertKind.NEW_TOPIC)
    now = datetime.now(UTC)
    _topic_run(source, label="pricing · plans", volume=40, previous=2, growth=7.0, age=timedelta(days=3))
    assert alerts.alert_rule_evaluate(rule_id=watcher.pk, now=now) is None  # growing, but not new
    _topic_run(source, label="keynote · launch", volume=40, previous=35, growth=0.14, age=timedelta(hours=1))
    assert alerts.alert_rule_evaluate(rule_id=watcher.pk, now=now) is None  # new, but not growing


def test_a_topic_rule_takes_no_scope(source):
    with pytest.raises(ValidationError) as error:
        rule(kind=AlertKind.NEW_TOPIC, source=source)
    assert "query" in error.value.message_dict
