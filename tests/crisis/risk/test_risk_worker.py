"""The risk score with a real worker: beat's fan-out queues one scoring task per tenant (on the
`ml` queue), which writes the tenant's snapshots from its enriched mentions' buckets, in its own
schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django_tenants.utils import tenant_context

from crisis.models import RiskSnapshot, RiskState
from listening.models import Mention, Source, SourceKind
from listening.services.metrics import metrics_rebuild
from tenants.tasks import fan_out
from tests.conftest import World, wait_for
from tests.crisis.risk.conftest import write

pytestmark = pytest.mark.worker


@pytest.fixture
def source(committed: World) -> Iterator[Source]:
    with tenant_context(committed.a):
        source = Source.objects.create(name="risk pipeline", kind=SourceKind.API)
    yield source
    now = datetime.now(UTC)
    for tenant in (committed.a, committed.b):
        with tenant_context(tenant):
            RiskSnapshot.objects.all().delete()
            RiskState.objects.all().delete()
    with tenant_context(committed.a):
        Mention.objects.filter(source=source).delete()
        source.delete()
        metrics_rebuild(start=now - timedelta(days=1), end=now + timedelta(days=1))


def test_a_beat_queued_run_scores_the_tenant_with_mentions(celery_worker, committed, source):
    now = datetime.now(UTC)
    with tenant_context(committed.a):
        # Enriched mentions, counted into the buckets (enrichment has its own worker tests).
        write(source, now - timedelta(minutes=30), now - timedelta(minutes=10), 6, angry=0.5)
    fan_out.delay("crisis.risk_tasks.score_risk")  # what beat sends every 5 minutes

    def scored() -> bool:
        with tenant_context(committed.a):
            return RiskSnapshot.objects.exists()

    assert wait_for(scored, timeout=120), celery_worker.read_text()[-3000:]
    with tenant_context(committed.a):
        snapshots = list(RiskSnapshot.objects.filter(trigger="schedule").order_by("bucket_start"))
        # Crisis language appears with the written buckets (half of their mentions), not before.
        first_written = (now - timedelta(minutes=30)).replace(second=0, microsecond=0)
        first_written -= timedelta(minutes=first_written.minute % 5)
        busy = [s for s in snapshots if (s.features.get("crisis_language_share") or 0) > 0]
        assert busy and busy[0].bucket_start == first_written
        assert any(s.bucket_start < first_written for s in snapshots)
        for snapshot in snapshots:
            assert snapshot.base + sum(snapshot.factors.values()) == pytest.approx(snapshot.score, abs=1e-6)
        assert RiskState.objects.get().last_bucket_start == snapshots[-1].bucket_start
    # Tenant B was scored in its own schema: its snapshots hold none of A's mentions.
    with tenant_context(committed.b):
        assert not any(s.features.get("crisis_language_share") for s in RiskSnapshot.objects.all())
