from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django_tenants.middleware.main import TenantMainMiddleware

from tenants.api.errors import json_error


class TenantRoutingMiddleware(TenantMainMiddleware):
    """Routes each request to its tenant by host name (django-tenants). A host that names no tenant
    answers 404, never the public site; the tenant comes from routing only, never from headers."""

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return json_error(404, "not_found", "No such tenant.")
        return HttpResponse(
            "No Candor workspace lives at this address.", status=404, content_type="text/plain"
        )
