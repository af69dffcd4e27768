"""The report's arithmetic on plain values: durations, missing stages, windows, phase totals,
recovery detection, deadlines met or missed, and UTC math across a DST change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crisis import report
from crisis.report import Point, StatementReach, TimelineItem

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def test_minutes_between_is_real_time_across_a_dst_change():
    # 29 March 2026: Berlin clocks jump from 02:00 to 03:00. Wall clocks say 2 hours, real time 1.
    before = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    after = datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)
    assert (after - before) == timedelta(hours=2)  # Python's same-tzinfo subtraction: wall clock
    assert report.minutes_between(before, after) == 60
    # Autumn: 25 October 2026, 02:30 happens twice; fold=1 is the second one.
    first = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    assert report.minutes_between(first, second) == 60


def test_minutes_between_mixed_zones_and_missing():
    assert report.minutes_between(T0, T0.astimezone(ZoneInfo("Asia/Kolkata")) + timedelta(minutes=7)) == 7
    assert report.minutes_between(None, T0) is None
    assert report.minutes_between(T0, None) is None
    with pytest.raises(ValueError):
        report.minutes_between(datetime(2026, 1, 1), T0)


def test_clock_durations_of_every_stage():
    clock = report.clock_compute(
        first_signal_at=T0,
        detected_at=T0 + timedelta(minutes=25),
        declared_at=T0 + timedelta(minutes=40),
        first_statement_at=T0 + timedelta(minutes=95),
        resolved_at=T0 + timedelta(hours=6),
    )
    minutes = {s.key: s.minutes for s in clock.stages}
    assert minutes == {"detect": 25, "declare": 15, "first_statement": 55, "resolve": 320}
    assert [s.start_label for s in clock.stages] == ["first signal", "alert", "declaration", "declaration"]


def test_clock_with_missing_stages():
    clock = report.clock_compute(
        first_signal_at=T0,
        detected_at=None,
        declared_at=T0 + timedelta(minutes=90),
        first_statement_at=None,
        resolved_at=None,
    )
    by_key = {s.key: s for s in clock.stages}
    assert by_key["detect"].minutes is None
    # No alert: declaring is counted from the first signal, and says so.
    assert by_key["declare"].minutes == 90
    assert by_key["declare"].start_label == "first signal"
    assert by_key["first_statement"].minutes is None
    assert by_key["resolve"].minutes is None
    bare = report.clock_compute(
        first_signal_at=None, detected_at=None, declared_at=T0, first_statement_at=None, resolved_at=None
    )
    assert all(s.minutes is None for s in bare.stages)


def test_windows_before_during_after():
    resolved = T0 + timedelta(hours=5)
    now = resolved + timedelta(hours=30)
    windows = report.windows_compute(
        first_signal_at=T0,
        detected_at=None,
        declared_at=T0 + timedelta(hours=1),
        resolved_at=resolved,
        now=now,
    )
    assert [(w.name, w.start, w.end) for w in windows] == [
        ("before", T0 - timedelta(hours=24), T0),
        ("during", T0, resolved),
        ("after", resolved, resolved + timedelta(hours=24)),
    ]


def test_after_window_is_cut_at_now_and_absent_while_unresolved():
    resolved = T0 + timedelta(hours=2)
    windows = report.windows_compute(
        first_signal_at=None,
        detected_at=T0,
        declared_at=T0 + timedelta(minutes=5),
        resolved_at=resolved,
        now=resolved + timedelta(hours=3),
    )
    assert windows[0].end == T0  # no first signal: the alert starts the crisis
    assert windows[2].end == resolved + timedelta(hours=3)
    open_windows = report.windows_compute(
        first_signal_at=None, detected_at=None, declared_at=T0, resolved_at=None, now=T0 + timedelta(hours=4)
    )
    assert [w.name for w in open_windows] == ["before", "during"]
    assert open_windows[1].end == T0 + timedelta(hours=4)


def test_phase_totals_take_steps_starting_inside_the_window():
    window = report.Window("during", T0, T0 + timedelta(hours=2))
    points = [
        Point(T0 - timedelta(minutes=5), volume=100, negative=100),  # before: excluded
        Point(T0, volume=10, positive=2, neutral=3, negative=5, reach=1000),
        Point(T0 + timedelta(minutes=115), volume=10, negative=3),
        Point(T0 + timedelta(hours=2), volume=50, negative=50),  # at the end: excluded
    ]
    totals = report.phase_totals(points, window)
    assert (totals.volume, totals.negative, totals.positive, totals.neutral, totals.reach) == (
        20,
        8,
        2,
        3,
        1000,
    )
    assert totals.volume_per_hour == 10
    assert totals.negative_share == pytest.approx(0.4)
    empty = report.phase_totals([], window)
    assert empty.negative_share is None
    assert empty.volume_per_hour == 0


def _hours(start: datetime, shares: list[tuple[int, int]]) -> list[Point]:
    """One point per hour: (volume, negative)."""
    return [Point(start + timedelta(hours=i), volume=v, negative=n) for i, (v, n) in enumerate(shares)]


def test_recovery_is_the_first_full_hour_back_within_tolerance():
    resolved = T0
    points = _hours(resolved, [(20, 12), (20, 8), (2, 0), (20, 5), (20, 2)])
    found = report.recovery_detect(
        points, resolved_at=resolved, baseline_share=0.2, now=resolved + timedelta(days=2)
    )
    # Hour 1: 40% > 25%; hour 2: 40%; hour 3: too few mentions; hour 4: 25% <= 20% + 5%.
    assert found.status == "recovered"
    assert found.at == resolved + timedelta(hours=4)
    assert found.minutes == 240


def test_recovery_not_yet_no_baseline_unresolved_and_incomplete_hours():
    resolved = T0
    bad = _hours(resolved, [(20, 15)] * 3)
    assert (
        report.recovery_detect(
            bad, resolved_at=resolved, baseline_share=0.1, now=resolved + timedelta(days=1)
        ).status
        == "not_yet"
    )
    assert (
        report.recovery_detect(bad, resolved_at=resolved, baseline_share=None, now=T0).status == "no_baseline"
    )
    assert report.recovery_detect(bad, resolved_at=None, baseline_share=0.1, now=T0).status == "unresolved"
    # A good hour still in progress does not count yet.
    good = _hours(resolved, [(20, 1)])
    running = report.recovery_detect(
        good, resolved_at=resolved, baseline_share=0.1, now=resolved + timedelta(minutes=30)
    )
    assert running.status == "not_yet"


def test_deadlines_met_missed_overdue_open():
    now = T0 + timedelta(hours=3)
    due = T0 + timedelta(hours=1)

    def check(**kw: object) -> report.Deadline:
        base = {"title": "t", "role": "comms", "due_at": due, "done_at": None, "status": "open", "now": now}
        return report.deadline_check(**{**base, **kw})  # type: ignore[arg-type]

    met = check(done_at=due, status="done")
    assert (met.status, met.label) == ("met", "met")
    missed = check(done_at=due + timedelta(minutes=17), status="done")
    assert (missed.status, missed.late_minutes, missed.label) == ("missed", 17, "missed by 17 min")
    overdue = check()
    assert (overdue.status, overdue.label) == ("overdue", "open, overdue by 2 h")
    assert check(due_at=now + timedelta(minutes=5)).status == "open"
    assert check(due_at=None).status == "no_deadline"
    assert check(status="skipped", done_at=None).status == "skipped"


def test_deadline_compared_in_real_time_across_dst():
    # Due 01:50 Berlin (CET), done 03:05 CEST the same night: 15 real minutes late, not 75.
    due = datetime(2026, 3, 29, 1, 50, tzinfo=BERLIN)
    done = datetime(2026, 3, 29, 3, 5, tzinfo=BERLIN)
    result = report.deadline_check(title="t", role="", due_at=due, done_at=done, status="done", now=done)
    assert result.status == "missed"
    assert result.late_minutes == 15


def test_duration_labels():
    assert report.duration_label(None) == report.NONE
    assert report.duration_label(44.6) == "45 min"
    assert report.duration_label(125) == "2 h 5 min"
    assert report.duration_label(180) == "3 h"
    assert report.duration_label(27 * 60) == "1 d 3 h"
    assert report.duration_label(-30) == "-30 min"


def test_report_build_and_dict():
    resolved = T0 + timedelta(hours=2)
    points = [
        *_hours(T0 - timedelta(hours=24), [(10, 1)] * 24),
        *_hours(T0, [(100, 60), (80, 40)]),
        *_hours(resolved, [(30, 3), (20, 2)]),
    ]
    built = report.report_build(
        incident_id=7,
        title="EU outage",
        scenario="Service outage",
        severity=1,
        status="resolved",
        first_signal_at=T0,
        detected_at=T0 + timedelta(minutes=10),
        declared_at=T0 + timedelta(minutes=20),
        first_statement_at=T0 + timedelta(minutes=50),
        resolved_at=resolved,
        points=points,
        tasks=[
            {
                "title": "Holding statement",
                "role": "comms",
                "due_at": T0 + timedelta(minutes=50),
                "done_at": T0 + timedelta(minutes=45),
                "status": "done",
            },
            {
                "title": "Status page",
                "role": "eng",
                "due_at": T0 + timedelta(minutes=30),
                "done_at": T0 + timedelta(minutes=70),
                "status": "done",
            },
        ],
        reach=[
            StatementReach(1, "We are on it", T0, posts=2, delivered=150, failed=1, engagement={"clicked": 9})
        ],
        timeline=[
            TimelineItem(T0 + timedelta(minutes=20), "declared", "Declared", "a@example.com"),
            TimelineItem(T0 + timedelta(minutes=10), "alert", "Alert", "system"),
        ],
        now=resolved + timedelta(hours=30),
    )
    phases = {p.name: p for p in built.phases}
    assert phases["before"].volume == 240
    assert phases["before"].negative_share == pytest.approx(0.1)
    assert phases["during"].volume == 180
    assert phases["during"].negative_share == pytest.approx(100 / 180)
    assert phases["after"].volume == 50
    assert built.recovery.status == "recovered"
    assert built.recovery.minutes == 60
    assert built.deadline_summary["met"] == 1
    assert built.deadline_summary["missed"] == 1
    assert built.reach_totals == {"posts": 2, "delivered": 150, "failed": 1, "engaged": 9}
    assert [t.kind for t in built.timeline] == ["alert", "declared"]
    body = report.report_dict(built)
    assert body["clock"]["stages"][0]["minutes"] == 10
    assert body["deadlines"][1]["label"] == "missed by 40 min"
    assert body["clock"]["declared_at"] == "2026-03-10T08:20:00+00:00"
    assert body["reach"][0]["engaged"] == 9
