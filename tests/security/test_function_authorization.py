"""Authorization inside a tenant by role (OWASP API1 at object level, API5 at function level),
walked over every operation of the OpenAPI schema, so an operation added later is covered: a member
whose role lacks the capability an operation needs is answered 403 and nothing runs; a read-only
role has no write operation at all, except the few listed here with their reason."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from django.urls import resolve

from tenants.access import ROLE_CAPABILITIES, Capability
from tenants.models import Role
from tests.conftest import Api
from tests.security.openapi import spec

METHODS = ("get", "post", "put", "patch", "delete")
# Non-GET operations any member may call: they concern only the caller (their notifications, their
# own tokens: revoking another's needs MANAGE, tenants.services.token_revoke), or change nothing (the
# query editor's live count takes its expression in a POST body; the incident form's scenario
# suggestion and its preview of the posts crisis mode would hold take the form's fields).
WRITES_FOR_EVERY_MEMBER = {
    ("post", "/api/v1/incidents/suggest"),
    ("post", "/api/v1/incidents/preview"),
    ("post", "/api/v1/notifications/{id}/read"),
    ("post", "/api/v1/notifications/read-all"),
    ("delete", "/api/v1/tokens/{id}"),
    ("post", "/api/v1/queries/preview"),
}


def _tenant_operations() -> list[tuple[str, str, Capability]]:
    """(method, path, capability it needs) of every operation a tenant host serves to members."""
    found = []
    for path, item in spec()["paths"].items():
        if path.startswith("/api/v1/agencies/"):
            continue
        match = resolve(re.sub(r"\{[^}]+\}", "1", path), urlconf="config.urls_tenant")
        view_class = getattr(match.func, "cls", None)
        if view_class is None or not hasattr(view_class, "required_capability"):
            continue  # not a member's API (the signed webhook)
        for method in (m for m in METHODS if m in item):
            view = view_class()
            view.action = (getattr(match.func, "actions", None) or {}).get(method)
            view.request = SimpleNamespace(method=method.upper())
            found.append((method, path, view.required_capability()))
    return found


OPERATIONS = _tenant_operations()


def test_the_walk_reaches_every_app_and_capability():
    paths = {path for _, path, _ in OPERATIONS}
    for path in ("/api/v1/members", "/api/v1/mentions", "/api/v1/contacts", "/api/v1/purposes"):
        assert path in paths, path
    assert {capability for *_, capability in OPERATIONS} >= {
        Capability.VIEW,
        Capability.EDIT,
        Capability.APPROVE,
        Capability.MANAGE,
    }


def test_read_only_roles_have_no_write_operation():
    writes_for_viewers = {
        (method, path)
        for method, path, capability in OPERATIONS
        if method != "get" and capability == Capability.VIEW
    }
    assert writes_for_viewers == WRITES_FOR_EVERY_MEMBER


def test_a_viewer_revokes_only_their_own_token(world, api_for):
    from tenants.models import ApiToken
    from tenants.services import token_create

    admins, _ = token_create(user=world.users["a_admin"], name="ci", scope="read", tenants=[world.a])
    viewer = Api("tenant-a.localhost", user=world.users["a_viewer"])
    response = viewer.delete(f"/api/v1/tokens/{admins.pk}")
    assert response.status_code in (403, 404)
    assert ApiToken.objects.get(pk=admins.pk).revoked_at is None


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST, Role.APPROVER, Role.ADMIN])
def test_a_role_without_the_capability_is_refused_every_operation_that_needs_it(world, role):
    api = Api("tenant-a.localhost", user=world.users[f"a_{role}"])
    held = ROLE_CAPABILITIES[role]
    refused = [(m, p, c) for m, p, c in OPERATIONS if c not in held]
    assert refused or role == Role.ADMIN
    for method, path, capability in refused:
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        response = api.call(method.upper(), concrete, {} if method != "get" else None)
        assert response.status_code == 403, (role, method, path, capability, response.status_code)
        assert response.json()["error"]["code"] == "permission_denied"
