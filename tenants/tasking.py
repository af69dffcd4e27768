"""Celery conventions: tenant-bound tasks and the one helper that iterates tenants.

Only this app switches schemas. A tenant task carries its schema in the message headers
(tenant-schemas-celery) and refuses to run in `public`: a task sent outside a tenant context fails
loudly instead of reading or writing the wrong schema (RELIABILITY 6).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import InterfaceError, OperationalError
from django_tenants.utils import tenant_context
from tenant_schemas_celery.task import TenantTask

from tenants.models import Tenant

logger = logging.getLogger(__name__)

# Transient failures worth retrying: the database or broker going away for a moment.
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


def current_schema() -> str:
    """The schema the default connection is set to (django-tenants' backend adds the attribute)."""
    return str(connection.schema_name)  # type: ignore[attr-defined]


class TenantBoundTask(TenantTask):
    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if current_schema() == settings.PUBLIC_SCHEMA_NAME:
            raise RuntimeError(f"{self.name} is a tenant task but was sent without a tenant context")
        return super().__call__(*args, **kwargs)


def tenant_task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """A task that runs inside the sender's tenant, acknowledged late, retried with backoff."""
    defaults: dict[str, Any] = {
        "base": TenantBoundTask,
        "autoretry_for": TRANSIENT,
        "retry_backoff": True,
        "retry_backoff_max": 300,
        "retry_jitter": True,
        "max_retries": 6,
    }
    return shared_task(**{**defaults, **options})


def client_tenants() -> Iterator[Tenant]:
    yield from Tenant.objects.filter(is_client=True).order_by("pk").iterator()


def for_each_tenant(work: Callable[[Tenant], None]) -> tuple[int, int]:
    """Run `work` inside each client tenant, one at a time, one transaction each; a tenant's
    failure is logged and does not stop the others. Returns (succeeded, failed)."""
    ok = failed = 0
    for tenant in client_tenants():
        try:
            with tenant_context(tenant), transaction.atomic():
                work(tenant)
            ok += 1
        except Exception:
            failed += 1
            logger.exception("tenant %s: %s failed", tenant.schema_name, getattr(work, "__name__", work))
    return ok, failed


@dataclass(frozen=True)
class TenantOutcome:
    """What `work` gave in one tenant, or why it failed there (`error`, with `result` None)."""

    tenant: Tenant
    result: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def in_tenants(tenants: Iterable[Tenant], work: Callable[[Tenant], Any]) -> list[TenantOutcome]:
    """Run `work` inside each of `tenants`, one transaction each, and report every tenant's outcome:
    a tenant that fails is rolled back alone and named with its error, the others keep theirs.
    For an action a person takes on several clients at once (an agency's pause)."""
    outcomes: list[TenantOutcome] = []
    for tenant in tenants:
        try:
            with tenant_context(tenant), transaction.atomic():
                outcomes.append(TenantOutcome(tenant=tenant, result=work(tenant)))
        except Exception as error:
            logger.exception("tenant %s: %s failed", tenant.schema_name, getattr(work, "__name__", work))
            message = "; ".join(error.messages) if hasattr(error, "messages") else str(error)
            outcomes.append(TenantOutcome(tenant=tenant, error=message or type(error).__name__))
    return outcomes


def send_in_tenant(tenant: Tenant, task: Any, *args: Any, **kwargs: Any) -> None:
    """Queue `task` so that it runs in `tenant`'s schema."""
    with tenant_context(tenant):
        task.apply_async(args=args, kwargs=kwargs)
