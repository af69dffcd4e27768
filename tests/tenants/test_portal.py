from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.test import Client, override_settings

from tenants.models import ApiToken, AuditAction, AuditEvent, Membership, Tenant, User
from tests.conftest import PASSWORD


def public() -> Client:
    return Client(HTTP_HOST="localhost")


def on(tenant_slug: str) -> Client:
    return Client(HTTP_HOST=f"{tenant_slug}.localhost")


def sign_in(client: Client, email: str, password: str = PASSWORD, **extra):
    return client.post("/login/", {"email": email, "password": password, **extra})


def switch(client: Client, slug: str, next_path: str = "/") -> Client:
    """Follow the switcher's hand-off onto the tenant host; returns that host's client."""
    response = client.get(f"/go/{slug}/", {"next": next_path})
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert url.hostname == f"{slug}.localhost"
    tenant_client = on(slug)
    landed = tenant_client.get(url.path, parse_qs(url.query))
    assert landed.status_code == 302 and landed["Location"] == next_path
    return tenant_client


def test_sign_in_page_renders_with_csrf(world):
    response = public().get("/login/")
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content and b"Forgot your password?" in response.content


def test_sign_in_lands_on_the_switcher_listing_reachable_workspaces(world):
    client = public()
    response = sign_in(client, "a-owner@example.com")
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/").content.decode()
    assert "Tenant A" in page and "Tenant B" not in page
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN, actor=world.users["a_owner"]).exists()


def test_wrong_password_is_refused_audited_and_locked_after_repeats(world):
    client = public()
    for _ in range(5):
        response = sign_in(client, "a-viewer@example.com", "wrong")
        assert response.status_code == 200 and b"do not match" in response.content
    locked = sign_in(client, "a-viewer@example.com")  # even the right password, while locked
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED, target="a-viewer@example.com")
    assert failed.count() == 6
    # Another address is not locked out by this one (a rotated X-Forwarded-For changes nothing).
    other = Client(HTTP_HOST="localhost", REMOTE_ADDR="10.9.9.9")
    assert sign_in(other, "a-viewer@example.com").status_code == 302
    spoof = Client(HTTP_HOST="localhost", HTTP_X_FORWARDED_FOR="10.1.1.1")
    assert b"Too many failed sign-ins" in sign_in(spoof, "a-viewer@example.com").content


def test_sign_in_rotates_the_session_key(world):
    client = public()
    client.get("/login/")
    client.cookies["sessionid"] = "attackerchosensessionid"
    sign_in(client, "a-owner@example.com")
    assert client.cookies["sessionid"].value != "attackerchosensessionid"


def test_open_redirects_are_refused(world):
    client = public()
    response = sign_in(client, "a-owner@example.com", next="https://evil.example.com/")
    assert response["Location"] == "/"


def test_switching_to_a_workspace_signs_in_on_its_host_once(world):
    client = public()
    sign_in(client, "a-owner@example.com")
    handoff = urlsplit(client.get("/go/tenant-a/", {"next": "/settings/members/"})["Location"])
    tenant_client = on("tenant-a")
    assert tenant_client.get(handoff.path, parse_qs(handoff.query))["Location"] == "/settings/members/"
    assert "A owner" in tenant_client.get("/settings/members/").content.decode()
    # The link is one-use, and is worthless on another tenant's host.
    replay = on("tenant-a").get(handoff.path, parse_qs(handoff.query))
    assert replay.status_code == 302 and replay["Location"].startswith("http://localhost:8000/login/")
    elsewhere = on("tenant-b").get(handoff.path, parse_qs(handoff.query))
    assert elsewhere["Location"].startswith("http://localhost:8000/login/")


def test_a_non_member_cannot_switch_into_or_browse_a_workspace(world):
    client = public()
    sign_in(client, "b-owner@example.com")
    assert client.get("/go/tenant-a/").status_code == 404
    stranger = on("tenant-a")
    stranger.force_login(world.users["b_owner"])
    assert stranger.get("/").status_code == 404
    assert "Tenant A" not in stranger.get("/settings/members/").content.decode()


def test_anonymous_visitors_of_a_workspace_are_sent_to_sign_in(world):
    response = on("tenant-a").get("/listening/")
    assert response.status_code == 302
    assert response["Location"].startswith("http://localhost:8000/login/?next=%2Fgo%2Ftenant-a%2F")


def test_every_section_has_a_useful_empty_state(world):
    client = on("tenant-a")
    client.force_login(world.users["a_viewer"])
    for section, words in {
        "listening": "Connect a source",
        "crisis": "playbooks",
        "audience": "Import",
        "ethics": "purposes",
    }.items():
        page = client.get(f"/{section}/").content.decode()
        assert words in page, section
        assert 'aria-current="page"' in page


def test_viewers_do_not_see_or_reach_settings(world):
    client = on("tenant-a")
    client.force_login(world.users["a_viewer"])
    assert "/settings/members/" not in client.get("/").content.decode()
    for path in ("/settings/members/", "/settings/tokens/", "/settings/audit/"):
        assert client.get(path).status_code == 403


def test_members_page_adds_changes_and_removes(world):
    client = on("tenant-a")
    client.force_login(world.users["a_admin"])
    response = client.post(
        "/settings/members/", {"email": "pat@example.com", "full_name": "Pat", "role": "viewer"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="pat@example.com", tenant=world.a)
    client.post(f"/settings/members/{membership.pk}/role/", {"role": "analyst"})
    membership.refresh_from_db()
    assert membership.role == "analyst"
    owner = Membership.objects.get(user=world.users["a_owner"], tenant=world.a)
    page = client.post(f"/settings/members/{owner.pk}/role/", {"role": "viewer"}, follow=True)
    assert "owner" in page.content.decode().lower() and Membership.objects.get(pk=owner.pk).role == "owner"
    client.post(f"/settings/members/{membership.pk}/remove/")
    assert not Membership.objects.filter(pk=membership.pk).exists()
    bad = client.post("/settings/members/", {"email": "nope", "role": "viewer"})
    assert bad.status_code == 200 and b"valid email" in bad.content


def test_members_of_another_tenant_cannot_be_edited_through_this_host(world):
    b_member = Membership.objects.get(user=world.users["b_admin"], tenant=world.b)
    client = on("tenant-a")
    client.force_login(world.users["a_owner"])
    assert client.post(f"/settings/members/{b_member.pk}/role/", {"role": "viewer"}).status_code == 404
    assert client.post(f"/settings/members/{b_member.pk}/remove/").status_code == 404
    assert Membership.objects.get(pk=b_member.pk).role == "admin"


def test_tokens_page_shows_the_secret_once_and_revokes(world):
    client = on("tenant-a")
    client.force_login(world.users["a_admin"])
    created = client.post("/settings/tokens/", {"name": "Looker", "scope": "read"})
    assert created.status_code == 302, "post/redirect/get: a reload cannot mint a second token"
    page = client.get(created["Location"]).content.decode()
    raw = re.search(r'value="(cnd_[^"]+)"', page).group(1)
    api = Client(HTTP_HOST="tenant-a.localhost")
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    assert raw not in client.get("/settings/tokens/").content.decode()
    token = ApiToken.objects.get(name="Looker")
    client.post(f"/settings/tokens/{token.pk}/revoke/")
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_admins_are_not_offered_owner_actions(world):
    client = on("tenant-a")
    client.force_login(world.users["a_admin"])
    page = client.get("/settings/members/").content.decode()
    assert '<option value="owner"' not in page
    owner = Membership.objects.get(user=world.users["a_owner"], tenant=world.a)
    assert f"/settings/members/{owner.pk}/remove/" not in page
    owner_client = on("tenant-a")
    owner_client.force_login(world.users["a_owner"])
    assert '<option value="owner"' in owner_client.get("/settings/members/").content.decode()


def test_audit_page_lists_this_tenants_events_only(world):
    AuditEvent.objects.create(action="sign_in", actor_label="visible@example.com", tenant=world.a)
    AuditEvent.objects.create(action="sign_in", actor_label="hidden@example.com", tenant=world.b)
    client = on("tenant-a")
    client.force_login(world.users["a_admin"])
    page = client.get("/settings/audit/").content.decode()
    assert "visible@example.com" in page and "hidden@example.com" not in page


def test_password_reset_by_email_then_sign_in(world):
    client = public()
    response = client.post("/password-reset/", {"email": "a-analyst@example.com"})
    assert b"Check your email" in response.content
    link = re.search(r"http://localhost:8000(/reset/\S+)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"},
        follow=True,
    )
    assert b"Password saved" in done.content
    assert sign_in(public(), "a-analyst@example.com", "a-brand-new-passphrase").status_code == 302


def test_password_reset_does_not_reveal_whether_an_account_exists(world):
    response = public().post("/password-reset/", {"email": "nobody@example.com"})
    assert b"Check your email" in response.content and len(mail.outbox) == 0


def test_sign_out_on_a_workspace_signs_out_everywhere(world):
    client = public()
    sign_in(client, "a-owner@example.com")
    tenant_client = switch(client, "tenant-a")
    response = tenant_client.post("/logout/")
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert url.hostname == "localhost" and url.path == "/logout/"
    client.get(url.path, parse_qs(url.query))
    assert client.get("/").status_code == 302
    assert tenant_client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_OUT, actor=world.users["a_owner"]).count() == 2


def test_agency_home_lists_clients_and_admins_create_one(world):
    client = public()
    client.force_login(world.users["ag_admin"])
    page = client.get(f"/agency/{world.agency.pk}/").content.decode()
    assert "Tenant A" in page and "Tenant B" not in page
    response = client.post(f"/agency/{world.agency.pk}/", {"name": "New Client", "slug": "new-client"})
    assert response.status_code == 302
    assert Tenant.objects.get(slug="new-client").agency == world.agency
    taken = client.post(f"/agency/{world.agency.pk}/", {"name": "Dup", "slug": "tenant-b"})
    assert b"already taken" in taken.content


def test_agency_viewers_cannot_create_and_outsiders_see_nothing(world):
    viewer = public()
    viewer.force_login(world.users["ag_viewer"])
    assert viewer.post(f"/agency/{world.agency.pk}/", {"name": "X", "slug": "xx-co"}).status_code == 403
    outsider = public()
    outsider.force_login(world.users["b_owner"])
    assert outsider.get(f"/agency/{world.agency.pk}/").status_code == 404


@pytest.mark.parametrize("path", ["/login/", "/go/tenant-a/", "/agency/999999/", "/nope/"])
def test_odd_requests_never_answer_500(world, path):
    client = public()
    client.force_login(world.users["a_owner"])
    for method in ("get", "post", "put", "delete"):
        assert getattr(client, method)(path).status_code < 500


@override_settings(DEBUG=False)
def test_csrf_failure_page_is_friendly(world):
    client = Client(HTTP_HOST="localhost", enforce_csrf_checks=True)
    response = client.post("/login/", {"email": "a@example.com", "password": "x"})
    assert response.status_code == 403 and b"Reload the page" in response.content


def test_invited_member_sets_a_first_password(world):
    client = on("tenant-a")
    client.force_login(world.users["a_admin"])
    client.post("/settings/members/", {"email": "invitee@example.com", "role": "viewer"})
    invitee = User.objects.get(email="invitee@example.com")
    assert not invitee.has_usable_password()
    assert "/reset/" in mail.outbox[0].body
