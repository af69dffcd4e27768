"""Every portal page of a tenant host is guarded: a stranger is sent to sign in, and a member of
another tenant finds nothing (404). Walks the tenant urlconf, so a page added without its guard
(`tenants.views.tenant_page`) fails here."""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver

# Public by design: signing in and out, the switcher's signed hand-off (tests/tenants/test_portal),
# and the preference page, which answers only to its signed token (tests/ethics).
PUBLIC = ("login/", "logout/", "auth/handoff/", "preferences/")
METHODS = ("GET", "POST")


def _portal_routes() -> list[str]:
    found: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.append(prefix + str(pattern.pattern))

    walk(get_resolver("config.urls_tenant").url_patterns, "")
    return [r for r in found if not r.startswith(("api/", *PUBLIC))]


def _fill(route: str) -> str:
    path = re.sub(r"<(?:int:)?\w+>", "1", route)
    path = re.sub(r"<(?:slug|str):\w+>", "x", path)
    return "/" + path


def test_the_walk_finds_the_pages_of_every_app():
    routes = _portal_routes()
    for page in (
        "listening/dashboard/",
        "listening/inbox/",
        "audience/",
        "ethics/models/",
        "settings/members/",
    ):
        assert page in routes, page


def test_every_tenant_page_sends_a_stranger_to_sign_in(world, client):
    for route in _portal_routes():
        path = _fill(route)
        for method in METHODS:
            response = getattr(client, method.lower())(path, HTTP_HOST="tenant-a.localhost")
            assert response.status_code in (302, 404, 405), (method, path, response.status_code)
            if response.status_code == 302:
                assert "/login/" in response["Location"] or "/go/" in response["Location"], (method, path)


def test_a_member_of_another_tenant_finds_no_page(world, api_for):
    api = api_for("b_owner", tenant=world.a)
    for route in _portal_routes():
        path = _fill(route)
        for method in METHODS:
            response = api.call(method, path, {} if method == "POST" else None)
            assert response.status_code in (404, 405), (method, path, response.status_code)
