"""The alert pages of the portal through Django's test client on tenant A's host: the list with
why, evidence, actions and quality; an alert's deliveries and retry; the rule editor; the bell."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from django.test import Client
from django_tenants.utils import tenant_context

from listening.models import (
    Alert,
    AlertDelivery,
    AlertKind,
    AlertRule,
    AlertStatus,
    DeliveryStatus,
    Mention,
    Notification,
    Source,
    SourceKind,
)
from listening.services import alerts
from tests.conftest import World


def on(world: World, user_key: str) -> Client:
    client = Client(HTTP_HOST="tenant-a.localhost")
    client.force_login(world.users[user_key])
    return client


def fire(world: World, **rule_fields: Any) -> Alert:
    with tenant_context(world.a):
        alerts.alert_rule_create(
            name="Outage talk", kind=AlertKind.KEYWORD, expression="outage", **rule_fields
        )
        source = Source.objects.create(name="Feed", kind=SourceKind.API)
        mention = Mention.objects.create(
            source=source,
            external_id="1",
            text="Acme outage <b>again</b>",
            author_handle="dana",
            author_followers=12000,
            posted_at=datetime.now(UTC),
            sentiment="negative",
            enriched_at=datetime.now(UTC),
        )
        (alert,) = alerts.keyword_rules_evaluate(mention_ids=[mention.pk])
        return alert


def test_the_alert_list_shows_why_evidence_quality_and_actions(world):
    alert = fire(world)
    page = on(world, "a_analyst").get("/listening/alerts/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "1 new mention matching &#x27;outage&#x27;" in body
    assert "@dana" in body and "reach 12,000" in body
    assert "Acme outage &lt;b&gt;again&lt;/b&gt;" in body  # mention text is escaped
    assert f"/listening/alerts/{alert.pk}/acknowledge/" in body and "Escalate to incident" in body
    assert 'data-testid="alert-quality"' in body and "Outage talk" in body


def test_viewers_see_alerts_without_actions_and_cannot_post_them(world):
    alert = fire(world)
    viewer = on(world, "a_viewer")
    body = viewer.get("/listening/alerts/").content.decode()
    assert "Outage talk" in body and "Escalate to incident" not in body
    assert viewer.post(f"/listening/alerts/{alert.pk}/dismiss/").status_code == 403
    assert viewer.post("/listening/alerts/rules/", {"name": "x", "kind": "volume_spike"}).status_code == 403


def test_actions_change_the_status_and_come_back(world):
    alert = fire(world)
    client = on(world, "a_analyst")
    back = client.post(
        f"/listening/alerts/{alert.pk}/escalate/",
        {"note": "Incident 7", "next": "/listening/alerts/?status=new"},
    )
    assert back.status_code == 302 and back["Location"] == "/listening/alerts/?status=new"
    with tenant_context(world.a):
        alert.refresh_from_db()
    assert alert.status == AlertStatus.ESCALATED and alert.escalation_note == "Incident 7"
    refused = client.post(
        f"/listening/alerts/{alert.pk}/dismiss/", {"next": "https://evil.example/"}, follow=True
    )
    assert "cannot be dismissed" in refused.content.decode()
    assert refused.redirect_chain[-1][0] == "/listening/alerts/"
    assert client.post(f"/listening/alerts/{alert.pk}/explode/").status_code == 404


def test_the_alert_page_lists_deliveries_marks_its_notification_read_and_retries(world, mailoutbox):
    alert = fire(world, email_to=["comms@example.com"])
    client = on(world, "a_analyst")
    with tenant_context(world.a):
        AlertDelivery.objects.filter(alert=alert).update(
            status=DeliveryStatus.FAILED, attempts=8, last_error="SMTP refused"
        )
    assert "bell-count" in client.get("/listening/alerts/bell/").content.decode()
    page = client.get(f"/listening/alerts/{alert.pk}/").content.decode()
    assert "comms@example.com" in page and "SMTP refused" in page and "Retry now" in page
    assert "bell-count" not in client.get("/listening/alerts/bell/").content.decode()
    with tenant_context(world.a):
        delivery = AlertDelivery.objects.get(alert=alert)
        assert Notification.objects.get(alert=alert, user_id=world.users["a_analyst"].pk).read_at is not None
    assert client.post(f"/listening/alerts/deliveries/{delivery.pk}/retry/").status_code == 302
    with tenant_context(world.a):
        assert AlertDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.PENDING


def test_the_rule_editor_creates_validates_and_edits(world):
    client = on(world, "a_analyst")
    bad = client.post(
        "/listening/alerts/rules/",
        {
            "name": "Breach",
            "kind": "keyword",
            "expression": 'acme AND "oops',
            "sensitivity": 5,
            "cooldown_minutes": 60,
        },
    )
    assert bad.status_code == 200 and "at character" in html.unescape(bad.content.decode())
    far = client.post(
        "/listening/alerts/rules/",
        {"name": "Breach", "kind": "volume_spike", "sensitivity": 12, "cooldown_minutes": 2},
    ).content.decode()
    assert "less than or equal to 10" in far and "greater than or equal to 5" in far
    made = client.post(
        "/listening/alerts/rules/",
        {
            "name": "Breach",
            "kind": "keyword",
            "expression": "acme AND breach",
            "sensitivity": 5,
            "cooldown_minutes": 60,
            "notify_portal": "on",
            "email_to": "a@example.com; b@example.com",
            "is_active": "on",
        },
    )
    assert made.status_code == 302
    with tenant_context(world.a):
        rule = AlertRule.objects.get(name="Breach")
    assert rule.email_to == ["a@example.com", "b@example.com"] and rule.notify_portal
    listing = client.get("/listening/alerts/rules/").content.decode()
    assert "Breach" in listing and "acme AND breach" in listing
    saved = client.post(
        f"/listening/alerts/rules/{rule.pk}/",
        {
            "name": "Breach",
            "kind": "keyword",
            "expression": "acme AND breach",
            "sensitivity": 8,
            "cooldown_minutes": 30,
        },
    )
    assert saved.status_code == 302
    with tenant_context(world.a):
        rule.refresh_from_db()
    assert (rule.sensitivity, rule.cooldown_minutes, rule.is_active, rule.notify_portal) == (
        8,
        30,
        False,
        False,
    )
    assert client.post(f"/listening/alerts/rules/{rule.pk}/delete/").status_code == 302
    with tenant_context(world.a):
        assert not AlertRule.objects.filter(pk=rule.pk).exists()


def test_another_tenants_alert_is_not_found(world):
    with tenant_context(world.b):
        rule = alerts.alert_rule_create(name="B", kind=AlertKind.VOLUME_SPIKE).rule
        alert = Alert.objects.create(
            rule=rule,
            kind=rule.kind,
            window_key="k",
            window_start=datetime.now(UTC),
            window_end=datetime.now(UTC),
            observed=1,
            why="b's",
        )
    client = on(world, "a_owner")
    assert client.get(f"/listening/alerts/{alert.pk}/").status_code == 404
    assert client.get(f"/listening/alerts/rules/{rule.pk}/").status_code == 404
    assert client.post(f"/listening/alerts/{alert.pk}/acknowledge/").status_code == 404


def test_the_header_bell_loads_on_every_tenant_page(world):
    fire(world)
    body = on(world, "a_owner").get("/listening/").content.decode()
    assert 'hx-get="/listening/alerts/bell/"' in body
    bell = on(world, "a_owner").get("/listening/alerts/bell/").content.decode()
    assert '<span class="bell-count" data-testid="bell-count">1</span>' in bell
