"""Alerting with a real worker: a mention posted to the bulk API is enriched on the `nlp` queue,
the enrichment hook evaluates keyword rules at once, and the email goes out from the `publish`
queue (the worker's console mail backend writes it into its log)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from listening.models import (
    Alert,
    AlertDelivery,
    AlertKind,
    AlertRule,
    DeliveryStatus,
    Mention,
    Source,
    SourceKind,
)
from listening.services import alerts
from tenants.services import token_create
from tests.conftest import World, wait_for

pytestmark = pytest.mark.worker


@pytest.fixture
def rule(committed: World) -> Iterator[AlertRule]:
    with tenant_context(committed.a):
        source = Source.objects.create(name="alerting pipeline", kind=SourceKind.API)
        rule = alerts.alert_rule_create(
            name="worker outages",
            kind=AlertKind.KEYWORD,
            expression='"status page" AND outage',
            source=source,
            email_to=["oncall@example.com"],
        ).rule
    yield rule
    with tenant_context(committed.a):
        rule.delete()
        Mention.objects.filter(source=source).delete()
        source.delete()


def test_a_matching_mention_fires_an_alert_and_its_email_is_sent_by_the_worker(
    celery_worker, committed, rule
):
    token, raw = token_create(
        user=committed.users["a_owner"], name="alerting", scope="write", tenants=[committed.a]
    )
    api = Client(HTTP_HOST="tenant-a.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    now = datetime.now(UTC).isoformat()
    items = [
        {"external_id": "w1", "text": "Acme status page shows a major outage in eu-west", "posted_at": now},
        {"external_id": "w2", "text": "Acme's conference talk was great", "posted_at": now},
    ]
    response = api.post(f"/api/v1/sources/{rule.source_id}/mentions", items, content_type="application/json")
    assert response.status_code == 200 and response.json()["stored"] == 2

    def sent() -> bool:
        with tenant_context(committed.a):
            return AlertDelivery.objects.filter(alert__rule=rule, status=DeliveryStatus.SENT).exists()

    assert wait_for(sent, timeout=120), celery_worker.read_text()[-3000:]
    with tenant_context(committed.a):
        (alert,) = Alert.objects.filter(rule=rule)
        evidence = list(alert.evidence.values_list("mention__external_id", flat=True))
    assert alert.why == "1 new mention matching '\"status page\" AND outage'" and evidence == ["w1"]
    log = celery_worker.read_text()
    assert "Candor alert: worker outages" in log and "oncall@example.com" in log
    token.delete()
