"""The worker side of an admin screen: the contact import queued by the audience page or the API.
Records management (`personalization.records`) may be called only from admin screens and from here
(tests/ethics/test_gate.py); everything that processes contacts goes through the consent gate."""

from __future__ import annotations

from personalization import records
from tenants.tasking import tenant_task


@tenant_task()
def import_contacts(job_id: int) -> str:
    """A contact import (queue `ingest`): rows, per-row errors and progress on its job."""
    job = records.contact_import_run(job_id=job_id)
    return job.status if job is not None else "skipped"
