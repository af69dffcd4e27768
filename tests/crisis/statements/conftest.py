"""Fixtures of the statement tests: an incident of tenant A declared with the shipped service-outage
playbook (created directly until the incidents service exists), and the callers' Access."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django_tenants.utils import tenant_context

from crisis.models import Incident, Severity
from crisis.playbooks import PLAYBOOK_DIR
from tenants.access import Access, access_for
from tests.conftest import World
from tests.personalization.posts.conftest import receiver  # noqa: F401  (a local webhook receiver)

UNITED_LIKE = (
    "Flight 3411 from Chicago to Louisville was overbooked. After our team looked for volunteers, one "
    "customer refused to leave the aircraft voluntarily and law enforcement was asked to come to the "
    "gate. We apologize for the overbook situation."
)
JETBLUE_LIKE = (
    "Since 09:40 UTC, many of you cannot sign in to Acme Cloud. We are sorry: you rely on us for your work. "
    "Our engineers have rolled back this morning's change and are restoring service region by region. We "
    "will post the next update at 10:30 UTC on https://status.acme.example. If you need help, contact "
    "support@acme.example."
)
# Every variable of the service-outage holding statement but the time of the next update.
VARIABLES = {
    "company": "Acme Cloud",
    "service": "Acme Dashboards",
    "impact": "sign in or reach your dashboards",
    "start_time": "09:40 UTC",
    "status_page_url": "https://status.acme.example",
    "support_contact": "support@acme.example",
}


def outage_playbook() -> dict[str, Any]:
    return yaml.safe_load((PLAYBOOK_DIR / "service_outage.yaml").read_text(encoding="utf-8"))


def make_incident(severity: int = Severity.SEV2, **extra: Any) -> Incident:
    values: dict[str, Any] = {"playbook_snapshot": outage_playbook(), "variables": dict(VARIABLES), **extra}
    return Incident.objects.create(
        title="EU sign-in outage", scenario="service_outage", severity=severity, **values
    )


@pytest.fixture
def tenant(world: World) -> Iterator[World]:
    with tenant_context(world.a):
        yield world


@pytest.fixture
def incident(tenant: World) -> Incident:
    return make_incident()


@pytest.fixture
def access(world: World) -> Any:
    """access("a_analyst") -> that user's Access in tenant A."""

    def make(user_key: str, tenant: Any = None) -> Access:
        found = access_for(user=world.users[user_key], tenant=tenant or world.a)
        assert found is not None
        return found

    return make
