"""The same cache key in two tenants names two values (RELIABILITY 5; django-tenants#1052)."""

from __future__ import annotations

from django.core.cache import cache
from django_tenants.utils import tenant_context


def test_one_key_in_two_tenants_never_crosses(world):
    with tenant_context(world.a):
        cache.set("dashboard:summary", "A's numbers")
    with tenant_context(world.b):
        assert cache.get("dashboard:summary") is None
        cache.set("dashboard:summary", "B's numbers")
    with tenant_context(world.a):
        assert cache.get("dashboard:summary") == "A's numbers"
        cache.delete("dashboard:summary")
    with tenant_context(world.b):
        assert cache.get("dashboard:summary") == "B's numbers"


def test_throttle_budgets_are_per_tenant(world, api_for, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"caller": "2/min", "anon": "2/min"},
    }
    from tenants.models import Membership

    Membership.objects.create(user=world.users["a_owner"], tenant=world.b, role="owner")
    on_a = api_for("a_owner", scope="read", tenants=[world.a, world.b])
    on_b = api_for("a_owner", tenant=world.b, scope="read", tenants=[world.a, world.b])
    assert [on_a.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    assert on_b.get("/api/v1/me").status_code == 200
