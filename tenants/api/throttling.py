from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from tenants.http import client_info

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views is half-initialised.
    from rest_framework.request import Request
    from rest_framework.views import APIView


class CallerRateThrottle(SimpleRateThrottle):
    """Per-token (or per-user for portal sessions, per-address for anonymous calls) rate limit.

    The shared cache's key function adds the schema, so each tenant's budget is its own and a noisy
    tenant cannot spend another's (RELIABILITY 5, 39)."""

    scope = "caller"

    def allow_request(self, request: Request, view: APIView) -> bool:
        anonymous = not (request.user and request.user.is_authenticated)
        rates = cast(dict[str, str], settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
        self.rate = rates["anon" if anonymous else "caller"]
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: APIView) -> str:
        if request.auth is not None and hasattr(request.auth, "pk"):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{client_info(request._request).ip_address}"
        return f"throttle:{ident}"
