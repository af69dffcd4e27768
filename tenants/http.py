"""Facts about the HTTP caller that services record (audit, lockout), from trusted sources only."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class ClientInfo:
    ip_address: str | None = None
    user_agent: str = ""


def client_info(request: HttpRequest) -> ClientInfo:
    """The caller's address: REMOTE_ADDR, unless it is one of the configured proxies, in which case
    the nearest untrusted address of X-Forwarded-For. A rotated X-Forwarded-For from a direct
    caller changes nothing (RELIABILITY 29)."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = set(settings.CANDOR_TRUSTED_PROXIES)
    if remote in trusted:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                remote = hop
                break
    return ClientInfo(ip_address=remote, user_agent=request.META.get("HTTP_USER_AGENT", "")[:300])
