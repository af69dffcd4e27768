"""Every API route of both hosts, for the OpenAPI schema: tenant routes answer on a tenant's host,
`agencies/...` routes on the public host, and `me` on both with the same shape."""

from django.urls import include, path

from crisis import aftermath_urls
from crisis.incident_urls import api_urls as incident_api_urls
from crisis.risk_urls import api_urls as risk_api_urls
from crisis.statement_urls import api_urls as statement_api_urls
from ethics.urls import api_urls as ethics_api_urls
from listening.urls import api_urls as listening_api_urls
from personalization.urls import api_urls as personalization_api_urls
from tenants.urls import public_api_urls, tenant_api_urls

agency_api_urls = [u for u in public_api_urls if "agencies" in str(u.pattern)]

urlpatterns = [
    path(
        "api/v1/",
        include(
            [
                *tenant_api_urls,
                *listening_api_urls,
                *personalization_api_urls,
                *ethics_api_urls,
                *statement_api_urls,
                *incident_api_urls,
                *risk_api_urls,
                *agency_api_urls,
                *aftermath_urls.tenant_api_urls,
                *aftermath_urls.public_api_urls,
            ]
        ),
    ),
]
