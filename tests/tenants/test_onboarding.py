"""A new workspace's overview lists its first steps, checked against what it really has."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import tenant_context

from ethics.models import Purpose
from ethics.services import notice_publish, purpose_create
from listening.models import AlertKind, SourceKind
from listening.services.alerts import alert_rule_create
from listening.services.queries import query_create
from listening.services.sources import source_create
from personalization.records import contact_create
from tenants.models import Membership, Role

pytestmark = pytest.mark.django_db


def _done(html: str) -> set[str]:
    return set(re.findall(r'<li class="done" data-step="([a-z]+)"', html))


def test_steps_are_checked_off_as_the_workspace_gets_them(api_for, world):
    admin = api_for("a_admin").client
    Membership.objects.filter(tenant=world.a).exclude(user=world.users["a_admin"]).delete()
    page = admin.get("/").content.decode()
    assert "0 of 6 done" in page and _done(page) == set()
    assert 'href="/listening/sources/">Add a source' in page

    with tenant_context(world.a):
        source_create(name="Feed", kind=SourceKind.API)
        query_create(name="Brand", expression='"tenant a"', kind="brand")
        notice_publish(purpose=Purpose.objects.get(code="outreach"), text="We now also send a digest.")
    Membership.objects.create(user=world.users["a_viewer"], tenant=world.a, role=Role.VIEWER)
    page = admin.get("/").content.decode()
    assert _done(page) == {"source", "query", "purposes", "members"} and "4 of 6 done" in page


def test_a_viewer_is_told_who_does_a_step(api_for, world):
    page = api_for("a_viewer").client.get("/").content.decode()
    assert "Add a source" not in page and "An admin of this workspace does this." in page


def test_the_checklist_goes_away_when_everything_is_done(api_for, world):
    with tenant_context(world.a):
        source_create(name="Feed", kind=SourceKind.API)
        brand = query_create(name="Brand", expression='"tenant a"', kind="brand")
        alert_rule_create(name="Spike", kind=AlertKind.VOLUME_SPIKE, query=brand)
        purpose_create(code="events", name="Events", notice_text="Invitations to our events.")
        contact_create(name="Ada Lovelace", email="ada@example.org")
    page = api_for("a_admin").client.get("/").content.decode()
    assert 'data-testid="onboarding"' not in page and "Listening" in page
