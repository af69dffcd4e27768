"""On a real worker: training queued through the API runs on the `ml` queue in the right tenant,
and a withdrawal takes the contact out of every segment within one worker cycle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context

from ethics.selectors import active_model_version
from personalization.models import Segment, SegmentMembership
from tenants.services import tenant_domain, token_create
from tests.conftest import Api, World, wait_for
from tests.personalization.audience import audience_clean, fairness_region_only, seed


@pytest.fixture
def admin(committed: World) -> Iterator[Api]:
    token, raw = token_create(
        user=committed.users["a_admin"], name="worker", scope="write", tenants=[committed.a]
    )
    try:
        yield Api(tenant_domain(committed.a.slug), token=raw)
    finally:
        token.delete()
        audience_clean(committed.a)


def test_training_runs_on_the_worker_and_a_withdrawal_leaves_the_segments(celery_worker, committed, admin):
    with tenant_context(committed.a):
        fairness_region_only()
        data = seed(per_group=40)
    assert admin.post("/api/v1/segments/train").status_code == 202

    def trained() -> bool:
        with tenant_context(committed.a):
            return active_model_version(kind="engagement") is not None

    assert wait_for(trained, 120), celery_worker.read_text()[-3000:]
    with tenant_context(committed.a):
        assert Segment.objects.filter(kind="model", is_active=True).count() == 2
        assert active_model_version(kind="segments") is not None
    leaver = data["contacts"]["mail"][0]
    url = f"/api/v1/contacts/{leaver.pk}/consents"
    assert admin.post(url, {"purpose": "personalization", "action": "withdraw"}).status_code == 201

    def left() -> bool:
        with tenant_context(committed.a):
            return not SegmentMembership.objects.filter(contact_id=leaver.pk).exists()

    assert wait_for(left, 60), celery_worker.read_text()[-3000:]
