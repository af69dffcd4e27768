"""Incident report API: `/api/v1/incidents/{id}/report` (JSON), `.csv` and `.pdf`. VIEW suffices;
another tenant's incident answers 404 like any object outside the caller's scope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from crisis import report_export, report_selectors
from crisis.models import Incident
from crisis.report import report_dict
from tenants.access import Access
from tenants.api.base import TenantApi


def download(body: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class IncidentReportApi(TenantApi):
    lookup_url_kwarg = "incident_pk"

    def scoped_queryset(self, access: Access) -> QuerySet[Incident]:
        return Incident.objects.all()

    @extend_schema(responses=dict, operation_id="incident_report")
    def report(self, request: Request, incident_pk: str) -> Response:
        """Times to detect, declare, first statement and resolve (minutes); volume and sentiment
        before, during and after; sentiment recovery; statements' reach; deadlines; timeline."""
        return Response(report_dict(report_selectors.incident_report(incident=self.get_object())))

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(bytes)}, operation_id="incident_report_csv")
    def csv(self, request: Request, incident_pk: str) -> Any:
        incident = self.get_object()
        body = report_export.report_csv(report_selectors.incident_report(incident=incident))
        return download(body, "text/csv; charset=utf-8", f"incident-{incident.pk}-report.csv")

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(bytes)}, operation_id="incident_report_pdf"
    )
    def pdf(self, request: Request, incident_pk: str) -> Any:
        incident = self.get_object()
        body = report_export.report_pdf(report_selectors.incident_report(incident=incident))
        return download(body, "application/pdf", f"incident-{incident.pk}-report.pdf")
