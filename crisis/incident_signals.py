"""The incident timeline hears the risk score: a new snapshot is offered to every open incident
(the service decides whether the move is worth an entry)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from crisis.models import RiskSnapshot
from crisis.signals import risk_scored


@receiver(post_save, sender=RiskSnapshot, dispatch_uid="crisis.incidents.risk_snapshot_saved")
def risk_snapshot_saved(
    sender: type[RiskSnapshot], instance: RiskSnapshot, created: bool, **kwargs: Any
) -> None:
    if created and not kwargs.get("raw"):
        from crisis.incident_services import incidents_risk_record

        incidents_risk_record(snapshot=instance)


@receiver(risk_scored, dispatch_uid="crisis.incidents.risk_scored")
def risk_scored_run(sender: type[RiskSnapshot], snapshots: list[RiskSnapshot], **kwargs: Any) -> None:
    """A scheduled run: the latest of its snapshots is where the score stands now."""
    if snapshots:
        from crisis.incident_services import incidents_risk_record

        incidents_risk_record(snapshot=snapshots[-1])
