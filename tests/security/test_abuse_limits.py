"""Broken authentication (OWASP API2) and unrestricted resource consumption (API4): token guessing
is locked out per address, and bodies, uploads and pages have limits that answer 413, 400 or a
capped page instead of costing the server."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import tenant_context

from personalization import records
from personalization.models import Contact
from tests.conftest import Api


def test_guessing_tokens_is_locked_out_per_address(world, api_for, settings):
    settings.CANDOR_TOKEN_MAX_FAILURES = 5
    guesser = Client(HTTP_HOST="tenant-a.localhost", REMOTE_ADDR="203.0.113.9")
    statuses = [
        guesser.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer cnd_abc{i}_guess").status_code for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    owner = api_for("a_owner", scope="read")
    # The right token from the guessing address is refused too: the address is locked, not the token.
    locked = guesser.get("/api/v1/me", **owner.headers)
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert locked.json()["error"]["code"] == "throttled"
    # Everyone else is unaffected.
    elsewhere = owner.client.get("/api/v1/me", REMOTE_ADDR="198.51.100.7", **owner.headers)
    assert elsewhere.status_code == 200


def test_a_rotated_x_forwarded_for_does_not_escape_the_lockout(world, settings):
    settings.CANDOR_TOKEN_MAX_FAILURES = 3
    guesser = Client(HTTP_HOST="tenant-a.localhost", REMOTE_ADDR="203.0.113.9")
    statuses = [
        guesser.get(
            "/api/v1/me", HTTP_AUTHORIZATION="Bearer cnd_abc_guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
        ).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


def test_a_json_body_over_the_limit_is_413_before_it_is_parsed(world, api_for, settings):
    settings.API_MAX_BODY_BYTES = 1000
    api = api_for("a_owner", scope="write")
    body = json.dumps({"name": "Ann", "attributes": {"note": "x" * 2000}})
    response = api.client.post("/api/v1/contacts", body, content_type="application/json", **api.headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    small = api.client.post(
        "/api/v1/contacts", {"name": "Ann"}, content_type="application/json", **api.headers
    )
    assert small.status_code == 201


def test_a_form_body_over_the_limit_is_413(world, api_for, settings):
    settings.API_MAX_BODY_BYTES = 1000
    api = api_for("a_owner", scope="write")
    response = api.client.post(
        "/api/v1/contacts",
        "name=" + "x" * 2000,
        content_type="application/x-www-form-urlencoded",
        **api.headers,
    )
    assert response.status_code == 413


def test_an_upload_over_the_limit_is_413(world, api_for, settings):
    settings.LISTENING_UPLOAD_MAX_BYTES = 100
    api = api_for("a_analyst", scope=None)
    response = api.client.post(
        "/api/v1/uploads", {"file": SimpleUploadedFile("big.csv", b"text,date\n" + b"a,1\n" * 100)}
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_a_contact_import_over_its_limit_is_a_400_naming_the_file(world, api_for, monkeypatch):
    monkeypatch.setattr(records, "IMPORT_MAX_BYTES", 100)
    api = api_for("a_admin", scope="write")
    response = api.client.post(
        "/api/v1/contacts/import",
        {"file": SimpleUploadedFile("c.csv", b"name\n" + b"Ann\n" * 100)},
        **api.headers,
    )
    assert response.status_code == 400 and "file" in response.json()["error"]["fields"]


def test_a_huge_page_size_is_capped(world):
    with tenant_context(world.a):
        Contact.objects.bulk_create(Contact(name=f"c{i}") for i in range(205))
    api = Api("tenant-a.localhost", user=world.users["a_owner"])
    response = api.get("/api/v1/contacts", {"page_size": "1000000"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 200 and response.json()["next"]
