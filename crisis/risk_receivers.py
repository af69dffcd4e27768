"""Signal receivers of the risk score: a declared incident is a new label for the tenant's
calibration, so it is refitted once the declaration commits."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from crisis.models import Incident


@receiver(post_save, sender=Incident, dispatch_uid="crisis.risk.recalibrate_on_incident")
def recalibrate_on_incident(sender: type[Incident], instance: Incident, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    from crisis.risk_tasks import recalibrate_risk

    transaction.on_commit(recalibrate_risk.delay)
