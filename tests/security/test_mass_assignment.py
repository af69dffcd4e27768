"""Mass assignment (OWASP API3), walked over every operation that creates or changes something:
valid bodies generated from the schema (schemathesis, positive mode) carry, besides, a value for
each field the answer documents as read-only, and the usual targets (`tenant`, `schema_name`,
staff flags, owner, id, timestamps). Whatever the API accepts, it never answers with a planted
value: read-only fields stay read-only. Operations added later are walked too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from tenants.services import token_create
from tests.conftest import World
from tests.security.openapi import read_only_fields, spec

ROOT = spec()
SCHEMA = schemathesis.openapi.from_dict(
    ROOT,
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "positive"},
            "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}},
        }
    ),
).include(method=["POST", "PUT", "PATCH"])

ALWAYS = {
    "id": 987_654_321,
    "tenant": 987_654_321,
    "tenant_id": 987_654_321,
    "schema_name": "public",
    "owner": 987_654_321,
    "created_by": 987_654_321,
    "is_staff": True,
    "is_superuser": True,
    "created_at": "1999-01-01T00:00:00Z",
    "updated_at": "1999-01-01T00:00:00Z",
}


def _planted(prop: dict[str, Any]) -> Any:
    """A value the server would never pick itself for a read-only property, or None to skip it."""
    if "enum" in prop or prop.get("type") == "boolean":
        return None  # a planted choice could be the server's own
    if prop.get("type") == "integer":
        return 987_654_321
    if prop.get("type") == "number":
        return 987_654.321
    if prop.get("type") == "string":
        return "1999-01-01T00:00:00Z" if prop.get("format") == "date-time" else "mass-assigned"
    return None


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def owner_token(world: World) -> str:
    return token_create(user=world.users["a_owner"], name="mass", scope="write", tenants=[world.a])[1]


@SCHEMA.parametrize()
@settings(max_examples=3, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_read_only_fields_cannot_be_set(case, wsgi_app, owner_token):
    if case.path.startswith("/api/v1/agencies/") or not isinstance(case.body, dict):
        return
    operation = ROOT["paths"][case.path][case.method.lower()]
    plants = {k: v for k, v in ALWAYS.items() if k not in case.body}
    for name, prop in read_only_fields(operation, ROOT).items():
        value = _planted(prop)
        if value is not None:
            plants[name] = value
    case.body = {**case.body, **plants}
    response = case.call(
        base_url="http://tenant-a.localhost", app=wsgi_app, headers={"Authorization": f"Bearer {owner_token}"}
    )
    if not 200 <= response.status_code < 300 or "json" not in response.headers.get("content-type", [""])[0]:
        return
    body = response.json()
    if not isinstance(body, dict):
        return
    taken = {name: value for name, value in plants.items() if body.get(name) == value}
    assert taken == {}, f"{case.method} {case.path} took read-only fields {taken}"
