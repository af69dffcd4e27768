"""A real Celery worker process, started by the test, on the configured broker (Redis in CI,
the embedded filesystem transport otherwise) and the test database."""

from __future__ import annotations

import secrets

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from tenants.models import Tenant
from tenants.tasking import send_in_tenant
from tenants.tasks import HEARTBEAT_KEY, fan_out, tenant_heartbeat
from tests.conftest import wait_for

pytestmark = pytest.mark.worker


@pytest.fixture(scope="module")
def worker(celery_worker):
    return celery_worker


def _beat_in(tenant: Tenant) -> dict | None:
    with tenant_context(tenant):
        return cache.get(HEARTBEAT_KEY)


def test_a_task_sent_inside_a_tenant_runs_in_that_tenants_schema(worker, committed):
    nonce = secrets.token_hex(6)
    send_in_tenant(committed.a, tenant_heartbeat, nonce)
    send_in_tenant(committed.b, tenant_heartbeat, nonce)
    assert wait_for(lambda: (_beat_in(committed.a) or {}).get("nonce") == nonce), worker.read_text()[-3000:]
    assert wait_for(lambda: (_beat_in(committed.b) or {}).get("nonce") == nonce), worker.read_text()[-3000:]
    assert _beat_in(committed.a)["schema"] == "t_tenant_a"
    assert _beat_in(committed.b)["schema"] == "t_tenant_b"


def test_a_tenant_task_sent_without_a_tenant_fails_loudly(worker, committed):
    nonce = secrets.token_hex(6)
    with schema_context("public"):
        tenant_heartbeat.delay(nonce)
        assert wait_for(lambda: "sent without a tenant context" in worker.read_text()), worker.read_text()[
            -3000:
        ]
        assert (cache.get(HEARTBEAT_KEY) or {}).get("nonce") != nonce


def test_beat_fan_out_reaches_every_tenant_in_its_own_schema(worker, committed):
    started = timezone.now().isoformat()
    fan_out.delay("tenants.tasks.tenant_heartbeat")
    for tenant in (committed.a, committed.b):
        assert wait_for(lambda t=tenant: (_beat_in(t) or {}).get("at", "") > started), worker.read_text()[
            -3000:
        ]
        assert _beat_in(tenant)["schema"] == tenant.schema_name


def test_check_workers_command_proves_every_tenant(worker, committed, capsys):
    call_command("check_workers", timeout=60)
    out = capsys.readouterr().out
    assert "t_tenant_a: ok" in out and "t_tenant_b: ok" in out


def test_tenant_task_refuses_public_even_when_run_in_process(committed):
    connection.set_schema_to_public()
    result = tenant_heartbeat.apply(args=("inline",))
    assert result.failed()
    assert "without a tenant context" in str(result.result)
