"""A client tenant's host: its portal and its API."""

from django.urls import include, path

from config.urls_common import urlpatterns as common
from crisis import aftermath_urls, incident_urls, risk_urls
from crisis.statement_urls import api_urls as statement_api_urls
from crisis.statement_urls import portal_urlpatterns as statement_portal_urls
from ethics import views as ethics_views
from ethics.urls import api_urls as ethics_api_urls
from listening import alert_views
from listening import views as listening_views
from listening.urls import api_urls as listening_api_urls
from personalization import post_views
from personalization import views as personalization_views
from personalization.urls import api_urls as personalization_api_urls
from tenants import views
from tenants.urls import tenant_api_urls

urlpatterns = [
    *common,
    path(
        "api/v1/",
        include(
            [
                *tenant_api_urls,
                *listening_api_urls,
                *personalization_api_urls,
                *ethics_api_urls,
                *statement_api_urls,
                *aftermath_urls.tenant_api_urls,
                *incident_urls.api_urls,
                *risk_urls.api_urls,
            ]
        ),
    ),
    *statement_portal_urls,
    *alert_views.portal_urlpatterns,
    *listening_views.portal_urlpatterns,
    *ethics_views.portal_urlpatterns,
    # Before the tenant's section pages: /audience/ replaces its empty-state page.
    *personalization_views.portal_urlpatterns,
    *post_views.portal_urlpatterns,
    *aftermath_urls.tenant_portal_urls,
    *incident_urls.portal_urlpatterns,
    # Before the tenant's section pages: /crisis/ (the risk page) replaces its empty-state page.
    *risk_urls.portal_urlpatterns,
    *views.tenant_urlpatterns,
]

handler404 = "tenants.views.not_found"
handler403 = "tenants.views.forbidden"
handler400 = "tenants.views.bad_request"
handler500 = "tenants.views.server_error"
