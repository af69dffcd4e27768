from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from ethics.models import Purpose
from ethics.services import Evidence, consent_record
from personalization.models import Contact
from personalization.records import contact_create
from tests.conftest import World


@pytest.fixture
def in_a(world: World) -> Iterator[World]:
    """Tenant A's schema, inside the test's rolled-back transaction."""
    with tenant_context(world.a):
        yield world


def make_contact(email: str = "ada@example.org", **extra: Any) -> Contact:
    extra.setdefault("handles", [{"network": "mastodon", "handle": "@ada"}])
    return contact_create(name=extra.pop("name", "Ada Lovelace"), email=email, **extra)


def record(contact: Contact, code: str, action: str = "grant", **extra: Any) -> Any:
    extra.setdefault("source", "api")
    extra.setdefault("actor", "user:1")
    extra.setdefault("evidence", Evidence(ip_address="203.0.113.9", user_agent="pytest", form_id="f1"))
    return consent_record(contact=contact, purpose=Purpose.objects.get(code=code), action=action, **extra)


def data_queries(context: Any) -> list[dict[str, str]]:
    """Captured queries without django-tenants' `SET search_path` before each one."""
    return [q for q in context.captured_queries if not q["sql"].startswith("SET search_path")]
