"""Ethics' Celery tasks: thin, tenant-bound, retried; the work is in the services."""

from __future__ import annotations

from typing import Any

from ethics import services
from tenants.tasking import TRANSIENT, tenant_task


def _final(task: Any, error: Exception) -> bool:
    """Whether this failure is the last: only transient errors are retried (tenant_task)."""
    return not isinstance(error, TRANSIENT) or task.request.retries >= task.max_retries


@tenant_task()
def consent_withdrawn(contact_id: int, purpose: str) -> dict[str, int]:
    """Queued on commit of each withdrawal: registered handlers drop the contact from segments and
    pending targeted sends (within one worker cycle)."""
    return services.consent_withdrawal_propagate(contact_id=contact_id, purpose=purpose)


@tenant_task(bind=True)
def dsr_export(self: Any, dsr_id: int) -> int:
    try:
        return services.dsr_export_execute(dsr_id=dsr_id).pk
    except Exception as error:
        if _final(self, error):
            services.dsr_failed(dsr_id=dsr_id, error=str(error))
        raise


@tenant_task(bind=True)
def dsr_erase(self: Any, dsr_id: int) -> int:
    try:
        return services.dsr_erase_execute(dsr_id=dsr_id).pk
    except Exception as error:
        if _final(self, error):
            services.dsr_failed(dsr_id=dsr_id, error=str(error))
        raise


@tenant_task()
def ledger_check(check_id: int) -> str:
    """Verify the consent ledger's hash chain (queued by `ledger_check_request`)."""
    return services.ledger_check_run(check_id=check_id).status


@tenant_task()
def ledger_check_nightly() -> int:
    """Nightly per tenant (beat fan-out): queue a verification of the ledger."""
    return services.ledger_check_request(actor=None).pk


@tenant_task()
def retention_enforce() -> dict[str, int]:
    """Daily per tenant (beat fan-out): remove what each retention period has run out for."""
    return services.retention_enforce()
