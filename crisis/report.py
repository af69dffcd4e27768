"""The arithmetic of an incident report, pure (no ORM): the clock (time to detect, declare, first
statement, resolve), sentiment and volume before, during and after, how long sentiment took to
recover, and which deadlines were met.

All time arithmetic is done in UTC: Python subtracts two aware datetimes of the same `tzinfo` by
their wall clocks, so 01:30 and 03:30 Europe/Berlin on the night clocks go forward would be two
hours apart instead of one. Everything here converts to UTC first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BEFORE = timedelta(hours=24)  # the "before" window: this long before the first signal
AFTER = timedelta(hours=24)  # the "after" window: this long after resolution (or until now)
RECOVERY_HORIZON = timedelta(days=7)  # how far after resolution recovery is looked for
RECOVERY_TOLERANCE = 0.05  # negative share back within 5 points of its before-level
RECOVERY_MIN_VOLUME = 5  # an hour with fewer mentions says nothing about sentiment
NONE = "\u2013"  # an en dash: no value


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("report times must be timezone-aware")
    return moment.astimezone(UTC)


def minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    """Minutes from `start` to `end` in real (UTC) time; None when either is missing."""
    if start is None or end is None:
        return None
    return (utc(end) - utc(start)).total_seconds() / 60


@dataclass(frozen=True)
class Point:
    """Mention counts of one metric step starting at `start`."""

    start: datetime
    volume: int
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    reach: int = 0


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    start_label: str
    start: datetime | None
    end: datetime | None
    minutes: float | None


@dataclass(frozen=True)
class Clock:
    first_signal_at: datetime | None
    detected_at: datetime | None
    declared_at: datetime
    first_statement_at: datetime | None
    resolved_at: datetime | None
    stages: list[Stage]


def clock_compute(
    *,
    first_signal_at: datetime | None,
    detected_at: datetime | None,
    declared_at: datetime,
    first_statement_at: datetime | None,
    resolved_at: datetime | None,
) -> Clock:
    """The four stages. Detection runs from the first anomalous signal to the alert; declaring from
    the alert (or, with no alert, the first signal); the first statement and resolving from the
    declaration. A stage with a missing end (or start) has no duration."""
    declare_from, declare_label = (
        (detected_at, "alert") if detected_at is not None else (first_signal_at, "first signal")
    )
    stages = [
        Stage("detect", "Time to detect", "first signal", first_signal_at, detected_at, None),
        Stage("declare", "Time to declare", declare_label, declare_from, declared_at, None),
        Stage(
            "first_statement", "Time to first statement", "declaration", declared_at, first_statement_at, None
        ),
        Stage("resolve", "Time to resolve", "declaration", declared_at, resolved_at, None),
    ]
    return Clock(
        first_signal_at=first_signal_at,
        detected_at=detected_at,
        declared_at=declared_at,
        first_statement_at=first_statement_at,
        resolved_at=resolved_at,
        stages=[
            Stage(s.key, s.label, s.start_label, s.start, s.end, minutes_between(s.start, s.end))
            for s in stages
        ],
    )


@dataclass(frozen=True)
class Window:
    name: str
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return max((utc(self.end) - utc(self.start)).total_seconds() / 3600, 0.0)


def windows_compute(
    *,
    first_signal_at: datetime | None,
    detected_at: datetime | None,
    declared_at: datetime,
    resolved_at: datetime | None,
    now: datetime,
    before: timedelta = BEFORE,
    after: timedelta = AFTER,
) -> list[Window]:
    """Before: `before` up to the crisis's start (its first signal, else the alert, else the
    declaration). During: from that start to resolution (or now). After: from resolution for
    `after`, cut at now; absent while unresolved."""
    start = utc(first_signal_at or detected_at or declared_at)
    during_end = utc(resolved_at) if resolved_at is not None else utc(now)
    found = [Window("before", start - before, start), Window("during", start, max(during_end, start))]
    if resolved_at is not None:
        end = min(utc(resolved_at) + after, utc(now))
        found.append(Window("after", utc(resolved_at), max(end, utc(resolved_at))))
    return found


@dataclass(frozen=True)
class PhaseTotals:
    name: str
    start: datetime
    end: datetime
    hours: float
    volume: int
    positive: int
    neutral: int
    negative: int
    reach: int
    volume_per_hour: float | None
    negative_share: float | None  # negative / volume; None without mentions


def phase_totals(points: Iterable[Point], window: Window) -> PhaseTotals:
    """The points whose step starts in [window.start, window.end), summed."""
    start, end = utc(window.start), utc(window.end)
    inside = [p for p in points if start <= utc(p.start) < end]
    volume = sum(p.volume for p in inside)
    negative = sum(p.negative for p in inside)
    hours = window.hours
    return PhaseTotals(
        name=window.name,
        start=start,
        end=end,
        hours=hours,
        volume=volume,
        positive=sum(p.positive for p in inside),
        neutral=sum(p.neutral for p in inside),
        negative=negative,
        reach=sum(p.reach for p in inside),
        volume_per_hour=volume / hours if hours > 0 else None,
        negative_share=negative / volume if volume else None,
    )


@dataclass(frozen=True)
class Recovery:
    """`recovered`: sentiment back at `at`, `minutes` after resolution. `not_yet`: not within
    the hours seen so far. `no_baseline`: no mentions before the crisis to compare with.
    `unresolved`: the incident is not resolved yet."""

    status: str
    baseline_share: float | None
    at: datetime | None = None
    minutes: float | None = None


def recovery_detect(
    points: Iterable[Point],
    *,
    resolved_at: datetime | None,
    baseline_share: float | None,
    now: datetime,
    tolerance: float = RECOVERY_TOLERANCE,
    min_volume: int = RECOVERY_MIN_VOLUME,
    horizon: timedelta = RECOVERY_HORIZON,
) -> Recovery:
    """The first complete hour after resolution, with at least `min_volume` mentions, whose
    negative share is within `tolerance` of the before-level: recovered at that hour's end."""
    if resolved_at is None:
        return Recovery("unresolved", baseline_share)
    if baseline_share is None:
        return Recovery("no_baseline", None)
    start = utc(resolved_at)
    stop = min(start + horizon, utc(now))
    hours: dict[int, list[int]] = {}
    for point in points:
        moment = utc(point.start)
        if start <= moment < stop:
            sums = hours.setdefault(int((moment - start) // timedelta(hours=1)), [0, 0])
            sums[0] += point.volume
            sums[1] += point.negative
    for index in sorted(hours):
        end = start + timedelta(hours=index + 1)
        volume, negative = hours[index]
        if end > stop or volume < min_volume:
            continue
        if negative / volume <= baseline_share + tolerance:
            return Recovery("recovered", baseline_share, end, minutes_between(start, end))
    return Recovery("not_yet", baseline_share)


@dataclass(frozen=True)
class Deadline:
    title: str
    role: str
    due_at: datetime | None
    done_at: datetime | None
    status: str  # met | missed | overdue | open | skipped | no_deadline
    late_minutes: float | None  # missed: how late it was done; overdue: how late it is now

    @property
    def label(self) -> str:
        if self.status == "met":
            return "met"
        if self.status == "missed":
            return f"missed by {_human(self.late_minutes)}"
        if self.status == "overdue":
            return f"open, overdue by {_human(self.late_minutes)}"
        return {"open": "open", "skipped": "skipped", "no_deadline": "no deadline"}[self.status]


def _human(minutes: float | None) -> str:
    if minutes is None:
        return NONE
    whole = round(minutes)
    if whole < 60:
        return f"{whole} min"
    hours, rest = divmod(whole, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def duration_label(minutes: float | None) -> str:
    """'45 min', '2 h 5 min', '1 d 3 h': for the page, the CSV's text column and the PDF."""
    if minutes is None:
        return NONE
    if minutes < 0:
        return f"-{duration_label(-minutes)}"
    whole = round(minutes)
    if whole >= 24 * 60:
        days, rest = divmod(whole, 24 * 60)
        return f"{days} d {rest // 60} h" if rest // 60 else f"{days} d"
    return _human(whole)


def deadline_check(
    *, title: str, role: str, due_at: datetime | None, done_at: datetime | None, status: str, now: datetime
) -> Deadline:
    """A task's deadline: met (done at or before it), missed by N minutes (done after it), overdue
    (still open after it), open (not yet due), skipped, or without a deadline."""
    if status == "skipped":
        return Deadline(title, role, due_at, done_at, "skipped", None)
    if due_at is None:
        return Deadline(title, role, due_at, done_at, "no_deadline", None)
    if done_at is not None:
        late = minutes_between(due_at, done_at) or 0.0
        return Deadline(
            title, role, due_at, done_at, "met" if late <= 0 else "missed", max(late, 0.0) or None
        )
    late_now = minutes_between(due_at, now) or 0.0
    if late_now > 0:
        return Deadline(title, role, due_at, None, "overdue", late_now)
    return Deadline(title, role, due_at, None, "open", None)


@dataclass(frozen=True)
class StatementReach:
    statement_id: int
    title: str
    published_at: datetime | None
    posts: int
    delivered: int
    failed: int
    engagement: dict[str, int] = field(default_factory=dict)  # kind -> events (delivered excluded)

    @property
    def engaged(self) -> int:
        return sum(self.engagement.values())


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str
    text: str
    actor: str


@dataclass(frozen=True)
class Report:
    incident_id: int
    title: str
    scenario: str
    severity: int
    status: str
    generated_at: datetime
    clock: Clock
    phases: list[PhaseTotals]
    recovery: Recovery
    deadlines: list[Deadline]
    reach: list[StatementReach]
    timeline: list[TimelineItem]

    @property
    def deadline_summary(self) -> dict[str, int]:
        counts = {"met": 0, "missed": 0, "overdue": 0, "open": 0, "skipped": 0, "no_deadline": 0}
        for deadline in self.deadlines:
            counts[deadline.status] += 1
        return counts

    @property
    def reach_totals(self) -> dict[str, int]:
        return {
            "posts": sum(r.posts for r in self.reach),
            "delivered": sum(r.delivered for r in self.reach),
            "failed": sum(r.failed for r in self.reach),
            "engaged": sum(r.engaged for r in self.reach),
        }


def report_build(
    *,
    incident_id: int,
    title: str,
    scenario: str,
    severity: int,
    status: str,
    first_signal_at: datetime | None,
    detected_at: datetime | None,
    declared_at: datetime,
    first_statement_at: datetime | None,
    resolved_at: datetime | None,
    points: Sequence[Point],
    tasks: Sequence[dict[str, Any]],
    reach: Sequence[StatementReach],
    timeline: Sequence[TimelineItem],
    now: datetime,
) -> Report:
    """The whole report from plain values: `points` are the metric steps covering the windows
    (and the recovery horizon); `tasks` are dicts with title, role, due_at, done_at, status."""
    windows = windows_compute(
        first_signal_at=first_signal_at,
        detected_at=detected_at,
        declared_at=declared_at,
        resolved_at=resolved_at,
        now=now,
    )
    phases = [phase_totals(points, window) for window in windows]
    return Report(
        incident_id=incident_id,
        title=title,
        scenario=scenario,
        severity=severity,
        status=status,
        generated_at=utc(now),
        clock=clock_compute(
            first_signal_at=first_signal_at,
            detected_at=detected_at,
            declared_at=declared_at,
            first_statement_at=first_statement_at,
            resolved_at=resolved_at,
        ),
        phases=phases,
        recovery=recovery_detect(
            points, resolved_at=resolved_at, baseline_share=phases[0].negative_share, now=now
        ),
        deadlines=[deadline_check(now=now, **task) for task in tasks],
        reach=list(reach),
        timeline=sorted(timeline, key=lambda item: (utc(item.at), item.kind)),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def report_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (times in UTC ISO 8601, durations in minutes)."""
    body = _plain(asdict(report))
    body["deadline_summary"] = report.deadline_summary
    body["reach_totals"] = report.reach_totals
    for deadline, plain in zip(report.deadlines, body["deadlines"], strict=True):
        plain["label"] = deadline.label
    for statement, plain in zip(report.reach, body["reach"], strict=True):
        plain["engaged"] = statement.engaged
    return body
