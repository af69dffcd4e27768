"""Crisis tasks."""

from __future__ import annotations

import logging

from celery import shared_task

from crisis.portfolio_services import portfolio_rebuild as rebuild

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def portfolio_rebuild() -> int:
    """Public: recompute every client's portfolio summary from its schema (a safety net beside the
    receivers, which refresh a client's row when its snapshots, incidents or crisis mode change)."""
    ok, failed = rebuild()
    logger.info("portfolio summaries rebuilt: %d ok, %d failed", ok, failed)
    return ok
