"""The incident report from real rows: metric buckets around the incident, its tasks, a published
statement with deliveries and engagement, its timeline; through the selector, the API (JSON, CSV,
PDF) and the portal page; isolation and bad ids."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from pypdf import PdfReader

from crisis import report_export, report_selectors
from crisis.models import IncidentTask, Statement, StatementPublication, TaskStatus
from crisis.report import Point, report_build
from crisis.services import timeline_record
from listening.models import MetricBucket, MetricGrain
from personalization.models import Channel, EngagementEvent, Message
from personalization.post_models import PostSend, SendStatus
from tests.crisis.aftermath.conftest import incident, post
from tests.ethics.conftest import make_contact

TITLE = "Login outage \u2013 Österreich"


def _buckets(start: datetime, hours: int, volume: int, negative: int) -> list[MetricBucket]:
    """One 5-minute bucket per hour (all queries, sources, languages) from `start`."""
    return [
        MetricBucket(
            grain=MetricGrain.MINUTES_5,
            bucket_start=start + timedelta(hours=h),
            volume=volume,
            negative=negative,
            neutral=volume - negative,
            reach=volume * 100,
        )
        for h in range(hours)
    ]


@pytest.fixture
def case(in_a, channels):
    """An incident two days ago: first signal T0, alert +15 min, declared +30 min, statement
    published +1 h, resolved +6 h; 24 calm hours before, 6 hot hours, then calm again."""
    now = timezone.now()
    t0 = (now - timedelta(days=2)).replace(second=0, microsecond=0)
    t0 -= timedelta(minutes=t0.minute % 5)
    made = incident(
        TITLE,
        severity=1,
        status="resolved",
        first_signal_at=t0,
        detected_at=t0 + timedelta(minutes=15),
        declared_at=t0 + timedelta(minutes=30),
        resolved_at=t0 + timedelta(hours=6),
    )
    MetricBucket.objects.bulk_create(
        [
            *_buckets(t0 - timedelta(hours=24), 24, volume=10, negative=1),
            *_buckets(t0, 6, volume=50, negative=30),
            *_buckets(t0 + timedelta(hours=6), 30, volume=20, negative=2),
        ]
    )
    IncidentTask.objects.bulk_create(
        [
            IncidentTask(
                incident=made,
                title="Holding statement",
                role="comms",
                position=1,
                due_at=t0 + timedelta(minutes=60),
                done_at=t0 + timedelta(minutes=55),
                status=TaskStatus.DONE,
            ),
            IncidentTask(
                incident=made,
                title="Status page",
                role="engineering",
                position=2,
                due_at=t0 + timedelta(minutes=45),
                done_at=t0 + timedelta(minutes=65),
                status=TaskStatus.DONE,
            ),
            IncidentTask(
                incident=made,
                title="Customer FAQ",
                role="support",
                position=3,
                due_at=t0 + timedelta(hours=3),
                status=TaskStatus.OPEN,
            ),
        ]
    )
    statement = Statement.objects.create(
        incident=made,
        title="We are restoring logins",
        body="…",
        status="published",
        published_at=t0 + timedelta(hours=1),
    )
    sent = post(channels["Newsletter"], text="We are restoring logins")
    StatementPublication.objects.create(statement=statement, post=sent, created_at=t0 + timedelta(hours=1))
    contacts = [make_contact(email=f"c{i}@example.org", handles=[]) for i in range(4)]
    for i, contact in enumerate(contacts):
        PostSend.objects.create(
            post=sent,
            recipient=f"contact:{contact.pk}",
            contact=contact,
            status=SendStatus.DELIVERED if i < 3 else SendStatus.FAILED,
        )
    audience = Channel.objects.create(kind="email", name="Customers")
    message = Message.objects.create(key=f"post:{sent.pk}", text=sent.text)
    for i, (contact, kind) in enumerate(
        [
            (contacts[0], "delivered"),
            (contacts[0], "opened"),
            (contacts[1], "opened"),
            (contacts[1], "clicked"),
        ]
    ):
        EngagementEvent.objects.create(
            channel=audience,
            contact=contact,
            message=message,
            kind=kind,
            external_id=f"e{i}",
            occurred_at=now,
        )
    timeline_record(incident=made, kind="declared", text="Declared SEV1")
    return made


def test_report_from_rows(case):
    built = report_selectors.incident_report(incident=case)
    stages = {s.key: s.minutes for s in built.clock.stages}
    assert stages == {"detect": 15, "declare": 15, "first_statement": 30, "resolve": 330}
    phases = {p.name: p for p in built.phases}
    assert (phases["before"].volume, phases["before"].negative) == (240, 24)
    assert (phases["during"].volume, phases["during"].negative) == (300, 180)
    assert phases["during"].negative_share == pytest.approx(0.6)
    assert phases["after"].volume == 24 * 20
    assert phases["after"].reach == 24 * 20 * 100
    # Before-level 10% negative; the first hour after resolution is 10%: recovered after one hour.
    assert built.recovery.status == "recovered"
    assert built.recovery.minutes == 60
    assert [(d.title, d.status) for d in built.deadlines] == [
        ("Holding statement", "met"),
        ("Status page", "missed"),
        ("Customer FAQ", "overdue"),
    ]
    assert built.deadlines[1].late_minutes == 20
    (reach,) = built.reach
    assert (reach.posts, reach.delivered, reach.failed) == (1, 3, 1)
    assert reach.engagement == {"clicked": 1, "opened": 2}
    assert [t.text for t in built.timeline] == ["Declared SEV1"]


def test_report_of_a_fresh_incident_has_no_after_and_no_recovery(in_a):
    made = incident(declared_at=timezone.now() - timedelta(minutes=20))
    built = report_selectors.incident_report(incident=made)
    assert [p.name for p in built.phases] == ["before", "during"]
    assert built.recovery.status == "unresolved"
    assert built.reach == [] and built.deadlines == []


def test_api_json_csv_and_pdf(world, api_for, case):
    api = api_for("a_viewer")
    body = api.get(f"/api/v1/incidents/{case.pk}/report").json()
    assert body["title"] == TITLE
    assert [s["minutes"] for s in body["clock"]["stages"]] == [15, 15, 30, 330]
    assert body["deadline_summary"]["missed"] == 1
    assert body["reach_totals"] == {"posts": 1, "delivered": 3, "failed": 1, "engaged": 3}

    answer = api.get(f"/api/v1/incidents/{case.pk}/report.csv")
    assert answer["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode())))
    assert rows[0] == ["section", "name", "value", "detail"]
    assert ["duration_minutes", "resolve", "330.0", "from declaration: 5 h 30 min"] in rows
    assert ["deadline", "Status page", "missed", "missed by 20 min"] in rows

    pdf = api.get(f"/api/v1/incidents/{case.pk}/report.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf.content))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert TITLE in text
    assert "Time to resolve" in text and "5 h 30 min" in text
    assert "missed by 20 min" in text
    assert reader.metadata.title == TITLE


def test_csv_cells_are_escaped_against_formulas(in_a):
    made = incident('=HYPERLINK("http://evil")')
    timeline_record(incident=made, kind="note", text="+cmd|' /C calc'!A0")
    rows = list(
        csv.reader(io.StringIO(report_export.report_csv(report_selectors.incident_report(incident=made))))
    )
    assert ["incident", "title", '\'=HYPERLINK("http://evil")', f"#{made.pk}"] in rows
    timeline = [row for row in rows if row[0] == "timeline"]
    assert timeline[0][3].startswith("'+cmd")


def test_pdf_without_a_unicode_font_folds_text_to_latin1(monkeypatch, tmp_path):
    monkeypatch.setattr(report_export, "FONT_DIR", tmp_path)
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    built = report_build(
        incident_id=1,
        title="Ausfall in Łódź \u2013 東京",
        scenario="Service outage",
        severity=2,
        status="declared",
        first_signal_at=None,
        detected_at=None,
        declared_at=now - timedelta(hours=1),
        first_statement_at=None,
        resolved_at=None,
        points=[Point(now - timedelta(hours=2), 5, negative=1)],
        tasks=[],
        reach=[],
        timeline=[],
        now=now,
    )
    reader = PdfReader(io.BytesIO(report_export.report_pdf(built)))
    # Ł has no Latin-1 form; ó is Latin-1; ź loses its accent; the Japanese is unknown.
    assert "Ausfall in ?ódz - ??" in reader.pages[0].extract_text()
    assert report_export.latin1_safe("Café \u2013 “ok” ✓") == 'Café - "ok" ?'


def test_portal_page_and_downloads(api_for, case):
    api = api_for("a_viewer")
    page = api.get(f"/crisis/incidents/{case.pk}/report/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Incident report: {TITLE}" in html
    assert "5 h 30 min" in html and "missed by 20 min" in html and "1 h after resolution" in html
    assert api.get(f"/crisis/incidents/{case.pk}/report.csv").status_code == 200
    assert api.get(f"/crisis/incidents/{case.pk}/report.pdf").content.startswith(b"%PDF")


def test_another_tenants_incident_and_bad_ids_answer_404(world, api_for, case):
    stranger = api_for("b_owner", tenant=world.b)
    for path in (
        "/api/v1/incidents/{}/report",
        "/api/v1/incidents/{}/report.csv",
        "/api/v1/incidents/{}/report.pdf",
    ):
        assert stranger.get(path.format(case.pk)).status_code == 404
    with tenant_context(world.b):
        assert not Statement.objects.exists()
    api = api_for("a_viewer")
    assert api.get("/api/v1/incidents/999999/report").status_code == 404
    assert api.get("/crisis/incidents/999999/report/").status_code == 404
    assert api.get("/api/v1/incidents/99999999999999999999/report").status_code == 404
