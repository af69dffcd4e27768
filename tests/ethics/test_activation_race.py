"""Two admins activate two versions of one kind at the same moment, on two connections: exactly
one version ends up active, the other retired, never two at once (RELIABILITY 40)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context

from ethics.models import FairnessSettings, ModelStatus, ModelVersion
from ethics.services import model_version_activate
from tenants.access import access_for
from tenants.models import AuditEvent
from tests.conftest import World
from tests.ethics.conftest import ONLY_REGION, audited

ROUNDS = 8


def test_concurrent_activations_leave_one_active_version(committed: World) -> None:
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    admin = access_for(user=committed.users["a_admin"], tenant=committed.a)
    errors: list[BaseException] = []

    def activate(version: ModelVersion, barrier: threading.Barrier) -> None:
        try:
            with tenant_context(committed.a):
                barrier.wait(timeout=10)
                model_version_activate(version=version, by=admin)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    try:
        with tenant_context(committed.a):
            FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})
        # Several rounds: a race shows only when both transactions overlap, which is up to timing.
        for _ in range(ROUNDS):
            with tenant_context(committed.a):
                pair = [audited(True), audited(True)]
            barrier = threading.Barrier(2)
            threads = [threading.Thread(target=activate, args=(v, barrier)) for v in pair]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert errors == []
            with tenant_context(committed.a):
                active = list(ModelVersion.objects.filter(kind="engagement", status=ModelStatus.ACTIVE))
            assert len(active) == 1 and active[0].pk in {v.pk for v in pair}
    finally:
        with tenant_context(committed.a):
            ModelVersion.objects.all().delete()
            FairnessSettings.objects.all().delete()
        AuditEvent.objects.filter(id__gt=last_event).delete()
        shutil.rmtree(
            Path(settings.DATA_DIR) / "media" / committed.a.schema_name / "models", ignore_errors=True
        )
