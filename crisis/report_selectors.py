"""Reads behind an incident report: the incident's clock, the listening metric buckets around it,
its tasks' deadlines, its statements' reach (deliveries and engagement of their posts) and its
timeline, handed to the pure arithmetic of `crisis.report`."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from crisis import report
from crisis.models import Incident, Statement, StatementPublication
from listening.selectors import metric_series
from personalization.models import EngagementEvent, EngagementKind
from personalization.post_models import PostSend, SendStatus

FINE_STEP = timedelta(minutes=5)
COARSE_STEP = timedelta(hours=1)
FINE_SPAN = timedelta(days=60)  # 5-minute steps up to this span (the metric reader's step limit)


def incident_get(*, incident_id: int) -> Incident:
    """The incident of this tenant (Incident.DoesNotExist otherwise: the caller answers 404)."""
    return Incident.objects.get(pk=incident_id)


def _first_statement_at(incident: Incident) -> datetime | None:
    published = Statement.objects.filter(incident=incident, published_at__isnull=False).aggregate(
        first=Min("published_at")
    )["first"]
    publication = StatementPublication.objects.filter(statement__incident=incident).aggregate(
        first=Min("created_at")
    )["first"]
    found = [moment for moment in (published, publication) if moment is not None]
    return min(found) if found else None


def _points(incident: Incident, now: datetime) -> list[report.Point]:
    windows = report.windows_compute(
        first_signal_at=incident.first_signal_at,
        detected_at=incident.detected_at,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        now=now,
    )
    start = windows[0].start
    end = max(w.end for w in windows)
    if incident.resolved_at is not None:
        end = max(end, min(report.utc(incident.resolved_at) + report.RECOVERY_HORIZON, report.utc(now)))
    if end <= start:
        return []
    step = FINE_STEP if end - start <= FINE_SPAN else COARSE_STEP
    return [
        report.Point(p.start, p.volume, p.positive, p.neutral, p.negative, p.reach)
        for p in metric_series(start=start, end=end, step=step)
    ]


def _reach(incident: Incident) -> list[report.StatementReach]:
    statements = list(
        Statement.objects.filter(incident=incident)
        .filter(Q(publications__isnull=False) | Q(published_at__isnull=False))
        .distinct()
        .order_by("published_at", "id")
    )
    post_ids: dict[int, list[int]] = {}
    for statement_id, post_id in StatementPublication.objects.filter(statement__in=statements).values_list(
        "statement_id", "post_id"
    ):
        post_ids.setdefault(statement_id, []).append(post_id)
    all_posts = [pk for ids in post_ids.values() for pk in ids]
    sends: dict[int, dict[str, int]] = {}
    for row in (
        PostSend.objects.filter(post_id__in=all_posts)
        .values("post_id")
        .annotate(
            delivered=Count("id", filter=Q(status=SendStatus.DELIVERED)),
            failed=Count("id", filter=Q(status=SendStatus.FAILED)),
        )
    ):
        sends[row["post_id"]] = {"delivered": row["delivered"], "failed": row["failed"]}
    # The publisher records a post's engagement under the message `post:<id>`.
    events: dict[int, dict[str, int]] = {}
    for key, kind, count in (
        EngagementEvent.objects.filter(message__key__in=[f"post:{pk}" for pk in all_posts])
        .exclude(kind=EngagementKind.DELIVERED)
        .values_list("message__key", "kind")
        .annotate(n=Count("id"))
    ):
        per = events.setdefault(int(key.split(":", 1)[1]), {})
        per[kind] = per.get(kind, 0) + count
    found = []
    for statement in statements:
        ids = post_ids.get(statement.pk, [])
        engagement: dict[str, int] = {}
        for pk in ids:
            for kind, count in events.get(pk, {}).items():
                engagement[kind] = engagement.get(kind, 0) + count
        found.append(
            report.StatementReach(
                statement_id=statement.pk,
                title=statement.title,
                published_at=statement.published_at,
                posts=len(ids),
                delivered=sum(sends.get(pk, {}).get("delivered", 0) for pk in ids),
                failed=sum(sends.get(pk, {}).get("failed", 0) for pk in ids),
                engagement=dict(sorted(engagement.items())),
            )
        )
    return found


def incident_report(*, incident: Incident, now: datetime | None = None) -> report.Report:
    now = now or timezone.now()
    tasks = [
        {"title": t.title, "role": t.role, "due_at": t.due_at, "done_at": t.done_at, "status": t.status}
        for t in incident.tasks.order_by("position", "id")
    ]
    timeline = [
        report.TimelineItem(at=e.at, kind=e.kind, text=e.text, actor=e.actor_label)
        for e in incident.timeline.order_by("at", "id")
    ]
    return report.report_build(
        incident_id=incident.pk,
        title=incident.title,
        scenario=incident.get_scenario_display(),
        severity=incident.severity,
        status=incident.status,
        first_signal_at=incident.first_signal_at,
        detected_at=incident.detected_at,
        declared_at=incident.declared_at,
        first_statement_at=_first_statement_at(incident),
        resolved_at=incident.resolved_at,
        points=_points(incident, now),
        tasks=tasks,
        reach=_reach(incident),
        timeline=timeline,
        now=now,
    )
