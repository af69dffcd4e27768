"""Proving who the caller is: portal sign-in with lockout, API tokens, and the signed hand-off
that carries a signed-in user from the public host to a tenant's host.

Each host keeps its own session cookie (no cookie is shared across subdomains), so a session
minted on one tenant's host is worthless on another's (RELIABILITY 2).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.postgres.aggregates import ArrayAgg
from django.core import signing
from django.core.cache import cache
from django.db.models import Value
from django.http import HttpRequest
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.access import access_for
from tenants.http import ClientInfo, client_info
from tenants.models import ApiToken, AuditAction, Tenant, User
from tenants.services import TOKEN_PREFIX, audit_record, tenant_url, token_digest

HANDOFF_SALT = "candor.handoff"
HANDOFF_MAX_AGE_S = 60
LAST_USED_RESOLUTION_S = 60


class SignInLocked(Exception):
    pass


def _public_cache_key(*parts: str) -> str:
    # Sign-in and hand-off state belong to no tenant: keep it under the public schema's key space.
    return ":".join(("identity", *parts))


def _failures_key(email: str, ip: str | None) -> str:
    return _public_cache_key("fail", token_digest(f"{email}|{ip}")[:32])


def sign_in(*, request: HttpRequest, email: str, password: str) -> User | None:
    """Authenticate and start a session; lock the (email, address) pair after repeated failures."""
    email = email.strip().lower()
    client = client_info(request)
    key = _failures_key(email, client.ip_address)
    with schema_context(settings.PUBLIC_SCHEMA_NAME):
        failures = cache.get(key, 0)
    if failures >= settings.CANDOR_LOGIN_MAX_FAILURES:
        audit_record(
            action=AuditAction.SIGN_IN_FAILED,
            actor_label=email,
            target=email,
            client=client,
            details={"reason": "locked"},
        )
        raise SignInLocked
    user = authenticate(request, username=email, password=password)
    if user is None:
        with schema_context(settings.PUBLIC_SCHEMA_NAME):
            cache.set(key, failures + 1, timeout=int(settings.CANDOR_LOGIN_LOCKOUT.total_seconds()))
        audit_record(
            action=AuditAction.SIGN_IN_FAILED,
            actor_label=email,
            target=email,
            client=client,
            details={"reason": "bad credentials"},
        )
        return None
    with schema_context(settings.PUBLIC_SCHEMA_NAME):
        cache.delete(key)
    # login() rotates the session key, so a session id planted before sign-in is useless (fixation).
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    audit_record(action=AuditAction.SIGN_IN, actor=user, tenant=_request_tenant(request), client=client)
    return user


def sign_out(*, request: HttpRequest) -> None:
    user = request.user if request.user.is_authenticated else None
    if isinstance(user, User):
        audit_record(
            action=AuditAction.SIGN_OUT,
            actor=user,
            tenant=_request_tenant(request),
            client=client_info(request),
        )
    logout(request)


def _request_tenant(request: HttpRequest) -> Tenant | None:
    tenant = getattr(request, "tenant", None)
    return tenant if isinstance(tenant, Tenant) and tenant.is_client else None


def handoff_url(*, user: User, tenant: Tenant, next_path: str = "/") -> str:
    """A one-use link that signs `user` in on `tenant`'s host, valid for a minute."""
    payload = {"u": user.pk, "t": tenant.pk, "n": secrets.token_urlsafe(16)}
    token = signing.dumps(payload, salt=HANDOFF_SALT)
    safe_next = next_path if next_path.startswith("/") and not next_path.startswith("//") else "/"
    return tenant_url(tenant, "/auth/handoff/?" + urlencode({"token": token, "next": safe_next}))


def handoff_redeem(*, request: HttpRequest, token: str, tenant: Tenant) -> User | None:
    """Sign in the user a hand-off link names, once, on the tenant it names, if they may reach it."""
    try:
        payload = signing.loads(token, salt=HANDOFF_SALT, max_age=HANDOFF_MAX_AGE_S)
    except signing.BadSignature:
        return None
    if payload.get("t") != tenant.pk:
        return None
    with schema_context(settings.PUBLIC_SCHEMA_NAME):
        first_use = cache.add(_public_cache_key("handoff", str(payload.get("n"))), 1, HANDOFF_MAX_AGE_S * 2)
    if not first_use:
        return None
    user = User.objects.filter(pk=payload.get("u"), is_active=True).first()
    if user is None or access_for(user=user, tenant=tenant) is None:
        return None
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    audit_record(
        action=AuditAction.SIGN_IN,
        actor=user,
        tenant=tenant,
        client=client_info(request),
        details={"via": "tenant switcher"},
    )
    return user


def _token_failures_key(ip: str | None) -> str:
    return _public_cache_key("token-fail", token_digest(str(ip))[:32])


def token_guessing_locked(*, client: ClientInfo) -> bool:
    """Whether this address sent too many invalid tokens within the lockout window (OWASP API2)."""
    with schema_context(settings.PUBLIC_SCHEMA_NAME):
        failures = cache.get(_token_failures_key(client.ip_address), 0)
    return failures >= settings.CANDOR_TOKEN_MAX_FAILURES


def token_failure_record(*, client: ClientInfo) -> None:
    key = _token_failures_key(client.ip_address)
    window = int(settings.CANDOR_LOGIN_LOCKOUT.total_seconds())
    with schema_context(settings.PUBLIC_SCHEMA_NAME):
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


def token_authenticate(raw: str) -> ApiToken | None:
    """The active token whose secret this is, or None. Constant-time over the digest."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1].isalnum():
        return None
    token = (
        ApiToken.objects.select_related("user")
        .annotate(tenant_ids=ArrayAgg("tenants__id", default=Value([])))
        .filter(prefix=parts[1])
        .first()
    )
    expected = token.digest if token is not None else "0" * 64
    if not hmac.compare_digest(expected, token_digest(raw)) or token is None or not token.is_active:
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_RESOLUTION_S:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
