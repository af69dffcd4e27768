from __future__ import annotations

import hashlib

import pytest
from django.core import mail
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_exists

from tenants.models import ApiToken, AuditAction, AuditEvent, Membership, Role, Tenant, User
from tests.conftest import Api


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["status"] == status and body["message"]
    if code:
        assert body["code"] == code
    return body


# me ----------------------------------------------------------------------------------------------


def test_me_on_a_tenant_host_says_who_and_what(world, api_for):
    body = api_for("a_analyst").get("/api/v1/me").json()
    assert body["email"] == "a-analyst@example.com"
    assert body["tenant"]["slug"] == "tenant-a" and body["tenant"]["roles"] == ["analyst"]
    assert body["capabilities"] == ["edit", "view"]
    assert body["token"] is None


def test_me_on_the_public_host_lists_reachable_tenants_and_agencies(world):
    api = Api("localhost", user=world.users["ag_admin"])
    body = api.get("/api/v1/me").json()
    assert [t["slug"] for t in body["tenants"]] == ["tenant-a"]
    assert body["agencies"] == [{"id": world.agency.pk, "name": "Agency Ag", "role": "admin"}]
    assert body["tenant"] is None


def test_me_with_a_token_shows_the_token_and_only_its_tenants(world, api_for):
    Membership.objects.create(user=world.users["a_owner"], tenant=world.b, role=Role.OWNER)
    body = api_for("a_owner", scope="read").get("/api/v1/me").json()
    assert body["token"]["scope"] == "read" and body["token"]["tenants"] == ["tenant-a"]
    assert body["capabilities"] == ["view"]
    assert [t["slug"] for t in body["tenants"]] == ["tenant-a"]


# authentication ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["", "Bearer nonsense", "Bearer cnd_abc_def", "Bearer", "Bearer a b", "Basic Zm9vOmJhcg=="],
)
def test_missing_or_bad_credentials_answer_401(world, header):
    client = Client(HTTP_HOST="tenant-a.localhost")
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header) if header else client.get("/api/v1/me")
    _error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_is_stored_hashed_shown_once_and_revocation_is_immediate(world, api_for):
    admin = api_for("a_admin")
    created = admin.post("/api/v1/tokens", {"name": "CI export", "scope": "read"})
    assert created.status_code == 201
    raw = created.json()["token"]
    token = ApiToken.objects.get(pk=created.json()["id"])
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest() and raw not in str(token.__dict__)
    assert "token" not in admin.get(f"/api/v1/tokens/{token.pk}").json()

    user_of_token = Api("tenant-a.localhost", token=raw)
    assert user_of_token.get("/api/v1/me").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None

    revoked = admin.delete(f"/api/v1/tokens/{token.pk}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    _error(user_of_token.get("/api/v1/me"), 401)
    actions = set(AuditEvent.objects.filter(tenant=world.a).values_list("action", flat=True))
    assert {AuditAction.TOKEN_CREATED, AuditAction.TOKEN_REVOKED} <= actions


def test_an_expired_token_is_refused(world, api_for):
    from datetime import timedelta

    from django.utils import timezone

    api = api_for("a_owner", scope="read")
    ApiToken.objects.filter(user=world.users["a_owner"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    _error(api.get("/api/v1/me"), 401)


def test_a_read_token_cannot_write(world, api_for):
    api = api_for("a_owner", scope="read")
    _error(
        api.post("/api/v1/members", {"email": "x@example.com", "role": "viewer"}), 403, "permission_denied"
    )
    assert not User.objects.filter(email="x@example.com").exists()


def test_tokens_are_only_created_by_admins_and_for_tenants_they_administer(world, api_for):
    _error(api_for("a_analyst").post("/api/v1/tokens", {"name": "mine"}), 403)
    owner = api_for("a_owner")
    body = _error(owner.post("/api/v1/tokens", {"name": "x", "tenants": ["tenant-b"]}), 400, "invalid")
    assert "tenants" in body["fields"]


def test_session_writes_need_the_csrf_token(world):
    client = Client(HTTP_HOST="tenant-a.localhost", enforce_csrf_checks=True)
    client.force_login(world.users["a_admin"])
    response = client.post("/api/v1/tokens", {"name": "x"}, content_type="application/json")
    _error(response, 403)
    assert not ApiToken.objects.filter(name="x").exists()


# members and roles -------------------------------------------------------------------------------


def test_admin_adds_a_member_who_gets_an_invitation(world, api_for):
    response = api_for("a_admin").post(
        "/api/v1/members", {"email": "New.Person@Example.com", "role": "analyst"}
    )
    assert response.status_code == 201
    assert response.json()["email"] == "new.person@example.com" and response.json()["role"] == "analyst"
    assert len(mail.outbox) == 1 and "http://localhost:8000/reset/" in mail.outbox[0].body
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_ADDED, tenant=world.a)
    assert event.target == "new.person@example.com" and event.actor == world.users["a_admin"]


def test_role_changes_are_gated_and_audited(world, api_for):
    analyst = Membership.objects.get(user=world.users["a_analyst"], tenant=world.a)
    _error(api_for("a_viewer").patch(f"/api/v1/members/{analyst.pk}", {"role": "admin"}), 403)
    admin = api_for("a_admin")
    # Only owners hand out the owner role.
    _error(admin.patch(f"/api/v1/members/{analyst.pk}", {"role": "owner"}), 403)
    response = admin.patch(f"/api/v1/members/{analyst.pk}", {"role": "approver"})
    assert response.status_code == 200 and response.json()["role"] == "approver"
    event = AuditEvent.objects.get(action=AuditAction.ROLE_CHANGED, tenant=world.a)
    assert event.details == {"from": "analyst", "to": "approver"}


def test_the_last_owner_cannot_be_demoted_or_removed(world, api_for):
    owner = Membership.objects.get(user=world.users["a_owner"], tenant=world.a)
    api = api_for("a_owner")
    body = _error(api.patch(f"/api/v1/members/{owner.pk}", {"role": "admin"}), 400, "invalid")
    assert "owner" in body["message"]
    _error(api.delete(f"/api/v1/members/{owner.pk}"), 400)
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_removing_a_member_ends_their_tokens_for_this_tenant(world, api_for):
    api = api_for("a_admin", scope="write")
    victim = Membership.objects.get(user=world.users["a_admin"], tenant=world.a)
    assert api_for("a_owner").delete(f"/api/v1/members/{victim.pk}").status_code == 204
    _error(api.get("/api/v1/me"), 404)


def test_mass_assignment_is_ignored(world, api_for):
    response = api_for("a_admin").post(
        "/api/v1/members",
        {
            "email": "mass@example.com",
            "role": "viewer",
            "tenant": world.b.pk,
            "is_staff": True,
            "is_superuser": True,
            "user": world.users["b_owner"].pk,
            "created_at": "2000-01-01T00:00:00Z",
        },
    )
    assert response.status_code == 201
    user = User.objects.get(email="mass@example.com")
    assert not user.is_staff and not user.is_superuser
    assert list(user.memberships.values_list("tenant__slug", flat=True)) == ["tenant-a"]
    assert response.json()["created_at"] > "2020"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "role": "viewer"}, "email"),
        ({"email": "ok@example.com", "role": "god"}, "role"),
        ({}, "email"),
        ({"email": "a-viewer@example.com", "role": "viewer"}, "email"),
    ],
)
def test_invalid_member_bodies_say_what_was_wrong(world, api_for, body, field):
    error = _error(api_for("a_admin").post("/api/v1/members", body), 400, "invalid")
    assert field in error["fields"]


def test_malformed_json_is_a_400_not_a_500(world, api_for):
    api = api_for("a_admin")
    response = api.client.post("/api/v1/members", data="{not json", content_type="application/json")
    _error(response, 400)
    response = api.client.post("/api/v1/members", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    response = api.client.post("/api/v1/members", data=b"\xff\xfe", content_type="application/json")
    assert response.status_code == 400


def test_unsupported_media_type_and_wrong_method(world, api_for):
    api = api_for("a_admin")
    _error(api.client.post("/api/v1/members", data="x", content_type="text/csv"), 415)
    _error(api.call("PUT", "/api/v1/members", {}), 405)


# lists: pagination, filtering, query counts ------------------------------------------------------


def test_members_list_is_cursor_paginated_with_a_capped_page_size(world, api_for):
    api = api_for("a_owner")
    page = api.get("/api/v1/members", {"page_size": "2"}).json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.client.get(page["next"]).json()
    assert {m["email"] for m in page["results"]}.isdisjoint({m["email"] for m in rest["results"]})
    huge = api.get("/api/v1/members", {"page_size": "1000000"})
    assert huge.status_code == 200 and len(huge.json()["results"]) == 5
    assert api.get("/api/v1/members", {"page_size": "-3"}).status_code == 200
    assert api.get("/api/v1/members", {"cursor": "garbage"}).status_code == 404


def test_list_filters(world, api_for):
    api = api_for("a_owner")
    assert [m["role"] for m in api.get("/api/v1/members", {"role": "approver"}).json()["results"]] == [
        "approver"
    ]
    _error(api.get("/api/v1/members", {"role": "nonsense"}), 400)


@pytest.mark.parametrize(
    ("path", "queries"), [("/api/v1/members", 8), ("/api/v1/tokens", 10), ("/api/v1/audit-events", 8)]
)
def test_list_query_counts_do_not_grow_with_rows(world, api_for, path, queries):
    api = api_for("a_owner")
    for i in range(3):
        api.post("/api/v1/members", {"email": f"m{i}@example.com", "role": "viewer"})
        api.post("/api/v1/tokens", {"name": f"t{i}"})

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(path).status_code == 200
        return len(queries)

    before = count()
    for i in range(3, 10):
        api.post("/api/v1/members", {"email": f"m{i}@example.com", "role": "viewer"})
        api.post("/api/v1/tokens", {"name": f"t{i}"})
    assert count() == before
    # Session, user, roles, the page (and the tokens' tenants), host routing being cached: each after
    # django-tenants' SET search_path (TENANT_LIMIT_SET_CALLS stays off: django-tenants#1262).
    assert before == queries


def test_audit_log_is_for_admins_and_filters_by_action(world, api_for):
    _error(api_for("a_analyst").get("/api/v1/audit-events"), 403)
    api = api_for("a_admin")
    api.post("/api/v1/tokens", {"name": "audited"})
    events = api.get("/api/v1/audit-events", {"action": "token_created"}).json()["results"]
    assert [e["target"].split(" (")[0] for e in events] == ["audited"]
    assert events[0]["actor"] == "a-admin@example.com" and events[0]["tenant"] == "tenant-a"
    _error(api.get("/api/v1/audit-events", {"since": "yesterday"}), 400)


# rate limits -------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(world, api_for):
    api = api_for("a_owner", scope="read")
    with override_settings(
        REST_FRAMEWORK={
            **__import__("django.conf").conf.settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"caller": "3/min", "anon": "3/min"},
        }
    ):
        statuses = [api.get("/api/v1/me").status_code for _ in range(4)]
        response = api.get("/api/v1/me")
        other = api_for("a_admin", scope="read").get("/api/v1/me")
    assert statuses == [200, 200, 200, 429]
    _error(response, 429, "throttled")
    assert int(response.headers["Retry-After"]) > 0
    assert other.status_code == 200, "each token has its own budget"


# agency API --------------------------------------------------------------------------------------


def test_agency_admin_creates_a_client_tenant_through_the_api(world):
    api = Api("localhost", user=world.users["ag_admin"])
    response = api.post(
        f"/api/v1/agencies/{world.agency.pk}/tenants", {"name": "Fresh Co", "slug": "fresh-co"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["url"] == "http://fresh-co.localhost:8000/"
    tenant = Tenant.objects.get(slug="fresh-co")
    assert tenant.agency == world.agency and schema_exists(tenant.schema_name)
    listed = api.get(f"/api/v1/agencies/{world.agency.pk}/tenants").json()["results"]
    assert {t["slug"] for t in listed} == {"tenant-a", "fresh-co"}
    # The new client is reachable at once by agency staff, and by nobody else.
    me = Api("fresh-co.localhost", user=world.users["ag_admin"]).get("/api/v1/me").json()
    assert me["tenant"]["roles"] == ["admin"]
    assert Api("fresh-co.localhost", user=world.users["a_owner"]).get("/api/v1/me").status_code == 404


def test_agency_viewer_cannot_create_tenants_and_bad_slugs_are_explained(world):
    viewer = Api("localhost", user=world.users["ag_viewer"])
    _error(viewer.post(f"/api/v1/agencies/{world.agency.pk}/tenants", {"name": "X", "slug": "xx-co"}), 403)
    admin = Api("localhost", user=world.users["ag_admin"])
    body = _error(
        admin.post(f"/api/v1/agencies/{world.agency.pk}/tenants", {"name": "X", "slug": "Bad!"}), 400
    )
    assert "slug" in body["fields"]


def test_agency_token_reaches_the_agency_endpoints_only_with_the_agency_scope(world):
    admin = Api("localhost", user=world.users["ag_admin"])
    created = admin.post(
        f"/api/v1/agencies/{world.agency.pk}/tokens",
        {"name": "portfolio", "scope": "read", "tenants": ["tenant-a"]},
    )
    assert created.status_code == 201, created.content
    raw = created.json()["token"]
    assert Api("localhost", token=raw).get(f"/api/v1/agencies/{world.agency.pk}/tenants").status_code == 200
    assert Api("tenant-a.localhost", token=raw).get("/api/v1/me").json()["capabilities"] == ["view"]
    assert Api("tenant-b.localhost", token=raw).get("/api/v1/me").status_code == 404


def test_agency_audit_log_covers_its_clients(world):
    AuditEvent.objects.create(action="sign_in", actor_label="someone", tenant=world.a)
    AuditEvent.objects.create(action="sign_in", actor_label="other", tenant=world.b)
    api = Api("localhost", user=world.users["ag_admin"])
    actors = {
        e["actor"] for e in api.get(f"/api/v1/agencies/{world.agency.pk}/audit-events").json()["results"]
    }
    assert "someone" in actors and "other" not in actors


# schema ------------------------------------------------------------------------------------------


def test_openapi_schema_lists_every_route_with_the_error_shape(world, client):
    response = client.get("/api/schema/?format=json", HTTP_HOST="localhost")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/me",
        "/api/v1/members",
        "/api/v1/members/{id}",
        "/api/v1/tokens",
        "/api/v1/audit-events",
        "/api/v1/agencies/{agency_pk}/tenants",
    ):
        assert path in paths, path
    for path_item in paths.values():
        for operation in path_item.values():
            for status in ("400", "401", "403", "404", "429"):
                assert operation["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
    assert "bearerAuth" in schema["components"]["securitySchemes"]
    docs = client.get("/api/docs/", HTTP_HOST="tenant-a.localhost")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_me_costs_the_same_queries_however_many_tenants_an_agency_runs(world):
    from tenants.services import tenant_create

    api = Api("localhost", user=world.users["ag_admin"])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/me").status_code == 200
        return len(queries)

    api.get("/api/v1/me")  # routes the host once, as a running server already has
    one = count()
    for i in range(3):
        tenant_create(name=f"Client {i}", slug=f"client-{i}", agency=world.agency)
    # Routed again: on a busy machine the three creations can outlast the 10-second route cache.
    api.get("/api/v1/me")
    assert count() == one
    assert len(api.get("/api/v1/me").json()["tenants"]) == 4
