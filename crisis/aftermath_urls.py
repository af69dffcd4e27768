"""Routes of crisis mode, incident reports and the agency portfolio: tenant API and pages, agency
API and pages (public host)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from crisis import agency_apis, agency_views, mode_apis, mode_views, report_views
from crisis.report_apis import IncidentReportApi

tenant_router = SimpleRouter(trailing_slash=False)
tenant_router.register("crisis/mode", mode_apis.CrisisModeStateApi, basename="crisis-mode")

report_api_urls = [
    path(
        "incidents/<int:incident_pk>/report",
        IncidentReportApi.as_view({"get": "report"}),
        name="incident-report",
    ),
    path(
        "incidents/<int:incident_pk>/report.csv",
        IncidentReportApi.as_view({"get": "csv"}),
        name="incident-report-csv",
    ),
    path(
        "incidents/<int:incident_pk>/report.pdf",
        IncidentReportApi.as_view({"get": "pdf"}),
        name="incident-report-pdf",
    ),
]

public_router = SimpleRouter(trailing_slash=False)
public_router.register(
    r"agencies/(?P<agency_pk>\d+)/portfolio", agency_apis.AgencyPortfolioApi, basename="agency-portfolio"
)
public_router.register(
    r"agencies/(?P<agency_pk>\d+)/crisis-mode", agency_apis.AgencyCrisisModeApi, basename="agency-crisis-mode"
)

tenant_api_urls = [*tenant_router.urls, *report_api_urls]
public_api_urls = public_router.urls
tenant_portal_urls = [*mode_views.portal_urlpatterns, *report_views.portal_urlpatterns]
public_portal_urls = agency_views.public_portal_urlpatterns
