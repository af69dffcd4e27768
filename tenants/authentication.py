"""DRF authentication: bearer API tokens and portal sessions (with CSRF)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenants.http import client_info
from tenants.identity import token_authenticate, token_failure_record, token_guessing_locked
from tenants.models import ApiToken, User


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        raw = raw.strip()
        client = client_info(request._request)
        if token_guessing_locked(client=client):
            raise exceptions.Throttled(
                wait=settings.CANDOR_LOGIN_LOCKOUT.total_seconds(),
                detail="Too many invalid tokens from this address; try again later.",
            )
        if not raw or " " in raw:
            token_failure_record(client=client)
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        token = token_authenticate(raw)
        if token is None:
            token_failure_record(client=client)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate header makes DRF answer 401 (not 403) to unauthenticated calls.
        return f'{self.keyword} realm="api"'


class PortalSessionAuthentication(authentication.SessionAuthentication):
    """The portal's session, for the browsable API and htmx calls; CSRF is enforced."""
