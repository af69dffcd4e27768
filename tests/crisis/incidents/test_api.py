"""The incidents API: declare (from an alert, by hand, with Idempotency-Key), list with filters
(query counts pinned), the detail, changes, status, roles, tasks, notes, the timeline by cursor,
the scenario suggestion and the pause preview; permissions and isolation."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crisis.models import Incident, TimelineKind
from personalization.post_models import PostStatus, ScheduledPost
from tests.crisis.incidents.conftest import make_alert, make_channel, make_scheduled

BASE = "/api/v1/incidents"


def _declare(api, key: str = "", **overrides):
    body = {
        "title": "Login outage",
        "scenario": "service_outage",
        "severity": 2,
        "pause": "none",
        **overrides,
    }
    return api.post(BASE, body, **({"HTTP_IDEMPOTENCY_KEY": key} if key else {}))


def test_declare_from_an_alert_through_the_api(world, api_for):
    with tenant_context(world.a):
        alert = make_alert(texts=["Cannot log in, everything is down"])
        channel = make_channel("Website")
        post = make_scheduled(channel, "Spring sale!")
    api = api_for("a_analyst")
    preview = api.post(f"{BASE}/preview", {"pause": "channels", "channels": [channel.pk]})
    assert [p["id"] for p in preview.json()] == [post.pk]
    answer = _declare(
        api,
        alert=alert.pk,
        severity=1,
        owner=world.users["a_admin"].pk,
        pause="channels",
        channels=[channel.pk],
        variables={"service": "the dashboard"},
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (
        body["source"] == "alert"
        and body["alert"] == alert.pk
        and body["owner_id"] == world.users["a_admin"].pk
    )
    assert body["roles"] == [{"role": "incident_commander", "user_id": world.users["a_admin"].pk}]
    assert len(body["tasks"]) == 8 and body["playbook_key"] == "service-outage"
    assert body["statements"] == []
    with tenant_context(world.a):
        post.refresh_from_db()
        assert (
            post.status == PostStatus.PAUSED
            and post.pause_reason == f"Crisis mode: Incident #{body['id']}: Login outage"
        )


def test_the_api_declares_by_hand_and_replays_an_idempotent_request(world, api_for):
    api = api_for("a_owner")
    first = _declare(api, key="abc")
    assert first.status_code == 201 and first.json()["source"] == "api"
    again = _declare(api, key="abc")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = _declare(api, title="Something else", key="abc")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    with tenant_context(world.a):
        assert Incident.objects.count() == 1


def test_bad_input_is_a_400_naming_the_field(world, api_for):
    api = api_for("a_owner")
    cases = [
        ({"scenario": "nope"}, "scenario"),
        ({"severity": 7}, "severity"),
        ({"owner": world.users["b_owner"].pk}, "owner"),
        ({"alert": 999999}, "alert"),
        ({"playbook": 999999}, "playbook"),
        ({"variables": {"nonsense": "x"}}, "variables.nonsense"),
        ({"pause": "channels"}, "channels"),
        ({"title": ""}, "title"),
        ({"channels": "x"}, "channels"),
    ]
    for overrides, field in cases:
        answer = _declare(api, **overrides)
        assert answer.status_code == 400, (overrides, answer.status_code)
        assert field in answer.json()["error"]["fields"], (overrides, answer.json())


def test_list_filters_and_pinned_query_count(world, api_for):
    api = api_for("a_viewer")
    owner = api_for("a_owner")
    for title, scenario, severity in (
        ("A", "service_outage", 1),
        ("B", "data_breach", 2),
        ("C", "layoffs", 3),
    ):
        _declare(owner, title=title, scenario=scenario, severity=severity)
    resolved = _declare(owner, title="D").json()["id"]
    owner.post(f"{BASE}/{resolved}/resolve", {})
    with CaptureQueriesContext(connection) as queries:
        answer = api.get(BASE)
    assert answer.status_code == 200 and len(answer.json()["results"]) == 4
    listed = len(queries)
    for _ in range(5):
        _declare(owner, title="More")
    with CaptureQueriesContext(connection) as queries:
        assert len(api.get(BASE).json()["results"]) == 9
    assert len(queries) == listed <= 8
    assert [i["title"] for i in api.get(BASE, {"status": "resolved"}).json()["results"]] == ["D"]
    assert {i["title"] for i in api.get(BASE, {"scenario": "data_breach"}).json()["results"]} == {"B"}
    assert {i["title"] for i in api.get(BASE, {"severity": 3}).json()["results"]} == {"C"}
    assert len(api.get(BASE, {"status": "open"}).json()["results"]) == 8
    assert api.get(BASE, {"status": "sleeping"}).status_code == 400


def test_the_room_through_the_api(world, api_for):
    api = api_for("a_analyst")
    incident = _declare(api).json()
    url = f"{BASE}/{incident['id']}"
    admin = world.users["a_admin"].pk
    assert api.patch(url, {"severity": 1, "owner": admin}).json()["owner_id"] == admin
    assert api.patch(url, {}).status_code == 400
    roles = api.post(f"{url}/roles", {"role": "comms_lead", "user": world.users["a_owner"].pk})
    assert {r["role"] for r in roles.json()} == {"incident_commander", "comms_lead"}
    assert api.post(f"{url}/roles", {"role": "king", "user": admin}).status_code == 400

    tasks = api.get(f"{url}/tasks").json()
    assert [t["position"] for t in tasks] == list(range(8))
    done = api.patch(f"/api/v1/incidents/tasks/{tasks[0]['id']}", {"status": "done"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert api.patch(f"/api/v1/incidents/tasks/{tasks[1]['id']}", {"status": "later"}).status_code == 400
    added = api.post(f"{url}/tasks", {"title": "Brief the board", "due_at": "2030-01-01T10:00:00Z"})
    assert added.status_code == 201 and added.json()["step_id"] == ""
    note = api.post(f"{url}/notes", {"text": "Vendor confirms the fix"})
    assert note.status_code == 201 and note.json()["kind"] == "note"

    assert api.post(f"{url}/close", {}).status_code == 400
    assert api.post(f"{url}/resolve", {"note": "Fixed"}).json()["status"] == "resolved"
    assert api.post(f"{url}/reopen", {}).json()["status"] == "declared"
    api.post(f"{url}/resolve", {})
    closed = api.post(f"{url}/close", {}).json()
    assert closed["status"] == "closed" and closed["closed_at"]

    page = api.get(f"{url}/timeline", {"page_size": 5}).json()
    kinds = [e["kind"] for e in page["results"]]
    assert kinds[0] == TimelineKind.DECLARED and len(kinds) == 5
    rest = []
    while page["next"]:
        page = api.get(page["next"]).json()
        rest += [e["kind"] for e in page["results"]]
    assert rest[-1] == TimelineKind.STATUS
    assert kinds.count("severity") + rest.count("severity") == 1


def test_suggest_from_a_description_and_from_an_alert(world, api_for):
    api = api_for("a_viewer")
    answer = api.post(f"{BASE}/suggest", {"description": "Ransomware encrypted our servers overnight"})
    body = answer.json()
    assert body["scenario"] == "cyberattack" and body["playbook"]["key"] == "cyberattack"
    assert any(hit["term"].lower() == "ransomware" for hit in body["evidence"])
    with tenant_context(world.a):
        alert = make_alert(
            texts=["Hackers are selling our customer records", "Data breach: emails and passwords leaked"]
        )
    body = api.post(f"{BASE}/suggest", {"alert": alert.pk}).json()
    assert body["scenario"] == "data_breach" and len(body["mention_ids"]) == 2
    assert api.post(f"{BASE}/suggest", {}).status_code == 400
    assert api.post(f"{BASE}/suggest", {"alert": 999999}).status_code == 400


def test_viewers_read_and_cannot_change(world, api_for):
    incident = _declare(api_for("a_owner")).json()
    viewer = api_for("a_viewer")
    assert viewer.get(f"{BASE}/{incident['id']}").status_code == 200
    assert viewer.get(f"{BASE}/{incident['id']}/timeline").status_code == 200
    assert _declare(viewer).status_code == 403
    assert viewer.post(f"{BASE}/{incident['id']}/resolve", {}).status_code == 403
    assert viewer.post(f"{BASE}/{incident['id']}/notes", {"text": "hi"}).status_code == 403
    task = incident["tasks"][0]["id"]
    assert viewer.patch(f"/api/v1/incidents/tasks/{task}", {"status": "done"}).status_code == 403
    assert _declare(api_for("a_approver")).status_code == 403
    assert _declare(api_for("a_owner", scope="read")).status_code == 403
    assert _declare(api_for("a_analyst")).status_code == 201


def test_another_tenants_incident_is_not_found(world, api_for):
    incident = _declare(api_for("b_owner", tenant=world.b)).json()
    with tenant_context(world.b):
        task = Incident.objects.get(pk=incident["id"]).tasks.first().pk
    api = api_for("a_owner")
    with tenant_context(world.a):
        Incident.objects.filter(pk=incident["id"]).delete()  # ids can coincide across schemas
    for method, path in (
        ("get", f"{BASE}/{incident['id']}"),
        ("post", f"{BASE}/{incident['id']}/resolve"),
        ("get", f"{BASE}/{incident['id']}/timeline"),
        ("post", f"{BASE}/{incident['id']}/notes"),
        ("patch", f"/api/v1/incidents/tasks/{task}"),
    ):
        answer = getattr(api, method)(path, {"text": "x"} if method != "get" else None)
        assert answer.status_code == 404, (method, path)
    assert api_for("b_owner", tenant=world.a).get(BASE).status_code == 404
    with tenant_context(world.b):
        assert ScheduledPost.objects.count() == 0
