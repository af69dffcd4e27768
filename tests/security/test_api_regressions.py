"""Regressions for what the schemathesis run (test_schemathesis.py) found, one focused test each:
500s on hostile input, and answers that broke the schema they are documented with."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import tenant_context

from listening.models import SourceKind
from personalization.models import Contact
from tests.security.openapi import assert_conforms, spec


@pytest.fixture
def owner(api_for):
    return api_for("a_owner", scope="write")


@pytest.mark.parametrize("path", ["/api/v1/consent/events", "/api/v1/messages", "/api/v1/contacts/import"])
def test_options_answers_405_instead_of_a_500(owner, path):
    """DRF's OPTIONS metadata needed a serializer class on every view; the schema documents the API."""
    response = owner.client.options(path, **owner.headers)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a": ' * 50_000])
def test_json_nested_past_the_decoder_limit_is_a_400(owner, body):
    response = owner.client.post("/api/v1/contacts", body, content_type="application/json", **owner.headers)
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "attributes",
    [{"tier": "g\u0000ld"}, {"t\ud800": "gold"}, {"a": [[[[[[[[[[[[["deep"]]]]]]]]]]]]]}],
)
def test_contact_attributes_postgresql_cannot_store_are_a_400(owner, world, attributes):
    body = json.dumps({"name": "Ann", "attributes": attributes})
    response = owner.client.post("/api/v1/contacts", body, content_type="application/json", **owner.headers)
    assert response.status_code == 400
    assert "attributes" in response.json()["error"]["fields"]
    with tenant_context(world.a):
        assert not Contact.objects.filter(name="Ann").exists()


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("GET", "/api/v1/me", "/api/v1/me"),
        ("GET", "/api/v1/crisis-mode", "/api/v1/crisis-mode"),
        ("GET", "/api/v1/inbox/settings", "/api/v1/inbox/settings"),
        ("GET", "/api/v1/consent/verify", "/api/v1/consent/verify"),
        ("GET", "/api/v1/alerts/quality", "/api/v1/alerts/quality"),
        ("GET", "/api/v1/retention/dry-run", "/api/v1/retention/dry-run"),
        ("GET", "/api/v1/posts/calendar", "/api/v1/posts/calendar"),
        ("GET", "/api/v1/posts/preview-all?action=pause", "/api/v1/posts/preview-all"),
    ],
)
def test_single_objects_and_unpaginated_lists_are_documented_as_such(owner, method, path, template):
    """drf-spectacular documented these as pages of objects (tenants.api.schema.AutoSchema)."""
    response = owner.call(method, path)
    assert response.status_code == 200, response.content
    assert_conforms(method, template, response)


def test_paginated_lists_stay_documented_as_pages():
    paths = spec()["paths"]
    for path in (
        "/api/v1/mentions",
        "/api/v1/inbox",
        "/api/v1/topics/{id}/mentions",
        "/api/v1/posts/{id}/sends",
    ):
        ok = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].startswith("#/components/schemas/Paginated"), path
        assert any(p["name"] == "cursor" for p in paths[path]["get"]["parameters"]), path


def test_a_contact_without_an_email_conforms(owner):
    response = owner.post("/api/v1/contacts", {"name": "Ann"})
    assert response.status_code == 201 and response.json()["email"] == ""
    assert_conforms("POST", "/api/v1/contacts", response)


def test_a_source_without_a_webhook_secret_conforms(owner):
    response = owner.post("/api/v1/sources", {"name": "Exports", "kind": SourceKind.UPLOAD})
    assert response.status_code == 201 and response.json()["secret"] is None
    assert_conforms("POST", "/api/v1/sources", response)
