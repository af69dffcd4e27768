"""The statements API end to end: drafting (a missing template variable is a 400 naming it),
the tone check without saving, claims, submit, approve and reject permissions, publish, the
settings, another tenant's objects answering 404, the pinned query count of the list, and the
portal pages answering."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crisis.models import Statement, TimelineEntry
from tests.crisis.statements.conftest import JETBLUE_LIKE, UNITED_LIKE, make_incident

pytestmark = pytest.mark.embedder


@pytest.fixture
def incident_id(world):
    with tenant_context(world.a):
        return make_incident().pk


def test_draft_from_a_template_names_the_missing_variable_then_renders(world, api_for, incident_id):
    api = api_for("a_analyst")
    templates = api.get(f"/api/v1/incidents/{incident_id}/statements/templates").json()
    holding = next(t for t in templates if t["id"] == "holding-statement")
    assert holding["missing"] == ["next_update"] and holding["variables"]["company"]["value"] == "Acme Cloud"

    response = api.post(f"/api/v1/incidents/{incident_id}/statements", {"template_id": "holding-statement"})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["variables"] and "{next_update}" in error["message"]

    response = api.post(
        f"/api/v1/incidents/{incident_id}/statements",
        {"template_id": "holding-statement", "variables": {"next_update": "10:30 UTC"}},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["version"] == 1 and "10:30 UTC" in body["body"]
    assert body["tone_report"]["verdict"] == "ready"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "x", "body": ""}, "body"),
        ({"title": "", "body": "We are sorry."}, "title"),
        ({"title": "x", "body": "y", "template_id": "holding-statement"}, "body"),
        ({"title": "x", "variables": ["not", "an", "object"]}, "variables"),
        ({"title": "x", "body": "y" * 20_001}, "body"),
    ],
)
def test_bad_drafts_are_400_naming_the_field(world, api_for, incident_id, payload, field):
    response = api_for("a_analyst").post(f"/api/v1/incidents/{incident_id}/statements", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_tone_check_answers_a_report_and_saves_nothing(world, api_for, incident_id):
    api = api_for("a_analyst")
    report = api.post("/api/v1/statements/tone-check", {"text": UNITED_LIKE, "incident": incident_id}).json()
    assert report["verdict"] == "not_ready" and any(f["rule"] == "customer-refused" for f in report["flags"])
    assert api.post("/api/v1/statements/tone-check", {"text": JETBLUE_LIKE}).json()["flags"] == []
    assert api.post("/api/v1/statements/tone-check", {}).status_code == 400
    assert api_for("a_viewer").post("/api/v1/statements/tone-check", {"text": "x"}).status_code == 403
    with tenant_context(world.a):
        assert not Statement.objects.exists()


def _ready(api, incident_id):
    statement = api.post(
        f"/api/v1/incidents/{incident_id}/statements", {"title": "Holding", "body": JETBLUE_LIKE}
    ).json()
    claims = api.get(f"/api/v1/statements/{statement['id']}/claims").json()
    assert "Since 09:40 UTC, many of you cannot sign in to Acme Cloud." in claims["suggested"]
    claim = api.post(f"/api/v1/statements/{statement['id']}/claims", {"text": claims["suggested"][0]}).json()
    response = api.post(f"/api/v1/statements/{statement['id']}/submit")
    assert response.status_code == 400 and "claims" in response.json()["error"]["fields"]
    assert (
        api.patch(
            f"/api/v1/statements/{statement['id']}/claims/{claim['id']}", {"status": "confirmed"}
        ).status_code
        == 400
    )
    response = api.patch(
        f"/api/v1/statements/{statement['id']}/claims/{claim['id']}",
        {"status": "confirmed", "basis": "pager"},
    )
    assert response.status_code == 200 and response.json()["status"] == "confirmed"
    response = api.post(f"/api/v1/statements/{statement['id']}/submit", {"due_minutes": 20})
    assert response.status_code == 200, response.content
    return statement["id"]


def test_the_approval_flow_through_the_api(world, api_for, incident_id):
    author = api_for("a_analyst")
    statement_id = _ready(author, incident_id)
    assert author.post(f"/api/v1/statements/{statement_id}/approve").status_code == 403
    assert api_for("a_viewer").post(f"/api/v1/statements/{statement_id}/approve").status_code == 403
    response = api_for("a_approver").post(f"/api/v1/statements/{statement_id}/reject")
    assert response.status_code == 400 and "comment" in response.json()["error"]["fields"]
    response = api_for("a_approver").post(f"/api/v1/statements/{statement_id}/approve", {"comment": "ok"})
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert response.json()["approvals_count"] == 1
    response = api_for("a_approver").post(f"/api/v1/statements/{statement_id}/publish", {"channels": []})
    assert response.status_code == 400 and "channels" in response.json()["error"]["fields"]
    response = author.patch(f"/api/v1/statements/{statement_id}", {"body": JETBLUE_LIKE + " Thanks."})
    assert response.json()["status"] == "draft" and response.json()["version"] == 2
    with tenant_context(world.a):
        assert TimelineEntry.objects.filter(data__statement_id=statement_id).count() >= 6


def test_the_author_answer_is_403_through_the_api(world, api_for, incident_id):
    statement_id = _ready(api_for("a_admin"), incident_id)
    response = api_for("a_admin").post(f"/api/v1/statements/{statement_id}/approve")
    assert response.status_code == 403 and "someone else" in response.json()["error"]["message"]


def test_settings_read_by_members_changed_by_admins(world, api_for):
    assert api_for("a_viewer").get("/api/v1/statements/settings").json()["approvals_required"] == 1
    assert (
        api_for("a_analyst").patch("/api/v1/statements/settings", {"approvals_required": 2}).status_code
        == 403
    )
    response = api_for("a_admin").patch("/api/v1/statements/settings", {"approvals_required": 9})
    assert response.status_code == 400 and "approvals_required" in response.json()["error"]["fields"]
    response = api_for("a_admin").patch("/api/v1/statements/settings", {"approval_minutes": 20})
    assert response.status_code == 200 and response.json()["approval_minutes"] == 20


def test_another_tenants_incident_and_statement_answer_404(world, api_for, incident_id):
    statement_id = _ready(api_for("a_analyst"), incident_id)
    other = api_for("b_owner", tenant=world.b)
    assert other.get(f"/api/v1/incidents/{incident_id}/statements").status_code == 404
    assert (
        other.post(f"/api/v1/incidents/{incident_id}/statements", {"title": "x", "body": "y"}).status_code
        == 404
    )
    for path in ("", "/claims"):
        assert other.get(f"/api/v1/statements/{statement_id}{path}").status_code == 404
    for action in ("submit", "approve", "reject", "publish"):
        assert (
            other.post(
                f"/api/v1/statements/{statement_id}/{action}", {"channels": [1], "comment": "x"}
            ).status_code
            == 404
        )
    # Tenant A's own people do not reach B's host either.
    assert api_for("a_owner", tenant=world.b).get(f"/api/v1/statements/{statement_id}").status_code == 404


def test_the_list_query_count_is_pinned(world, api_for, incident_id):
    api = api_for("a_analyst")

    def listing():
        with CaptureQueriesContext(connection) as queries:
            response = api.get(f"/api/v1/incidents/{incident_id}/statements")
        assert response.status_code == 200
        return len(queries), response.json()["results"]

    _ready(api, incident_id)
    listing()
    before, first = listing()
    _ready(api, incident_id)
    _ready(api, incident_id)
    after, second = listing()
    assert after == before and len(second) == 3 > len(first)
    assert before <= 14  # session, user, roles, search_path, the incident, the page, approvals, publications


def test_the_portal_pages_answer(world, api_for, incident_id):
    statement_id = _ready(api_for("a_analyst"), incident_id)
    viewer = api_for("a_viewer")
    page = viewer.get(f"/crisis/incidents/{incident_id}/statements/")
    assert page.status_code == 200 and b"Holding" in page.content and b"Draft a statement" not in page.content
    page = viewer.get(f"/crisis/statements/{statement_id}/")
    assert page.status_code == 200 and b"Verification checklist" in page.content
    assert b'data-testid="decide"' not in page.content
    assert (
        api_for("a_approver")
        .get(f"/crisis/statements/{statement_id}/")
        .content.count(b'data-testid="decide"')
        == 1
    )
    assert viewer.post(f"/crisis/statements/{statement_id}/decide/", {}).status_code == 403
    chosen = api_for("a_analyst").get(
        f"/crisis/incidents/{incident_id}/statements/?template=holding-statement"
    )
    assert b'name="var_next_update"' in chosen.content and b'class="missing"' in chosen.content
