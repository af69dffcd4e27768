"""The ethics and contacts API through real HTTP: purposes and notices, contacts, recording
consent, the history with evidence, verification, validation, roles and tenant isolation."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from ethics.models import ConsentEvent, FairnessSettings, ModelStatus, ModelVersion
from ethics.selectors import active_model_version
from ethics.services import ledger_check_run, model_version_audit
from tenants.models import AuditAction, AuditEvent
from tests.conftest import World
from tests.ethics.conftest import ONLY_REGION, audited, make_contact, record, register


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


def _verified(admin, world):
    """Ask for a ledger check over the API, run it as the worker would, and read it back."""
    check = admin.post("/api/v1/consent/verify").json()
    with tenant_context(world.a):
        ledger_check_run(check_id=check["id"])
    return admin.get("/api/v1/consent/verify").json()["results"][0]


def test_consent_is_recorded_with_evidence_and_the_history_shows_it(admin, world):
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
    latest = _verified(admin, world)
    assert (latest["status"], latest["checked"], latest["head_hash"]) == (
        "intact",
        withdraw.json()["seq"],
        withdraw.json()["hash"],
    )


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
    body = _verified(admin, world)
    assert body["status"] == "broken" and body["broken_event_id"] == events[1].pk and body["checked"] == 1


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
    _verified(admin, world)
    assert b_on_b.get("/api/v1/consent/verify").json()["results"] == []
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


REASON = "The south list is new; legal reviewed the campaign and accepts the disparity for Q3."


@pytest.fixture
def versions(world: World) -> dict[str, ModelVersion]:
    with tenant_context(world.a):
        FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})
        return {"fair": audited(True), "biased": audited(False), "new": register("timing")}


def test_list_filters_and_pins_queries(world, api_for, versions, django_assert_max_num_queries) -> None:
    api = api_for("a_viewer")
    with django_assert_max_num_queries(10):
        body = api.get("/api/v1/models").json()
    assert [v["id"] for v in body["results"]] == [versions[k].pk for k in ("new", "biased", "fair")]
    with tenant_context(world.a):
        for _ in range(5):
            register("timing")
    with django_assert_max_num_queries(10):
        assert len(api.get("/api/v1/models").json()["results"]) == 8
    rejected = api.get("/api/v1/models", {"status": "rejected"}).json()["results"]
    assert [(v["kind"], v["version"], v["audit_passed"]) for v in rejected] == [("engagement", 2, False)]
    assert rejected[0]["audit_failures"] == [
        "region: selection-rate ratio 0.50 is below 0.80 (four-fifths rule)"
    ]
    assert len(api.get("/api/v1/models", {"kind": "timing"}).json()["results"]) == 6
    assert "audit_report" not in rejected[0] and "artifact" not in rejected[0]


@pytest.mark.parametrize("query", [{"status": "on"}, {"kind": "DROP TABLE"}])
def test_bad_filters_are_400(world, api_for, versions, query) -> None:
    response = api_for("a_viewer").get("/api/v1/models", query)
    assert response.status_code == 400
    assert next(iter(query)) in response.json()["error"]["fields"]


def test_card_in_every_format(world, api_for, versions) -> None:
    api = api_for("a_viewer")
    pk = versions["biased"].pk
    card = api.get(f"/api/v1/models/{pk}/card").json()
    assert card["model"]["kind"] == "engagement" and card["audit"]["passed"] is False
    markdown = api.get(f"/api/v1/models/{pk}/card", {"to": "markdown"})
    assert markdown["Content-Type"].startswith("text/markdown")
    assert 'filename="model-card-engagement-v2.md"' in markdown["Content-Disposition"]
    assert b"Audit FAILED" in markdown.content
    pdf = api.get(f"/api/v1/models/{pk}/card", {"to": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert api.get(f"/api/v1/models/{pk}/card", {"to": "csv"}).status_code == 400
    assert api.get(f"/api/v1/models/{pk}/card", {"to": "docx"}).status_code == 400


def test_audit_report_and_exports(world, api_for, versions) -> None:
    api = api_for("a_viewer")
    pk = versions["biased"].pk
    report = api.get(f"/api/v1/models/{pk}/audit").json()
    attribute = report["attributes"][0]
    assert attribute["attribute"] == "region" and attribute["dp_ratio"] == pytest.approx(0.5)
    assert attribute["dp_ratio_ci"]["low"] < 0.5 < attribute["dp_ratio_ci"]["high"]
    exported = api.get(f"/api/v1/models/{pk}/audit", {"to": "csv"})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [(r["group"], r["count"], r["judged"]) for r in rows] == [
        ("north", "300", "1"),
        ("south", "300", "1"),
    ]
    assert float(rows[1]["selection_rate"]) == pytest.approx(0.25)
    as_json = api.get(f"/api/v1/models/{pk}/audit", {"to": "json"})
    assert "attachment" in as_json["Content-Disposition"]
    assert api.get(f"/api/v1/models/{versions['new'].pk}/audit").status_code == 404


def test_activation_gate_over_http(world, api_for, versions) -> None:
    admin = api_for("a_admin")
    biased = versions["biased"].pk
    refused = admin.post(f"/api/v1/models/{biased}/activate")
    assert refused.status_code == 400
    assert "override_reason" in refused.json()["error"]["fields"]
    short = admin.post(f"/api/v1/models/{biased}/activate", {"override_reason": "ok"})
    assert short.status_code == 400
    done = admin.post(f"/api/v1/models/{biased}/activate", {"override_reason": REASON})
    assert done.status_code == 200, done.content
    assert done.json()["status"] == ModelStatus.ACTIVE and done.json()["override_reason"] == REASON
    event = AuditEvent.objects.get(tenant=world.a, action=AuditAction.MODEL_AUDIT_OVERRIDDEN)
    assert event.details["override_reason"] == REASON
    # A passing version replaces it with no reason needed; the overridden one retires.
    fair = admin.post(f"/api/v1/models/{versions['fair'].pk}/activate")
    assert fair.status_code == 200 and fair.json()["override_reason"] == ""
    assert admin.get(f"/api/v1/models/{biased}").json()["status"] == ModelStatus.RETIRED
    unaudited = admin.post(f"/api/v1/models/{versions['new'].pk}/activate")
    assert unaudited.status_code == 400


@pytest.mark.parametrize("user", ["a_analyst", "a_approver", "a_viewer"])
def test_activation_needs_manage(world, api_for, versions, user) -> None:
    response = api_for(user).post(f"/api/v1/models/{versions['fair'].pk}/activate")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_read_token_cannot_activate(world, api_for, versions) -> None:
    api = api_for("a_admin", scope="read")
    assert api.get("/api/v1/models").status_code == 200
    assert api.post(f"/api/v1/models/{versions['fair'].pk}/activate").status_code == 403


def test_other_tenants_versions_answer_404(world, api_for, versions) -> None:
    api = api_for("b_owner", tenant=world.b)
    assert api.get("/api/v1/models").json()["results"] == []
    for suffix in ("", "/card", "/audit"):
        assert api.get(f"/api/v1/models/{versions['fair'].pk}{suffix}").status_code == 404
    assert (
        api.post(f"/api/v1/models/{versions['fair'].pk}/activate", {"override_reason": REASON}).status_code
        == 404
    )
    with tenant_context(world.a):
        assert ModelVersion.objects.get(pk=versions["fair"].pk).status == ModelStatus.AUDITED
    stranger = api_for("b_owner", tenant=world.a)
    assert stranger.get(f"/api/v1/models/{versions['fair'].pk}").status_code == 404
    assert stranger.get("/api/v1/fairness-settings").status_code == 404


def test_fairness_settings_read_and_change(world, api_for) -> None:
    viewer = api_for("a_viewer")
    settings = viewer.get("/api/v1/fairness-settings").json()
    assert [a["name"] for a in settings["sensitive_attributes"]] == [
        "age_band",
        "gender",
        "language",
        "region",
    ]
    assert settings["min_dp_ratio"] == 0.8 and settings["age_band_bounds"] == [25, 35, 55, 65]
    assert viewer.patch("/api/v1/fairness-settings", {"min_dp_ratio": 0.9}).status_code == 403
    admin = api_for("a_admin")
    changed = admin.patch(
        "/api/v1/fairness-settings",
        {"min_dp_ratio": 0.9, "max_eo_difference": 0.1, "sensitive_attributes": ONLY_REGION},
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["min_dp_ratio"] == 0.9 and changed.json()["sensitive_attributes"] == ONLY_REGION
    assert api_for("b_owner", tenant=world.b).get("/api/v1/fairness-settings").json()["min_dp_ratio"] == 0.8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min_dp_ratio": 1.5}, "min_dp_ratio"),
        ({"min_dp_ratio": "high"}, "min_dp_ratio"),
        ({"sensitive_attributes": []}, "sensitive_attributes"),
        (
            {"sensitive_attributes": [{"name": "Gender!", "source": "field", "key": "g"}]},
            "sensitive_attributes",
        ),
        ({"sensitive_attributes": [{"name": "g", "source": "psychic", "key": "g"}]}, "sensitive_attributes"),
        (
            {"sensitive_attributes": [{"name": "g", "source": "field", "key": "g"}] * 2},
            "sensitive_attributes",
        ),
        ({"age_band_bounds": [40, 30]}, "age_band_bounds"),
        ({"age_band_bounds": [0]}, "age_band_bounds"),
        ({"bootstrap_resamples": 5}, "bootstrap_resamples"),
        ({"min_group_size": 1}, "min_group_size"),
    ],
)
def test_fairness_settings_validation(world, api_for, body, field) -> None:
    response = api_for("a_admin").patch("/api/v1/fairness-settings", body)
    assert response.status_code == 400, response.content
    assert any(key.startswith(field) for key in response.json()["error"]["fields"]), response.json()


def test_audit_csv_escapes_formula_cells(world, api_for) -> None:
    """Group names come from contact data: a spreadsheet must not run them (RELIABILITY 18)."""
    with tenant_context(world.a):
        FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})
        version = register()
        model_version_audit(
            version=version,
            y_pred=[1, 0] * 40,
            sensitive={"region": ['=HYPERLINK("http://x")'] * 40 + ["@SUM(1)"] * 40},
        )
    exported = api_for("a_viewer").get(f"/api/v1/models/{version.pk}/audit", {"to": "csv"}).content.decode()
    groups = {row["group"] for row in csv.DictReader(io.StringIO(exported))}
    assert groups == {'\'=HYPERLINK("http://x")', "'@SUM(1)"}


def test_retire_is_a_kill_switch_for_admins(world, api_for, versions) -> None:
    admin = api_for("a_admin")
    pk = versions["fair"].pk
    assert admin.post(f"/api/v1/models/{pk}/retire", {"reason": "Not active yet"}).status_code == 400
    assert admin.post(f"/api/v1/models/{pk}/activate").status_code == 200
    assert api_for("a_analyst").post(f"/api/v1/models/{pk}/retire", {"reason": "x"}).status_code == 403
    missing = admin.post(f"/api/v1/models/{pk}/retire", {})
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    reason = "Complaints that the model skips older customers; investigating."
    done = admin.post(f"/api/v1/models/{pk}/retire", {"reason": reason})
    assert done.status_code == 200 and done.json()["status"] == ModelStatus.RETIRED
    with tenant_context(world.a):
        assert active_model_version(kind="engagement") is None
    event = AuditEvent.objects.get(tenant=world.a, action=AuditAction.MODEL_RETIRED)
    assert event.details["reason"] == reason and event.actor == world.users["a_admin"]
    assert (
        api_for("b_owner", tenant=world.b).post(f"/api/v1/models/{pk}/retire", {"reason": reason}).status_code
        == 404
    )
