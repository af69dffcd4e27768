"""Improper inventory management (OWASP API9): every API route either host serves is documented in
the OpenAPI schema, and the schema documents no route that is not served. Walks the real URLconfs,
so a route added later without its schema entry fails here."""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver

from tests.security.openapi import spec

# Served at /api/ but not operations of the API: the schema itself and its two viewers.
NOT_OPERATIONS = {"/api/schema/", "/api/docs/", "/api/redoc/"}


def _template(route: str) -> str:
    """`api/v1/members/(?P<pk>[0-9]+)` or `api/v1/hooks/sources/<int:source_id>` -> OpenAPI form."""
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    # drf-spectacular names a primary key `id` (SCHEMA_COERCE_PATH_PK).
    return "/" + route.replace("{pk}", "{id}")


def _api_routes(urlconf: str) -> set[str]:
    found: set[str] = set()

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.add(_template(prefix + str(pattern.pattern)))

    walk(get_resolver(urlconf).url_patterns, "")
    return {route for route in found if route.startswith("/api/") and route not in NOT_OPERATIONS}


def test_the_walk_reads_routes_as_the_schema_names_them():
    assert _template("api/v1/members/(?P<pk>[0-9]+)$") == "/api/v1/members/{id}"
    assert _template("api/v1/agencies/(?P<agency_pk>\\d+)/tenants$") == "/api/v1/agencies/{agency_pk}/tenants"
    assert _template("api/v1/hooks/sources/<int:source_id>") == "/api/v1/hooks/sources/{source_id}"


def test_every_served_api_route_is_in_the_schema_and_nothing_else():
    served = _api_routes("config.urls_tenant") | _api_routes("config.urls_public")
    documented = set(spec()["paths"])
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"
