"""Retention: periods per kind set through the API, a dry run of what would go, and the daily task
removing exactly that (contacts with current consent stay)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from config.celery import app
from ethics import tasks
from listening.models import Mention, Source, SourceKind
from personalization.models import Contact
from tests.ethics.conftest import make_contact, record


@pytest.fixture
def admin(api_for):
    return api_for("a_admin", scope="write")


@pytest.fixture
def aged(in_a):
    source = Source.objects.create(name="Old feed", kind=SourceKind.API)
    now = datetime.now(UTC)
    for i, days in enumerate((400, 200, 10)):
        Mention.objects.create(
            source=source, external_id=f"r{i}", text="t", posted_at=now - timedelta(days=days)
        )
    stale, consented, fresh = (
        make_contact("stale@example.org", handles=[]),
        make_contact("kept@example.org", handles=[]),
        make_contact("fresh@example.org", handles=[]),
    )
    record(consented, "outreach")
    Contact.objects.filter(pk__in=[stale.pk, consented.pk]).update(
        updated_at=timezone.now() - timedelta(days=800)
    )
    return {"stale": stale, "consented": consented, "fresh": fresh}


def test_the_policy_is_set_and_validated(admin):
    assert admin.get("/api/v1/retention/policy").json() == {"periods": {}}
    assert admin.call("PUT", "/api/v1/retention/policy", {"periods": {"mentions": 365}}).json() == {
        "periods": {"mentions": 365}
    }
    both = admin.call("PUT", "/api/v1/retention/policy", {"periods": {"contacts": 730}}).json()
    assert both == {"periods": {"mentions": 365, "contacts": 730}}
    assert admin.call("PUT", "/api/v1/retention/policy", {"periods": {"contacts": None}}).json() == {
        "periods": {"mentions": 365}
    }
    for bad in (
        {"periods": {"emails": 3}},
        {"periods": {"mentions": 0}},
        {"periods": {"mentions": "a year"}},
        {},
    ):
        response = admin.call("PUT", "/api/v1/retention/policy", bad)
        assert response.status_code == 400, (bad, response.json())


def test_an_analyst_may_look_but_not_change(api_for):
    analyst = api_for("a_analyst")
    assert analyst.get("/api/v1/retention/dry-run").status_code == 200
    assert analyst.call("PUT", "/api/v1/retention/policy", {"periods": {"mentions": 30}}).status_code == 403


def test_the_dry_run_says_what_the_daily_task_then_removes(admin, aged, world):
    admin.call("PUT", "/api/v1/retention/policy", {"periods": {"mentions": 365, "contacts": 730}})
    lines = {line["kind"]: line for line in admin.get("/api/v1/retention/dry-run").json()}
    assert lines["mentions"]["would_remove"] == 1 and lines["mentions"]["days"] == 365
    assert lines["contacts"]["would_remove"] == 1
    admin.call("PUT", "/api/v1/retention/policy", {"periods": {"mentions": 100}})
    assert {line["kind"]: line["would_remove"] for line in admin.get("/api/v1/retention/dry-run").json()} == {
        "contacts": 1,
        "engagement_events": 0,
        "mentions": 2,
    }
    with tenant_context(world.a):
        removed = tasks.retention_enforce.apply().get()
        assert removed == {"mentions": 2, "contacts": 1}
        assert list(
            Mention.objects.filter(external_id__startswith="r").values_list("external_id", flat=True)
        ) == ["r2"]
        assert set(Contact.objects.values_list("email", flat=True)) == {
            "kept@example.org",
            "fresh@example.org",
        }
    assert all(line["would_remove"] == 0 for line in admin.get("/api/v1/retention/dry-run").json())


def test_retention_runs_daily_for_every_tenant():
    entry = app.conf.beat_schedule["ethics-retention"]
    assert entry["task"] == "tenants.tasks.fan_out" and entry["args"] == ("ethics.tasks.retention_enforce",)
    assert "ethics.tasks.retention_enforce" in app.tasks
