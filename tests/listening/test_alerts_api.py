"""The alerting API over real HTTP: rules (validated), alerts with evidence and actions,
deliveries with retry, notifications, quality, markers, roles, query counts and isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from listening.models import (
    Alert,
    AlertDelivery,
    AlertKind,
    DeliveryStatus,
    Mention,
    Notification,
    Source,
    SourceKind,
)
from listening.services import alerts

_ids = count(1)


def _fire(world, tenant=None, n: int = 1, **rule_fields):
    """Fire `n` keyword alerts (each from a new mention, past the cooldown) in `tenant`."""
    with tenant_context(tenant or world.a):
        rule = alerts.alert_rule_create(
            name=f"Outages {next(_ids)}", kind=AlertKind.KEYWORD, expression="outage", **rule_fields
        ).rule
        source, _ = Source.objects.get_or_create(name="Feed", kind=SourceKind.API)
        fired = []
        for i in range(n):
            mentions = Mention.objects.bulk_create(
                Mention(
                    source=source,
                    external_id=f"{rule.pk}-{i}-{j}",
                    text=f"Acme outage number {j}",
                    author_handle=f"user{j}",
                    author_followers=100 * j,
                    posted_at=datetime.now(UTC),
                    sentiment="negative",
                    enriched_at=datetime.now(UTC),
                )
                for j in range(3)
            )
            now = datetime.now(UTC) + timedelta(hours=2 * i)
            fired += alerts.keyword_rules_evaluate(mention_ids=[m.pk for m in mentions], now=now)
        return rule, fired


def test_analyst_creates_a_rule_and_the_webhook_secret_is_shown_once(world, api_for):
    api = api_for("a_analyst")
    created = api.post(
        "/api/v1/alert-rules",
        {
            "name": "Spikes",
            "kind": "volume_spike",
            "sensitivity": 7,
            "cooldown_minutes": 30,
            "email_to": ["c@example.com"],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["webhook_secret"] and body["sensitivity"] == 7 and body["webhook"] is False
    shown = api.get(f"/api/v1/alert-rules/{body['id']}").json()
    assert "webhook_secret" not in shown and shown["email_to"] == ["c@example.com"]
    updated = api.patch(f"/api/v1/alert-rules/{body['id']}", {"sensitivity": 3, "is_active": False})
    assert updated.status_code == 200 and updated.json()["sensitivity"] == 3
    rotated = api.post(f"/api/v1/alert-rules/{body['id']}/rotate-secret")
    assert rotated.json()["webhook_secret"] not in ("", body["webhook_secret"])
    assert api.delete(f"/api/v1/alert-rules/{body['id']}").status_code == 204


def test_viewers_read_but_do_not_write(world, api_for):
    _, (alert,) = _fire(world)
    viewer = api_for("a_viewer")
    assert viewer.get("/api/v1/alerts").status_code == 200
    assert viewer.post("/api/v1/alert-rules", {"name": "x", "kind": "volume_spike"}).status_code == 403
    assert viewer.post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 403


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"kind": "volume_spike", "sensitivity": 0}, "sensitivity", "greater than or equal to 1"),
        ({"kind": "volume_spike", "sensitivity": 11}, "sensitivity", "less than or equal to 10"),
        ({"kind": "volume_spike", "cooldown_minutes": 1}, "cooldown_minutes", "greater than or equal to 5"),
        (
            {"kind": "volume_spike", "cooldown_minutes": 20000},
            "cooldown_minutes",
            "less than or equal to 10080",
        ),
        ({"kind": "keyword", "expression": 'acme AND "unclosed'}, "expression", "at character"),
        ({"kind": "keyword"}, "expression", "needs an expression or a saved query"),
        ({"kind": "weather"}, "kind", "not a valid choice"),
        ({"kind": "volume_spike", "query": 999999}, "query", "No such query"),
        (
            {"kind": "volume_spike", "webhook_url": "http://169.254.169.254/"},
            "webhook_url",
            "cannot be reached",
        ),
        ({"kind": "volume_spike", "email_to": ["nope"]}, "email_to", "valid email"),
    ],
)
def test_rule_validation_answers_400_with_the_field(world, api_for, body, field, says):
    response = api_for("a_analyst").post("/api/v1/alert-rules", {"name": "Bad", **body})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert any(key.startswith(field) for key in error["fields"]), error
    assert says.lower() in str(error["fields"]).lower(), error


def test_alert_list_shows_why_and_evidence_with_pinned_queries(world, api_for):
    _fire(world, n=2)
    api = api_for("a_owner")

    def listing() -> tuple[int, list]:
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/v1/alerts")
        assert response.status_code == 200
        return len(queries), response.json()["results"]

    listing()  # host routing and throttle state warmed
    before, first = listing()
    _fire(world, n=4)
    after, second = listing()
    assert after == before and len(second) > len(first) >= 2
    assert before <= 10  # session, user, roles, search_path switches, the page, its evidence
    top = first[0]
    assert top["why"].startswith("3 new mentions matching") and top["mention_count"] == 3
    assert [e["reach"] for e in top["evidence"]] == [200, 100, 0]
    assert top["url"].endswith(f"/listening/alerts/{top['id']}/")


def test_alert_filters_and_bad_filters(world, api_for):
    rule, _ = _fire(world, n=2)
    _fire(world)
    api = api_for("a_owner")
    assert len(api.get("/api/v1/alerts", {"rule": rule.pk}).json()["results"]) == 2
    assert api.get("/api/v1/alerts", {"status": "dismissed"}).json()["results"] == []
    assert api.get("/api/v1/alerts", {"status": "sleepy"}).status_code == 400
    assert (
        api.get("/api/v1/alerts", {"since": "2026-01-02T00:00Z", "until": "2026-01-01T00:00Z"}).status_code
        == 400
    )


def test_acknowledge_dismiss_escalate(world, api_for):
    _, (one, two) = _fire(world, n=2)
    api = api_for("a_analyst")
    acked = api.post(f"/api/v1/alerts/{one.pk}/acknowledge").json()
    assert acked["status"] == "acknowledged" and acked["acknowledged_by_id"] == world.users["a_analyst"].pk
    escalated = api.post(f"/api/v1/alerts/{one.pk}/escalate", {"note": "Incident #12 opened"}).json()
    assert escalated["status"] == "escalated" and escalated["escalation_note"] == "Incident #12 opened"
    refused = api.post(f"/api/v1/alerts/{one.pk}/dismiss")
    assert refused.status_code == 400 and "cannot be dismissed" in refused.json()["error"]["message"]
    assert api.post(f"/api/v1/alerts/{two.pk}/dismiss").json()["status"] == "dismissed"
    assert api.post(f"/api/v1/alerts/{two.pk}/escalate", {"note": "x" * 3000}).status_code == 400


def test_alert_detail_lists_deliveries_which_can_be_retried(world, api_for):
    _, (alert,) = _fire(world, email_to=["comms@example.com"])
    api = api_for("a_analyst")
    detail = api.get(f"/api/v1/alerts/{alert.pk}").json()
    (delivery,) = detail["deliveries"]
    assert delivery["channel"] == "email" and delivery["status"] == "pending" and delivery["attempts"] == 0
    with tenant_context(world.a):
        AlertDelivery.objects.filter(pk=delivery["id"]).update(
            status=DeliveryStatus.FAILED, last_error="SMTP down"
        )
    listed = api.get("/api/v1/alert-deliveries", {"status": "failed"}).json()["results"]
    assert [d["last_error"] for d in listed] == ["SMTP down"]
    retried = api.post(f"/api/v1/alert-deliveries/{delivery['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"


def test_notifications_are_per_member(world, api_for):
    _, (alert,) = _fire(world)
    owner, analyst = api_for("a_owner"), api_for("a_analyst")
    assert owner.get("/api/v1/notifications/unread").json() == {"unread": 1}
    (mine,) = owner.get("/api/v1/notifications").json()["results"]
    assert mine["alert"] == alert.pk and mine["read_at"] is None and mine["rule_name"].startswith("Outages")
    # Someone else's notification is not found, and reading it changes nothing.
    with tenant_context(world.a):
        theirs = Notification.objects.get(alert=alert, user_id=world.users["a_analyst"].pk)
    assert owner.post(f"/api/v1/notifications/{theirs.pk}/read").status_code == 404
    assert owner.post(f"/api/v1/notifications/{mine['id']}/read").json() == {"unread": 0}
    assert analyst.get("/api/v1/notifications/unread").json() == {"unread": 1}
    assert analyst.post("/api/v1/notifications/read-all").json() == {"unread": 0}


def test_quality_endpoint(world, api_for):
    rule, (one, two) = _fire(world, n=2)
    with tenant_context(world.a):
        alerts.alert_dismiss(alert=one, user_id=1)
        Alert.objects.filter(pk=two.pk).update(fired_at=datetime.now(UTC) - timedelta(days=2))
    api = api_for("a_viewer")
    rows = {r["name"]: r for r in api.get("/api/v1/alerts/quality", {"days": 14}).json()}
    assert rows[rule.name]["alerts"] == 2 and rows[rule.name]["per_week"] == 1.0
    assert rows[rule.name]["dismissed_share"] == 0.5 and rows["All rules"]["rule"] is None
    assert api.get("/api/v1/alerts/quality", {"days": 0}).status_code == 400


def test_markers_for_charts(world, api_for):
    _, (alert,) = _fire(world)
    api = api_for("a_viewer")
    since, until = (
        (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )
    (marker,) = api.get("/api/v1/alerts/markers", {"since": since, "until": until}).json()
    assert marker["id"] == alert.pk and marker["why"] == alert.why
    assert api.get("/api/v1/alerts/markers", {"since": until, "until": since}).status_code == 400
    assert api.get("/api/v1/alerts/markers").status_code == 400
    assert (
        api.get("/api/v1/alerts/markers", {"since": "2000-01-01T00:00Z", "until": until}).status_code == 400
    )


def test_another_tenants_alerts_rules_and_deliveries_are_not_found(world, api_for):
    rule, (alert,) = _fire(world, tenant=world.b, email_to=["b@example.com"])
    with tenant_context(world.b):
        delivery = AlertDelivery.objects.get(alert=alert)
    api = api_for("a_owner")
    for path in (
        f"/api/v1/alerts/{alert.pk}",
        f"/api/v1/alert-rules/{rule.pk}",
        f"/api/v1/alert-deliveries/{delivery.pk}",
    ):
        assert api.get(path).status_code == 404
    assert api.post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 404
    assert api.post(f"/api/v1/alert-deliveries/{delivery.pk}/retry").status_code == 404
    assert api.patch(f"/api/v1/alert-rules/{rule.pk}", {"sensitivity": 1}).status_code == 404
    assert api.get("/api/v1/alerts").json()["results"] == []
    assert api.get("/api/v1/notifications/unread").json() == {"unread": 0}
    with tenant_context(world.b):
        assert Alert.objects.get(pk=alert.pk).status == "new"
