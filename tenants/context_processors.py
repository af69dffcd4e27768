from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from tenants.models import Tenant


def portal(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(request, "tenant", None)
    current = tenant if isinstance(tenant, Tenant) and tenant.is_client else None
    return {
        "current_tenant": current,
        "public_url": settings.CANDOR_PUBLIC_URL,
        "portal_access": getattr(request, "portal_access", None),
    }
