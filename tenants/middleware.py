from __future__ import annotations

import time
from threading import Lock

from django.http import HttpRequest, HttpResponse
from django_tenants.middleware.main import TenantMainMiddleware

from tenants.api.errors import json_error
from tenants.models import Domain, Tenant

# Host -> tenant, per process, for a few seconds: routing is on every request and domains rarely
# change. A tenant removed within the window is still refused: access is checked on every request.
ROUTE_TTL_S = 10.0
_routes: dict[str, tuple[float, Tenant]] = {}
_routes_lock = Lock()


def routes_clear() -> None:
    with _routes_lock:
        _routes.clear()


class TenantRoutingMiddleware(TenantMainMiddleware):
    """Routes each request to its tenant by host name (django-tenants). A host that names no tenant
    answers 404, never the public site; the tenant comes from routing only, never from headers."""

    def get_tenant(self, domain_model: type[Domain], hostname: str) -> Tenant:
        now = time.monotonic()
        cached = _routes.get(hostname)
        if cached is not None and cached[0] > now:
            return cached[1]
        tenant = super().get_tenant(domain_model, hostname)
        with _routes_lock:
            _routes[hostname] = (now + ROUTE_TTL_S, tenant)
        return tenant

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return json_error(404, "not_found", "No such tenant.")
        return HttpResponse(
            "No Candor workspace lives at this address.", status=404, content_type="text/plain"
        )
