"""The training jobs on real rows: the consent gate holds for training, segment identity survives a
retrain, the bias audit gates serving, and a withdrawal removes segment memberships."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context

from ethics.models import ModelStatus
from ethics.selectors import active_model_version
from ethics.services import consent_withdrawal_propagate
from personalization import services, tasks
from personalization.models import Segment, SegmentMembership
from personalization.selectors import segment_members
from tests.conftest import World
from tests.ethics.conftest import record
from tests.personalization.audience import fairness_region_only, seed


@pytest.fixture
def in_a(world: World) -> Iterator[World]:
    with tenant_context(world.a):
        fairness_region_only()
        yield world


@pytest.fixture(autouse=True)
def _artifacts_removed(django_db_setup: World) -> Iterator[None]:
    from tests.ethics.conftest import _artifacts_removed as removed

    yield from removed.__wrapped__(django_db_setup)


def test_segments_train_audit_activate_and_describe_the_groups(in_a):
    data = seed()
    version = services.segments_retrain()
    assert version is not None and version.status == ModelStatus.ACTIVE
    assert active_model_version(kind="segments") == version
    segments = list(Segment.objects.filter(kind="model", is_active=True).order_by("number"))
    assert len(segments) == 2
    assert {s.typical_channel for s in segments} == {"Newsletter", "Mastodon"}
    assert all(s.size == 100 and s.description for s in segments)
    by_channel = {s.typical_channel: s for s in segments}
    mail_members = set(
        SegmentMembership.objects.filter(segment=by_channel["Newsletter"]).values_list(
            "contact_id", flat=True
        )
    )
    assert mail_members == {c.pk for c in data["contacts"]["mail"]}


def test_a_withdrawn_contact_is_left_out_of_training(in_a):
    data = seed()
    leaver = data["contacts"]["mail"][0]
    record(leaver, "personalization", action="withdraw")
    version = services.segments_retrain()
    assert version.training_rows == 199 and version.training_rows_excluded == 1
    assert not SegmentMembership.objects.filter(contact=leaver).exists()
    engagement = services.engagement_retrain()
    assert engagement.training_rows_excluded == 1


def test_segment_identity_survives_a_retrain_through_the_job(in_a):
    seed()
    tasks.train_segments.apply()
    first = {s.typical_channel: (s.pk, s.number) for s in Segment.objects.filter(kind="model")}
    tasks.train_segments.apply()
    second = {
        s.typical_channel: (s.pk, s.number) for s in Segment.objects.filter(kind="model", is_active=True)
    }
    assert first == second
    assert active_model_version(kind="segments").version == 2


def test_a_biased_model_is_rejected_and_never_served(in_a):
    seed(biased=True)
    version = services.segments_retrain()
    assert version.status == ModelStatus.REJECTED and version.audit_passed is False
    assert active_model_version(kind="segments") is None
    # Nothing of the rejected model reaches the segments people target.
    assert not Segment.objects.filter(kind="model").exists()


def test_the_engagement_model_is_audited_before_it_serves(in_a):
    seed()
    services.segments_retrain()
    version = services.engagement_retrain()
    assert version.audit_report["decision_rule"].startswith("top 20%")
    assert version.status == ModelStatus.ACTIVE
    assert services.active_engagement_model()[1] == version


def test_a_withdrawal_removes_segment_memberships(in_a):
    data = seed()
    services.segments_retrain()
    leaver = data["contacts"]["social"][3]
    segment = SegmentMembership.objects.get(contact=leaver).segment
    record(leaver, "personalization", action="withdraw")
    # The gate holds at once, before the worker runs the handlers.
    assert not segment_members(segment=segment).filter(pk=leaver.pk).exists()
    # The worker's follow-up (ethics.tasks.consent_withdrawn) calls the registered handlers.
    dropped = consent_withdrawal_propagate(contact_id=leaver.pk, purpose="personalization")
    assert dropped["personalization.segments"] == 1
    assert not SegmentMembership.objects.filter(contact=leaver).exists()


def test_rule_segments_take_only_consented_contacts(in_a):
    data = seed(per_group=10)
    north = [c for c in data["contacts"]["mail"] + data["contacts"]["social"] if c.region == "north"]
    record(north[0], "personalization", action="withdraw")
    segment = services.segment_rule_create(
        name="North", rules=[{"field": "region", "op": "eq", "value": "north"}]
    )
    assert segment.size == len(north) - 1
