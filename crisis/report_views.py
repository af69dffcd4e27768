"""The incident report page (/crisis/incidents/<id>/report/) and its CSV and PDF downloads."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET

from crisis import report_export, report_selectors
from crisis.models import Incident
from crisis.report import duration_label
from crisis.report_apis import download
from tenants.access import Access
from tenants.views import tenant_page


def _incident(incident_id: int) -> Incident:
    try:
        return report_selectors.incident_get(incident_id=incident_id)
    except Incident.DoesNotExist:
        raise Http404("No such incident") from None


@require_GET
@tenant_page()
def report_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = _incident(incident_id)
    report = report_selectors.incident_report(incident=incident)
    largest = max((p.volume_per_hour or 0 for p in report.phases), default=0) or 1
    phases = [
        {
            "phase": p,
            "label": report_export.PHASE_LABELS[p.name],
            "volume_width": round(200 * (p.volume_per_hour or 0) / largest),
            "negative_width": round(200 * (p.negative_share or 0)),
        }
        for p in report.phases
    ]
    return render(
        request,
        "crisis/aftermath/report.html",
        {
            "tab": "incidents",
            "incident": incident,
            "report": report,
            "phases": phases,
            "stages": [(stage, duration_label(stage.minutes)) for stage in report.clock.stages],
            "recovery_text": report_export.recovery_text(report),
            "summary": report.deadline_summary,
            "reach_totals": report.reach_totals,
        },
    )


@require_GET
@tenant_page()
def report_csv_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = _incident(incident_id)
    body = report_export.report_csv(report_selectors.incident_report(incident=incident))
    return download(body, "text/csv; charset=utf-8", f"incident-{incident.pk}-report.csv")


@require_GET
@tenant_page()
def report_pdf_view(request: HttpRequest, access: Access, incident_id: int) -> HttpResponse:
    incident = _incident(incident_id)
    body = report_export.report_pdf(report_selectors.incident_report(incident=incident))
    return download(body, "application/pdf", f"incident-{incident.pk}-report.pdf")


portal_urlpatterns: list[URLPattern] = [
    path("crisis/incidents/<int:incident_id>/report/", report_view, name="crisis-report"),
    path("crisis/incidents/<int:incident_id>/report.csv", report_csv_view, name="crisis-report-csv"),
    path("crisis/incidents/<int:incident_id>/report.pdf", report_pdf_view, name="crisis-report-pdf"),
]
