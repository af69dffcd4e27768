"""The isolation walk: every registered API route, asked by tenant B's credentials for tenant A's
data, answers 404 and leaks nothing (RELIABILITY 1, 2; OWASP API1)."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.models import ApiToken, AuditEvent, Membership
from tenants.services import token_create

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _routes(urlconf: str) -> list[str]:
    """Every API route of a urlconf as a regex string, with its prefix."""
    found: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("api/v1/") and "format" not in route:
                    found.append(route)

    walk(get_resolver(urlconf).url_patterns, "")
    return found


def _fill(route: str, ids: dict[str, int]) -> str:
    path = route.lstrip("^").rstrip("$")
    path = re.sub(r"\(\?P<agency_pk>[^)]*\)", str(ids["agency"]), path)
    # Every other identifier (pk, a parent's incident_pk, a nested claim_pk) gets the object's id.
    path = re.sub(r"\(\?P<\w+>[^)]*\)", str(ids["object"]), path)
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    assert "(" not in path, f"unfilled parameter in {route}"
    return "/" + path


def test_the_walk_covers_every_tenant_and_agency_route():
    tenant_routes = _routes("config.urls_tenant")
    public_routes = _routes("config.urls_public")
    assert len(tenant_routes) >= 6 and len(public_routes) >= 5
    assert any("members" in r for r in tenant_routes) and any("agencies" in r for r in public_routes)


@pytest.mark.parametrize("credential", ["token", "session"])
def test_tenant_b_reaches_nothing_of_tenant_a(world, api_for, credential):
    member = Membership.objects.filter(tenant=world.a).first()
    token, _ = token_create(user=world.users["a_owner"], name="a-secret", scope="read", tenants=[world.a])
    api = (
        api_for("b_owner", tenant=world.a, scope="write", tenants=[world.b])
        if credential == "token"
        else api_for("b_owner", tenant=world.a)
    )
    leaks = ("a-owner@example.com", "a-secret", token.prefix)
    for route in _routes("config.urls_tenant"):
        for object_id in (member.pk, token.pk):
            path = _fill(route, {"object": object_id, "agency": world.agency.pk})
            for method in METHODS:
                response = api.call(method, path, {} if method != "GET" else None)
                assert response.status_code == 404, (method, path, response.status_code)
                body = response.content.decode()
                assert not any(leak in body for leak in leaks), (method, path)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert Membership.objects.filter(pk=member.pk).exists()


def test_tenant_a_credentials_never_reach_tenant_b_objects_through_a_host(world, api_for):
    """A's own host, A's admin, B's object ids: members and tokens of B stay invisible."""
    b_member = Membership.objects.filter(tenant=world.b).first()
    b_token, _ = token_create(user=world.users["b_owner"], name="b-secret", scope="read", tenants=[world.b])
    api = api_for("a_owner", scope="write")
    for path in (f"/api/v1/members/{b_member.pk}", f"/api/v1/tokens/{b_token.pk}"):
        for method in METHODS:
            response = api.call(method, path, {"role": "viewer"} if method in ("PUT", "PATCH") else None)
            assert response.status_code in (404, 405), (method, path, response.status_code)
            assert "b-owner@example.com" not in response.content.decode()
    assert ApiToken.objects.get(pk=b_token.pk).revoked_at is None
    assert Membership.objects.get(pk=b_member.pk).role == b_member.role
    listed = api.get("/api/v1/members").json()["results"]
    assert {m["email"] for m in listed}.isdisjoint({"b-owner@example.com", "b-admin@example.com"})
    tokens = api.get("/api/v1/tokens").json()["results"]
    assert "b-secret" not in {t["name"] for t in tokens}


def test_agency_routes_refuse_outsiders(world, api_for):
    AuditEvent.objects.create(action="sign_in", actor_label="a-owner@example.com", tenant=world.a)
    outsider = api_for("b_owner", tenant=world.b)
    outsider.client.defaults["HTTP_HOST"] = "localhost"
    for route in _routes("config.urls_public"):
        if "agencies" not in route:
            continue
        path = _fill(route, {"object": world.a.pk, "agency": world.agency.pk})
        for method in METHODS:
            response = outsider.call(method, path, {} if method != "GET" else None)
            assert response.status_code == 404, (method, path, response.status_code)
            assert "Tenant A" not in response.content.decode()


def test_a_token_scoped_to_b_is_refused_on_a_even_for_a_member(world, api_for):
    """A token names its tenants: a user who is in both, with a token for B, cannot use it on A."""
    Membership.objects.create(user=world.users["b_owner"], tenant=world.a, role="viewer")
    api = api_for("b_owner", tenant=world.a, scope="read", tenants=[world.b])
    assert api.get("/api/v1/me").status_code == 404


def test_tenant_routes_do_not_exist_on_the_public_host(world, api_for):
    api = api_for("a_owner")
    api.client.defaults["HTTP_HOST"] = "localhost"
    assert api.get("/api/v1/members").status_code == 404
