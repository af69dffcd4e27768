"""The ethics and contacts API through real HTTP: purposes and notices, contacts, recording
consent, the history with evidence, verification, validation, roles and tenant isolation."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from ethics.models import ConsentEvent
from tests.ethics.conftest import make_contact, record


@pytest.fixture
def admin(api_for):
    return api_for("a_admin", scope="write")


def _contact(api, **extra):
    body = {
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "handles": [{"network": "mastodon", "handle": "@Ada"}],
    }
    response = api.post("/api/v1/contacts", {**body, **extra})
    assert response.status_code == 201, response.json()
    return response.json()


def test_contacts_are_created_listed_and_read(admin):
    created = _contact(
        admin, kind="press", time_zone="Europe/Berlin", language="de", attributes={"tier": "a"}
    )
    assert created["handles"] == [{"network": "mastodon", "handle": "ada"}]
    assert created["kind"] == "press" and created["time_zone"] == "Europe/Berlin"
    listed = admin.get("/api/v1/contacts").json()["results"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert admin.get(f"/api/v1/contacts/{created['id']}").json()["email"] == "ada@example.org"
    assert "uuid" not in created


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"handles": [{"network": "Bad Network!", "handle": "x"}]}, "handles.0.network"),
        ({"handles": [{"network": "x", "handle": "@"}]}, "handles.0.handle"),
        ({"email": "not-an-email"}, "email"),
        ({"kind": "alien"}, "kind"),
        ({"attributes": "nope"}, "attributes"),
    ],
)
def test_bad_contact_input_is_a_400_naming_the_field(admin, body, field):
    response = admin.post("/api/v1/contacts", {"name": "X", **body})
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()


def test_a_handle_of_another_contact_is_a_400(admin):
    _contact(admin)
    response = admin.post(
        "/api/v1/contacts", {"name": "Eve", "handles": [{"network": "mastodon", "handle": "ada"}]}
    )
    assert response.status_code == 400 and "handles" in response.json()["error"]["fields"]


def test_the_contact_list_takes_a_fixed_number_of_queries(admin, django_assert_max_num_queries):
    for i in range(3):
        _contact(admin, email=f"c{i}@example.org", handles=[{"network": "x", "handle": f"c{i}"}])
    # Token, membership, contacts, their handles: each with django-tenants' SET search_path.
    with django_assert_max_num_queries(8):
        admin.get("/api/v1/contacts")
    for i in range(3, 13):
        _contact(admin, email=f"c{i}@example.org", handles=[{"network": "x", "handle": f"c{i}"}])
    with django_assert_max_num_queries(8):
        assert len(admin.get("/api/v1/contacts").json()["results"]) == 13


def test_purposes_list_the_defaults_and_admins_add_one_and_publish_notices(admin, api_for):
    purposes = admin.get("/api/v1/purposes").json()["results"]
    assert [p["code"] for p in purposes] == ["analytics", "outreach", "personalization"]
    assert all(p["current_notice"]["version"] == 1 for p in purposes)
    created = admin.post(
        "/api/v1/purposes", {"code": "research", "name": "Research", "notice_text": "We study trends."}
    )
    assert created.status_code == 201 and created.json()["current_notice"]["version"] == 1
    pk = created.json()["id"]
    assert (
        admin.post(f"/api/v1/purposes/{pk}/notices", {"text": "We study trends, anonymised."}).status_code
        == 201
    )
    versions = admin.get(f"/api/v1/purposes/{pk}/notices").json()
    assert [(n["version"], n["text"]) for n in versions] == [
        (2, "We study trends, anonymised."),
        (1, "We study trends."),
    ]
    duplicate = admin.post("/api/v1/purposes", {"code": "research", "name": "R", "notice_text": "t"})
    assert duplicate.status_code == 400 and "code" in duplicate.json()["error"]["fields"]
    analyst = api_for("a_analyst")
    assert analyst.post(f"/api/v1/purposes/{pk}/notices", {"text": "x"}).status_code == 403


def test_consent_is_recorded_with_evidence_and_the_history_shows_it(admin):
    contact = _contact(admin)
    url = f"/api/v1/contacts/{contact['id']}/consents"
    grant = admin.post(
        url, {"purpose": "outreach", "action": "grant", "form_id": "signup-2026"}, HTTP_USER_AGENT="UA/1"
    )
    assert grant.status_code == 201, grant.json()
    assert grant.json()["notice_version"] == 1 and grant.json()["source"] == "api"
    withdraw = admin.post(url, {"purpose": "outreach", "action": "withdraw"})
    assert withdraw.status_code == 201
    history = admin.get(url).json()
    assert history["current"] == []
    assert [e["action"] for e in history["events"]] == ["grant", "withdraw"]
    assert history["events"][0]["evidence"] == {
        "ip_address": "127.0.0.1",
        "user_agent": "UA/1",
        "form_id": "signup-2026",
    }
    assert admin.get("/api/v1/consent/verify").json() == {
        "ok": True,
        "checked": withdraw.json()["seq"],
        "head_hash": withdraw.json()["hash"],
        "broken_seq": None,
        "broken_event_id": None,
        "reason": "",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purpose": "nope", "action": "grant"}, "purpose"),
        ({"purpose": "outreach", "action": "maybe"}, "action"),
        ({"purpose": "outreach", "action": "grant", "source": "preference_page"}, "source"),
        ({"purpose": "outreach", "action": "grant", "lawful_basis": "whim"}, "lawful_basis"),
        ({"purpose": "outreach", "action": "withdraw"}, "action"),
    ],
)
def test_bad_consent_input_is_a_400(admin, body, field):
    contact = _contact(admin)
    response = admin.post(f"/api/v1/contacts/{contact['id']}/consents", body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.json()


def test_an_unknown_notice_version_is_a_400(admin):
    contact = _contact(admin)
    body = {"purpose": "outreach", "action": "grant", "notice_version": 7}
    response = admin.post(f"/api/v1/contacts/{contact['id']}/consents", body)
    assert response.status_code == 400 and "notice_version" in response.json()["error"]["message"]


def test_verification_over_the_api_names_an_edited_event(admin, world):
    with tenant_context(world.a):
        contact = make_contact()
        events = [record(contact, code) for code in ("analytics", "outreach")]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("UPDATE ethics_consentevent SET source = 'import' WHERE id = %s", [events[1].pk])
            cursor.execute("SET LOCAL session_replication_role = origin")
    body = admin.get("/api/v1/consent/verify").json()
    assert body["ok"] is False and body["broken_event_id"] == events[1].pk and body["checked"] == 1


def test_a_viewer_reads_but_cannot_record(api_for, admin):
    contact = _contact(admin)
    viewer = api_for("a_viewer")
    assert viewer.get(f"/api/v1/contacts/{contact['id']}/consents").status_code == 200
    response = viewer.post(
        f"/api/v1/contacts/{contact['id']}/consents", {"purpose": "outreach", "action": "grant"}
    )
    assert response.status_code == 403


def test_tenant_b_reaches_none_of_tenant_a_contacts_or_consents(admin, api_for, world):
    contact = _contact(admin)
    admin.post(f"/api/v1/contacts/{contact['id']}/consents", {"purpose": "outreach", "action": "grant"})
    b_on_b = api_for("b_owner", tenant=world.b, scope="write")
    for path in (
        f"/api/v1/contacts/{contact['id']}",
        f"/api/v1/contacts/{contact['id']}/consents",
    ):
        assert b_on_b.get(path).status_code == 404
    assert b_on_b.post(f"/api/v1/contacts/{contact['id']}/preference-link").status_code == 404
    assert b_on_b.get("/api/v1/contacts").json()["results"] == []
    assert b_on_b.get("/api/v1/consent/verify").json()["checked"] == 0
    with tenant_context(world.b):
        assert ConsentEvent.objects.count() == 0


def test_a_batch_of_consents_is_recorded_in_order_or_refused_naming_the_event(admin):
    a, b = _contact(admin), _contact(admin, email="b@example.org", handles=[])
    body = {
        "events": [
            {"contact": a["id"], "purpose": "outreach", "action": "grant"},
            {"contact": b["id"], "purpose": "outreach", "action": "grant", "notice_version": 1},
            {"contact": a["id"], "purpose": "outreach", "action": "withdraw"},
        ]
    }
    done = admin.post("/api/v1/consent/events", body)
    assert done.status_code == 201, done.json()
    assert done.json()["recorded"] == 3 and done.json()["last_seq"] - done.json()["first_seq"] == 2
    history = admin.get(f"/api/v1/contacts/{a['id']}/consents").json()["events"]
    assert [(e["action"], e["source"]) for e in history] == [("grant", "import"), ("withdraw", "import")]
    for events, field in (
        ([{"contact": 999_999, "purpose": "outreach", "action": "grant"}], "events.0.contact"),
        ([{"contact": a["id"], "purpose": "nope", "action": "grant"}], "events.0.purpose"),
        (
            [{"contact": a["id"], "purpose": "outreach", "action": "grant", "notice_version": 9}],
            "events.0.notice_version",
        ),
        (
            [
                {"contact": b["id"], "purpose": "analytics", "action": "grant"},
                {"contact": a["id"], "purpose": "analytics", "action": "withdraw"},
            ],
            "events.1.action",
        ),
        ([{"contact": a["id"], "purpose": "outreach", "action": "grant"}] * 1001, "events"),
        ([], "events"),
    ):
        refused = admin.post("/api/v1/consent/events", {"events": events})
        fields = refused.json()["error"]["fields"]
        assert refused.status_code == 400 and any(k.startswith(field) for k in fields), (field, fields)
    assert len(admin.get(f"/api/v1/contacts/{b['id']}/consents").json()["events"]) == 1
