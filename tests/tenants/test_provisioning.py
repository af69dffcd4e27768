from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from tenants.models import AuditAction, AuditEvent, Domain, Membership, Role, Tenant
from tenants.services import tenant_create


def _migrations(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations')  # noqa: S608 - test-owned name
        return set(cursor.fetchall())


def test_tenant_is_cloned_from_the_template_with_its_migration_history(world, django_assert_max_num_queries):
    owner = world.users["a_owner"]
    tenant = tenant_create(name="Acme Cloud", slug="acme-cloud", owner=owner)

    assert tenant.schema_name == "t_acme_cloud"
    assert schema_exists("t_acme_cloud")
    assert _migrations("t_acme_cloud") == _migrations(settings.TENANT_BASE_SCHEMA)
    assert Domain.objects.get(tenant=tenant).domain == "acme-cloud.localhost"
    assert Membership.objects.get(tenant=tenant).role == Role.OWNER
    event = AuditEvent.objects.get(action=AuditAction.TENANT_CREATED, tenant=tenant)
    assert event.target == "acme-cloud"


@pytest.mark.parametrize(
    ("slug", "field"),
    [("Bad Slug", "slug"), ("ab", "slug"), ("www", "slug"), ("tenant-a", "slug"), ("-lead", "slug")],
)
def test_tenant_create_refuses_bad_or_taken_addresses(world, slug, field):
    with pytest.raises(ValidationError) as error:
        tenant_create(name="X", slug=slug)
    assert field in error.value.message_dict
    assert not Tenant.objects.filter(slug=slug, is_client=True).exclude(pk=world.a.pk).exists()


def test_tenant_create_needs_a_name(world):
    with pytest.raises(ValidationError) as error:
        tenant_create(name="  ", slug="nameless")
    assert "name" in error.value.message_dict


def test_management_command_creates_a_tenant(world, capsys):
    call_command(
        "tenant_create",
        "--name",
        "Cmd Co",
        "--slug",
        "cmd-co",
        "--agency",
        "agency-ag",
        "--owner",
        "a-owner@example.com",
    )
    tenant = Tenant.objects.get(slug="cmd-co")
    assert tenant.agency == world.agency
    assert "http://cmd-co.localhost" in capsys.readouterr().out


def test_management_command_reports_errors_without_a_traceback(world):
    with pytest.raises(CommandError, match="slug"):
        call_command("tenant_create", "--name", "Dup", "--slug", "tenant-a")
    with pytest.raises(CommandError, match="No agency"):
        call_command("tenant_create", "--name", "X", "--slug", "xyz-co", "--agency", "nope")


def test_unknown_host_answers_404_not_the_public_site(world, client):
    response = client.get("/", HTTP_HOST="nobody.localhost")
    assert response.status_code == 404
    api = client.get("/api/v1/me", HTTP_HOST="nobody.localhost")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_forged_host_headers_are_refused(world, client):
    assert client.get("/", HTTP_HOST="evil.example.com").status_code in (400, 404)
    # X-Forwarded-Host is never trusted: the public host stays the public host.
    response = client.get("/login/", HTTP_HOST="localhost", HTTP_X_FORWARDED_HOST="tenant-a.localhost")
    assert response.status_code == 200
    assert b"Sign in" in response.content
