"""Alert rules, their evaluation, and what people do with the alerts.

Evaluation runs every minute per tenant (beat fan-out) and right after enrichment for keyword
rules. Each rule is evaluated in its own transaction holding the rule's row lock, so two
evaluations of one rule (a retry racing the next minute's run) take turns: the second sees the
first's alert and its cooldown. The alert's `(rule, window_key)` is unique as well, so a retried
evaluation of the same window fires once (RELIABILITY 27).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from listening import querylang
from listening.alerting import detectors
from listening.connectors import safe_http
from listening.models import (
    Alert,
    AlertEvidence,
    AlertKind,
    AlertRule,
    AlertStatus,
    Mention,
    Notification,
    Query,
    Sentiment,
    Source,
    TopicRun,
    TopicSnapshot,
)
from listening.selectors_metrics import metric_series
from listening.services import alert_delivery
from listening.services.queries import compile_expression, document_for

logger = logging.getLogger(__name__)

COOLDOWN_MIN, COOLDOWN_MAX = 5, 7 * 24 * 60  # minutes
MAX_EMAILS = 20
HISTORY = timedelta(days=28)
BASELINE_TTL = timedelta(hours=1)
VOLUME_WINDOW = timedelta(minutes=15)
SHARE_WINDOW = timedelta(minutes=60)
# Keyword rules fire from the enrichment hook; the minute's evaluation looks this far back for
# matches the hook missed (its message lost), so a match is alerted on within a few minutes anyway.
KEYWORD_LOOKBACK = timedelta(minutes=30)
KEYWORD_SCAN_LIMIT = 5_000
EVIDENCE_TOP = 10
# A topic is "new" for alerting while it is younger than this (found by a run within the last day).
TOPIC_NEW_WITHIN = timedelta(hours=24)
# With little history, the negative share is shrunk towards this prior with this many pseudo-
# mentions: a new tenant gets a sensible baseline instead of 0% (which any complaint would beat).
NEGATIVE_PRIOR, PRIOR_WEIGHT = 0.2, 20
_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: 5-minute bins start on it


# Rules ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleCreated:
    rule: AlertRule
    webhook_secret: str  # shown once


def _validate(rule: AlertRule) -> None:
    errors: dict[str, str] = {}
    if not detectors.SENSITIVITY_MIN <= rule.sensitivity <= detectors.SENSITIVITY_MAX:
        errors["sensitivity"] = f"must be between {detectors.SENSITIVITY_MIN} and {detectors.SENSITIVITY_MAX}"
    if not COOLDOWN_MIN <= rule.cooldown_minutes <= COOLDOWN_MAX:
        errors["cooldown_minutes"] = f"must be between {COOLDOWN_MIN} and {COOLDOWN_MAX} minutes (7 days)"
    if rule.kind == AlertKind.KEYWORD:
        if not rule.expression.strip() and rule.query_id is None:
            errors["expression"] = "a keyword rule needs an expression or a saved query"
    elif rule.expression.strip():
        errors["expression"] = "only keyword rules take an expression; scope others with a query"
    if rule.kind == AlertKind.CRISIS_RISK:
        if rule._state.adding:
            errors["kind"] = "the crisis-risk rule is the risk score's own: it exists once per workspace"
        if rule.query_id is not None or rule.source_id is not None or rule.expression.strip():
            errors["query"] = (
                "the crisis-risk rule watches the whole workspace: no query, source or expression"
            )
    if rule.kind == AlertKind.NEW_TOPIC and (rule.query_id is not None or rule.source_id is not None):
        errors["query"] = "topics are found across all mentions: a topic rule takes no query or source"
    if rule.kind == AlertKind.KEYWORD and rule.expression.strip():
        try:
            compile_expression(rule.expression)
        except ValidationError as error:
            errors["expression"] = error.message_dict["expression"][0]
    if len(rule.email_to) > MAX_EMAILS:
        errors["email_to"] = f"at most {MAX_EMAILS} addresses"
    else:
        for address in rule.email_to:
            try:
                EmailValidator()(address)
            except ValidationError:
                errors["email_to"] = f"'{address}' is not an email address"
                break
    for field in ("webhook_url", "slack_url"):
        url = getattr(rule, field)
        if url:
            try:
                safe_http.check_url(url)
            except safe_http.FetchError as error:
                errors[field] = str(error)
    if AlertRule.objects.filter(name=rule.name).exclude(pk=rule.pk).exists():
        errors["name"] = f"A rule named '{rule.name}' exists already."
    if errors:
        raise ValidationError(errors)


RULE_FIELDS = (
    "name",
    "kind",
    "is_active",
    "query",
    "source",
    "expression",
    "sensitivity",
    "cooldown_minutes",
    "notify_portal",
    "email_to",
    "webhook_url",
    "slack_url",
)


def alert_rule_create(
    *,
    name: str,
    kind: str,
    query: Query | None = None,
    source: Source | None = None,
    expression: str = "",
    sensitivity: int = detectors.SENSITIVITY_DEFAULT,
    cooldown_minutes: int = 60,
    notify_portal: bool = True,
    email_to: Sequence[str] = (),
    webhook_url: str = "",
    slack_url: str = "",
    is_active: bool = True,
) -> RuleCreated:
    secret = secrets.token_urlsafe(32)
    rule = AlertRule(
        name=name,
        kind=kind,
        query=query,
        source=source,
        expression=expression,
        sensitivity=sensitivity,
        cooldown_minutes=cooldown_minutes,
        notify_portal=notify_portal,
        email_to=list(email_to),
        webhook_url=webhook_url,
        webhook_secret=secret,
        slack_url=slack_url,
        is_active=is_active,
    )
    _validate(rule)
    rule.save()
    return RuleCreated(rule, secret)


def alert_rule_update(*, rule: AlertRule, **changes: Any) -> AlertRule:
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
        rescope = any(
            field in changes and changes[field] != getattr(rule, field)
            for field in ("query", "source", "kind")
        )
        if (
            "kind" in changes
            and AlertKind.CRISIS_RISK in (rule.kind, changes["kind"])
            and changes["kind"] != rule.kind
        ):
            raise ValidationError({"kind": "the crisis-risk rule keeps its kind, and no other rule takes it"})
        for field in RULE_FIELDS:
            if field in changes:
                setattr(rule, field, list(changes[field]) if field == "email_to" else changes[field])
        _validate(rule)
        if rescope:  # the learned baseline was of other mentions
            rule.baseline, rule.baseline_at = {}, None
        rule.updated_at = timezone.now()
        rule.save()
    return rule


def alert_rule_rotate_secret(*, rule: AlertRule) -> str:
    secret = secrets.token_urlsafe(32)
    rule.webhook_secret = secret
    rule.updated_at = timezone.now()
    rule.save(update_fields=["webhook_secret", "updated_at"])
    return secret


def alert_rule_delete(*, rule: AlertRule) -> None:
    rule.delete()


# Evaluation ----------------------------------------------------------------------------------------


def _scoped(rule: AlertRule) -> QuerySet[Mention]:
    mentions = Mention.objects.all()
    if rule.source_id is not None:
        mentions = mentions.filter(source_id=rule.source_id)
    if rule.query_id is not None:
        mentions = mentions.filter(query_matches__query_id=rule.query_id)
    return mentions


def _floor(moment: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((moment - _EPOCH) // step) * step


def alert_rule_baseline(*, rule: AlertRule, now: datetime) -> dict[str, Any]:
    """The rule's learned baseline, refreshed when older than BASELINE_TTL: the seasonal volume
    profile and the negative share, from up to HISTORY of the rule's own mentions, read from the
    5-minute metric buckets (listening.selectors_metrics), so a refresh costs the same whatever
    the tenant's volume. History starts at the first non-empty bucket: the weeks before a tenant
    sent anything are not quiet weeks."""
    if rule.baseline and rule.baseline_at and now - rule.baseline_at < BASELINE_TTL:
        return rule.baseline
    end = _floor(now, detectors.BIN)
    points = metric_series(
        start=end - HISTORY, end=end, step=detectors.BIN, query_id=rule.query_id, source_id=rule.source_id
    )
    counts = [point.volume for point in points]
    first = next((i for i, n in enumerate(counts) if n), None)
    profile = detectors.cold_profile()
    if first is not None:
        profile = detectors.profile_fit(start=points[first].start, counts=counts[first:])
    before = [point for point in points if point.start < now - SHARE_WINDOW]
    total, negative = sum(p.volume for p in before), sum(p.negative for p in before)
    share = (negative + NEGATIVE_PRIOR * PRIOR_WEIGHT) / (total + PRIOR_WEIGHT)
    rule.baseline = {"profile": profile.to_json(), "negative_share": share, "share_history": total}
    rule.baseline_at = now
    AlertRule.objects.filter(pk=rule.pk).update(baseline=rule.baseline, baseline_at=now)
    return rule.baseline


def _in_cooldown(rule: AlertRule, now: datetime) -> Alert | None:
    """The rule's latest alert when it fired within the cooldown."""
    last = rule.alerts.order_by("-fired_at", "-id").first()
    if last is not None and now - last.fired_at < timedelta(minutes=rule.cooldown_minutes):
        return last
    return None


def alert_rules_evaluate(*, now: datetime | None = None) -> list[Alert]:
    """Evaluate every active rule (the minute's run). One rule's failure is logged and does not
    stop the others."""
    now = now or timezone.now()
    fired: list[Alert] = []
    # The crisis-risk rule is evaluated by the risk score's own 5-minute run (crisis.risk_services).
    rules = AlertRule.objects.filter(is_active=True).exclude(kind=AlertKind.CRISIS_RISK)
    for rule_id in rules.order_by("pk").values_list("pk", flat=True):
        try:
            alert = alert_rule_evaluate(rule_id=rule_id, now=now)
        except Exception:
            logger.exception("alert rule %s: evaluation failed", rule_id)
            continue
        if alert is not None:
            fired.append(alert)
    alert_delivery.deliveries_requeue_stale(now=now)
    return fired


def alert_rule_evaluate(
    *, rule_id: int, now: datetime, mention_ids: Sequence[int] | None = None
) -> Alert | None:
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, is_active=True).first()
        if rule is None:
            return None
        if rule.kind == AlertKind.KEYWORD:
            alert = _evaluate_keyword(rule, now, mention_ids)
        elif _in_cooldown(rule, now) is not None:
            alert = None
        elif rule.kind == AlertKind.VOLUME_SPIKE:
            alert = _evaluate_volume(rule, now)
        elif rule.kind == AlertKind.NEW_TOPIC:
            alert = _evaluate_new_topic(rule, now)
        else:
            alert = _evaluate_negative_share(rule, now)
        AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=now)
    return alert


def _evaluate_volume(rule: AlertRule, now: datetime) -> Alert | None:
    baseline = alert_rule_baseline(rule=rule, now=now)
    start = now - VOLUME_WINDOW
    window = _scoped(rule).filter(posted_at__gte=start, posted_at__lt=now)
    detection = detectors.volume_spike(
        profile=detectors.Profile.from_json(baseline["profile"]),
        observed=window.count(),
        start=start,
        end=now,
        sensitivity=rule.sensitivity,
    )
    if not detection.fired:
        return None
    key = f"v:{_floor(now, detectors.BIN).isoformat()}"
    return _fire(rule, key, start, now, detection, _top_by_reach(window))


def _evaluate_negative_share(rule: AlertRule, now: datetime) -> Alert | None:
    baseline = alert_rule_baseline(rule=rule, now=now)
    start = now - SHARE_WINDOW
    window = _scoped(rule).filter(posted_at__gte=start, posted_at__lt=now, enriched_at__isnull=False)
    counts = window.aggregate(total=Count("id"), negative=Count("id", filter=Q(sentiment=Sentiment.NEGATIVE)))
    detection = detectors.negative_share_jump(
        negative=counts["negative"],
        total=counts["total"],
        baseline_share=float(baseline["negative_share"]),
        sensitivity=rule.sensitivity,
        minutes=int(SHARE_WINDOW.total_seconds() // 60),
    )
    if not detection.fired:
        return None
    key = f"n:{_floor(now, detectors.BIN).isoformat()}"
    return _fire(rule, key, start, now, detection, _top_by_reach(window.filter(sentiment=Sentiment.NEGATIVE)))


def _evaluate_new_topic(rule: AlertRule, now: datetime) -> Alert | None:
    """The latest topic run's young topics (first seen within TOPIC_NEW_WITHIN), fastest growing
    first; one alert per run at most (its window key), naming the topic that grew fastest."""
    run = TopicRun.objects.filter(finished_at__isnull=False).order_by("-finished_at", "-id").first()
    if run is None:
        return None
    snapshots = (
        TopicSnapshot.objects.filter(run=run, topic__first_seen_at__gte=run.window_end - TOPIC_NEW_WITHIN)
        .select_related("topic")
        .order_by("-growth", "-volume")
    )
    for snapshot in snapshots:
        detection = detectors.new_topic(
            label=snapshot.topic.label,
            volume=snapshot.volume,
            previous_volume=snapshot.previous_volume,
            growth=snapshot.growth,
            sensitivity=rule.sensitivity,
        )
        if detection.fired:
            mentions = Mention.objects.filter(
                topic_assignment__topic=snapshot.topic, posted_at__gte=run.window_start
            )
            return _fire(
                rule, f"t:{run.pk}", run.window_start, run.window_end, detection, _top_by_reach(mentions)
            )
    return None


def _top_by_reach(mentions: QuerySet[Mention]) -> list[tuple[int, int]]:
    return list(
        mentions.annotate(reach=Coalesce("author_followers", 0))
        .order_by("-reach", "-posted_at")
        .values_list("id", "reach")[:EVIDENCE_TOP]
    )


def _keyword_trigger(rule: AlertRule) -> querylang.Query | None:
    try:
        return querylang.parse(rule.expression) if rule.expression.strip() else None
    except querylang.QuerySyntaxError:  # validated when saved; a grammar change may break it
        logger.error("alert rule %s: its expression no longer parses", rule.pk)
        raise


def _evaluate_keyword(rule: AlertRule, now: datetime, mention_ids: Sequence[int] | None) -> Alert | None:
    candidates = _scoped(rule).filter(enriched_at__isnull=False)
    if mention_ids is not None:
        candidates = candidates.filter(id__in=mention_ids)
    else:
        candidates = candidates.filter(enriched_at__gte=now - KEYWORD_LOOKBACK)
    seen = AlertEvidence.objects.filter(rule=rule, mention_id__in=candidates.values("id")).values(
        "mention_id"
    )
    fresh = list(
        candidates.exclude(id__in=seen)
        .select_related("source")
        .only(
            "id",
            "text",
            "author_handle",
            "author_followers",
            "lang",
            "posted_at",
            "source__name",
            "source__kind",
        )
        .order_by("id")[:KEYWORD_SCAN_LIMIT]
    )
    trigger = _keyword_trigger(rule)
    if trigger is not None:
        fresh = [m for m in fresh if trigger.matches(document_for(m))]
    if not fresh:
        return None
    evidence = [(m.pk, m.author_followers or 0) for m in fresh]
    last = _in_cooldown(rule, now)
    if last is not None:
        # Within the cooldown: the matches join the alert that fired, instead of a new alert.
        AlertEvidence.objects.bulk_create(
            [AlertEvidence(alert=last, rule=rule, mention_id=i, reach=r) for i, r in evidence],
            ignore_conflicts=True,
        )
        Alert.objects.filter(pk=last.pk).update(mention_count=F("mention_count") + len(evidence))
        return None
    what = f"'{rule.expression.strip()}'" if trigger is not None else f"the query '{rule.query}'"
    times = [m.posted_at for m in fresh]
    detection = detectors.Detection(
        fired=True,
        expected=0.0,
        observed=float(len(fresh)),
        score=float(len(fresh)),
        threshold=1.0,
        why=f"{len(fresh)} new mention{'s' if len(fresh) != 1 else ''} matching {what}",
    )
    return _fire(rule, f"m:{fresh[0].pk}", min(times), max(times), detection, evidence)


def _fire(
    rule: AlertRule,
    key: str,
    start: datetime,
    end: datetime,
    detection: detectors.Detection,
    evidence: Iterable[tuple[int, int]],
) -> Alert | None:
    """Store the alert once per (rule, window), with its evidence, notifications and deliveries."""
    evidence = list(evidence)
    keyword = rule.kind == AlertKind.KEYWORD
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                kind=rule.kind,
                window_key=key,
                window_start=start,
                window_end=end,
                expected=None if keyword else detection.expected,
                observed=detection.observed,
                score=detection.score,
                threshold=detection.threshold,
                why=detection.why,
                mention_count=len(evidence) if keyword else int(detection.observed),
            )
    except IntegrityError:
        return None  # this window already fired: a retried evaluation
    AlertEvidence.objects.bulk_create(
        [AlertEvidence(alert=alert, rule=rule, mention_id=i, reach=r) for i, r in evidence],
        ignore_conflicts=True,
    )
    if rule.notify_portal:
        Notification.objects.bulk_create(
            [Notification(alert=alert, user_id=user_id) for user_id in _member_ids()], ignore_conflicts=True
        )
    alert_delivery.deliveries_create(alert=alert, rule=rule)
    logger.info("alert %s fired for rule %s: %s", alert.pk, rule.pk, detection.why)
    return alert


CRISIS_RISK_RULE_NAME = "Crisis risk score"


def crisis_risk_rule_ensure() -> AlertRule:
    """The tenant's one crisis-risk rule, created on first use: people choose its deliveries (email,
    webhook, Slack) and may switch it off like any rule; the risk score decides when it fires."""
    rule = AlertRule.objects.filter(kind=AlertKind.CRISIS_RISK).order_by("pk").first()
    if rule is not None:
        return rule
    name = CRISIS_RISK_RULE_NAME
    if AlertRule.objects.filter(name=name).exists():  # a person's rule has the name already
        name = f"{name} (system)"
    rule, _ = AlertRule.objects.get_or_create(
        kind=AlertKind.CRISIS_RISK,
        defaults={
            "name": name,
            "webhook_secret": secrets.token_urlsafe(32),
            "cooldown_minutes": COOLDOWN_MIN,
        },
    )
    return rule


def alert_raise(
    *,
    rule: AlertRule,
    key: str,
    start: datetime,
    end: datetime,
    detection: detectors.Detection,
    evidence: Iterable[tuple[int, int]],
) -> Alert | None:
    """Raise an alert decided outside listening's detectors (the crisis-risk score) through the same
    path as the rules' own: once per (rule, key), with evidence, bell notifications and deliveries.
    None when the rule is switched off or the key fired already."""
    if not rule.is_active:
        return None
    return _fire(rule, key, start, end, detection, evidence)


def _member_ids() -> list[int]:
    """Everyone who sees this tenant: its members and its agency's staff."""
    from tenants.models import User

    tenant = connection.tenant  # type: ignore[attr-defined]
    reach = Q(memberships__tenant_id=tenant.pk)
    if tenant.agency_id is not None:
        reach |= Q(agency_memberships__agency_id=tenant.agency_id)
    return list(User.objects.filter(reach, is_active=True).values_list("pk", flat=True).distinct())


def on_mentions_enriched(*, mention_ids: Sequence[int]) -> None:
    """The enrichment hook: evaluate keyword rules on freshly enriched mentions, after commit."""
    if not mention_ids or not AlertRule.objects.filter(is_active=True, kind=AlertKind.KEYWORD).exists():
        return
    from listening.tasks import evaluate_keyword_alerts

    ids = list(mention_ids)
    transaction.on_commit(lambda: evaluate_keyword_alerts.delay(ids))


def keyword_rules_evaluate(*, mention_ids: Sequence[int], now: datetime | None = None) -> list[Alert]:
    now = now or timezone.now()
    fired = []
    rules = AlertRule.objects.filter(is_active=True, kind=AlertKind.KEYWORD).order_by("pk")
    for rule_id in rules.values_list("pk", flat=True):
        alert = alert_rule_evaluate(rule_id=rule_id, now=now, mention_ids=mention_ids)
        if alert is not None:
            fired.append(alert)
    return fired


# People's actions ------------------------------------------------------------------------------------


def _locked(alert: Alert, allowed: Iterable[str], verb: str) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status not in allowed:
        raise ValidationError(
            {"status": f"An alert that is {alert.get_status_display().lower()} cannot be {verb}."}
        )
    return alert


def alert_acknowledge(*, alert: Alert, user_id: int) -> Alert:
    with transaction.atomic():
        alert = _locked(alert, (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED), "acknowledged")
        if alert.status == AlertStatus.NEW:
            alert.status = AlertStatus.ACKNOWLEDGED
            alert.acknowledged_by_id, alert.acknowledged_at = user_id, timezone.now()
            alert.save(update_fields=["status", "acknowledged_by_id", "acknowledged_at"])
    return alert


def alert_dismiss(*, alert: Alert, user_id: int) -> Alert:
    with transaction.atomic():
        alert = _locked(alert, (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED), "dismissed")
        alert.status = AlertStatus.DISMISSED
        alert.dismissed_by_id, alert.dismissed_at = user_id, timezone.now()
        alert.save(update_fields=["status", "dismissed_by_id", "dismissed_at"])
    return alert


def alert_escalate(*, alert: Alert, user_id: int, note: str = "") -> Alert:
    """Escalate to an incident. The crisis app will link the incident; until then the alert keeps
    when, who and the note. Escalating acknowledges the alert too."""
    with transaction.atomic():
        alert = _locked(alert, (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED), "escalated")
        now = timezone.now()
        if alert.acknowledged_at is None:
            alert.acknowledged_by_id, alert.acknowledged_at = user_id, now
        alert.status = AlertStatus.ESCALATED
        alert.escalated_by_id, alert.escalated_at, alert.escalation_note = user_id, now, note
        alert.save()
    return alert


# Notifications -----------------------------------------------------------------------------------------


def notification_read(
    *, user_id: int, notification_id: int | None = None, alert_id: int | None = None
) -> int:
    """Mark the user's notifications read: one, those of one alert (its page was opened), or all.
    Returns how many changed."""
    unread = Notification.objects.filter(user_id=user_id, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    if alert_id is not None:
        unread = unread.filter(alert_id=alert_id)
    return unread.update(read_at=timezone.now())


# Quality ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleQuality:
    rule_id: int | None  # None: all rules together
    name: str
    alerts: int
    per_week: float
    acknowledged_share: float
    dismissed_share: float
    escalated_share: float


def alert_quality(*, since: datetime, until: datetime) -> list[RuleQuality]:
    """Alerts per week and what people did with them, per rule and overall, over [since, until):
    the shares tell a customer which rules are worth their attention."""
    weeks = max((until - since) / timedelta(weeks=1), 1 / 7)
    in_range = Q(alerts__fired_at__gte=since, alerts__fired_at__lt=until)
    # Annotation names differ from the `alerts` relation: Django would read `alerts__...` as a join.
    counted = {
        "n_alerts": Count("alerts", filter=in_range),
        "n_acknowledged": Count("alerts", filter=in_range & Q(alerts__acknowledged_at__isnull=False)),
        "n_dismissed": Count("alerts", filter=in_range & Q(alerts__dismissed_at__isnull=False)),
        "n_escalated": Count("alerts", filter=in_range & Q(alerts__escalated_at__isnull=False)),
    }
    keys = list(counted)
    rows: list[dict[str, Any]] = [
        dict(row) for row in AlertRule.objects.order_by("name").values("pk", "name").annotate(**counted)
    ]

    def quality(rule_id: int | None, name: str, n: int, ack: int, dis: int, esc: int) -> RuleQuality:
        return RuleQuality(
            rule_id=rule_id,
            name=name,
            alerts=n,
            per_week=round(n / weeks, 2),
            acknowledged_share=round(ack / n, 4) if n else 0.0,
            dismissed_share=round(dis / n, 4) if n else 0.0,
            escalated_share=round(esc / n, 4) if n else 0.0,
        )

    result = [quality(r["pk"], r["name"], *(r[k] for k in keys)) for r in rows]
    total = [sum(r[k] for r in rows) for k in keys]
    return [*result, quality(None, "All rules", *total)]
