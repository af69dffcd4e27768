"""The model registry through its services: versions, artifacts per tenant, the audit gate on
activation, overrides, the one active version per kind, retraining flags, and model cards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django_tenants.utils import tenant_context

from ethics import cards
from ethics.models import FairnessSettings, ModelStatus, ModelVersion
from ethics.selectors import active_model_version, model_version_artifact
from ethics.services import (
    model_version_activate,
    model_version_audit,
    model_versions_flag_for_retraining,
    sensitive_values_for,
)
from tenants.access import access_for
from tenants.models import AuditAction, AuditEvent
from tests.conftest import World
from tests.ethics.conftest import audit_inputs, audited, register

REASON = "Regional campaign: the south list is new and its history is thin; reviewed by legal."


def _access(world: World, key: str):
    return access_for(user=world.users[key], tenant=world.a)


def test_versions_number_per_kind_and_artifacts_live_under_the_tenant(region_only: World) -> None:
    first = register("engagement")
    second = register("engagement", artifact=b"second model")
    other = register("timing")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.status == ModelStatus.TRAINED
    path = Path(first.artifact.path)
    root = Path(settings.DATA_DIR) / "media" / region_only.a.schema_name / "models" / "engagement" / "1"
    assert path.parent == root
    assert model_version_artifact(version=second) == b"second model"
    assert second.artifact_sha256 == __import__("hashlib").sha256(b"second model").hexdigest()
    with tenant_context(region_only.b):
        assert ModelVersion.objects.count() == 0
        assert register("engagement").version == 1


def test_a_tampered_artifact_is_refused(region_only: World) -> None:
    version = register()
    Path(version.artifact.path).write_bytes(b"something else")
    with pytest.raises(ValueError, match="digest"):
        model_version_artifact(version=version)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"artifact": b""}, "artifact"),
        ({"metrics": {"auc": "high"}}, "metrics"),
        (
            {"training_window": (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))},
            "training_window",
        ),
        ({"training_window": (datetime(2026, 1, 1), datetime(2026, 2, 1))}, "training_window"),
    ],
)
def test_registration_validates(region_only: World, changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        register(**changes)
    assert field in error.value.message_dict


def test_register_refuses_a_bad_kind(region_only: World) -> None:
    with pytest.raises(ValidationError):
        register("Not A Kind!")


def test_audit_passes_a_fair_model_and_rejects_a_biased_one(region_only: World) -> None:
    fair = audited(True)
    biased = audited(False)
    assert fair.status == ModelStatus.AUDITED and fair.audit_passed is True
    assert biased.status == ModelStatus.REJECTED and biased.audit_passed is False
    assert biased.audit_report["failures"] == [
        "region: selection-rate ratio 0.50 is below 0.80 (four-fifths rule)"
    ]


def test_audit_requires_exactly_the_declared_attributes(region_only: World) -> None:
    version = register()
    inputs = audit_inputs(True)
    with pytest.raises(ValidationError, match="declared but not given: region"):
        model_version_audit(version=version, y_pred=inputs["y_pred"], sensitive={"gender": ["x"] * 600})


def test_audit_uses_the_tenants_thresholds(region_only: World) -> None:
    FairnessSettings.objects.filter(pk=1).update(min_dp_ratio=0.4)
    assert audited(False).status == ModelStatus.AUDITED


def test_regression_models_are_audited_on_the_rows_they_target(region_only: World) -> None:
    version = register()
    n = 200
    # Predicted engagement: the north is scored higher, so a top-20% target picks mostly northerners.
    scores = [0.9 - i * 0.001 for i in range(n)] + [0.5 - i * 0.001 for i in range(n)]
    audited_version = model_version_audit(
        version=version, scores=scores, top_fraction=0.2, sensitive={"region": ["north"] * n + ["south"] * n}
    )
    assert audited_version.audit_report["decision_rule"] == "top 20% of scores"
    assert audited_version.status == ModelStatus.REJECTED


def test_an_unaudited_version_cannot_be_activated(region_only: World) -> None:
    with pytest.raises(ValidationError, match="not been audited"):
        model_version_activate(version=register(), by=_access(region_only, "a_admin"))


def test_activation_needs_manage(region_only: World) -> None:
    version = audited(True)
    for key in ("a_analyst", "a_approver", "a_viewer"):
        with pytest.raises(PermissionDenied):
            model_version_activate(version=version, by=_access(region_only, key))
    assert active_model_version(kind="engagement") is None


def test_a_failed_audit_blocks_activation_without_a_written_reason(region_only: World) -> None:
    biased = audited(False)
    admin = _access(region_only, "a_admin")
    for reason in (None, "", "   because   "):
        with pytest.raises(ValidationError) as error:
            model_version_activate(version=biased, by=admin, override_reason=reason)
        assert "override_reason" in error.value.message_dict
    with pytest.raises(ValidationError, match="only an admin"):
        model_version_activate(version=biased, by=None, override_reason=REASON)
    assert active_model_version(kind="engagement") is None
    assert not AuditEvent.objects.filter(tenant=region_only.a, action__startswith="model_").exists()


def test_an_override_is_recorded_in_the_audit_log(region_only: World) -> None:
    biased = audited(False)
    activated = model_version_activate(
        version=biased, by=_access(region_only, "a_admin"), override_reason=REASON
    )
    assert activated.status == ModelStatus.ACTIVE
    assert activated.override_reason == REASON
    event = AuditEvent.objects.get(tenant=region_only.a, action=AuditAction.MODEL_AUDIT_OVERRIDDEN)
    assert event.actor == region_only.users["a_admin"]
    assert event.target == "engagement v1"
    assert event.details["override_reason"] == REASON
    assert event.details["failures"] == biased.audit_report["failures"]
    card = ModelVersion.objects.get(pk=biased.pk).card
    assert card["people"]["override"] == {"by": "a-admin@example.com", "reason": REASON}


def test_one_active_version_per_kind_swapped_atomically(region_only: World) -> None:
    admin = _access(region_only, "a_admin")
    v1, v2 = audited(True), audited(True)
    timing = audited(True, kind="timing")
    model_version_activate(version=v1, by=admin)
    model_version_activate(version=timing, by=None)
    model_version_activate(version=v2, by=admin)
    statuses = dict(ModelVersion.objects.filter(kind="engagement").values_list("version", "status"))
    assert statuses == {1: ModelStatus.RETIRED, 2: ModelStatus.ACTIVE}
    assert active_model_version(kind="engagement").pk == v2.pk
    assert active_model_version(kind="timing").pk == timing.pk
    # Rolling back to a retired version is an activation like any other.
    model_version_activate(version=v1, by=admin)
    assert active_model_version(kind="engagement").pk == v1.pk
    event = AuditEvent.objects.filter(tenant=region_only.a, action=AuditAction.MODEL_ACTIVATED).first()
    assert event.details["retired"] == [2]
    system = AuditEvent.objects.get(tenant=region_only.a, target="timing v1")
    assert system.actor is None and system.actor_label == "system"
    with pytest.raises(ValidationError, match="already active"):
        model_version_activate(version=v1, by=admin)


def test_the_database_refuses_two_active_versions(region_only: World) -> None:
    from django.db import IntegrityError, transaction

    v1, v2 = audited(True), audited(True)
    ModelVersion.objects.filter(pk=v1.pk).update(status=ModelStatus.ACTIVE)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v2.pk).update(status=ModelStatus.ACTIVE)


def test_flag_for_retraining_skips_retired_versions(region_only: World) -> None:
    admin = _access(region_only, "a_admin")
    v1, v2 = audited(True), audited(True)
    model_version_activate(version=v1, by=admin)
    model_version_activate(version=v2, by=admin)
    register("timing")
    flagged = model_versions_flag_for_retraining(reason="Erasure request 12 removed a contact.")
    assert flagged == 2
    assert set(ModelVersion.objects.filter(needs_retraining=True).values_list("kind", "version")) == {
        ("engagement", 2),
        ("timing", 1),
    }
    assert (
        ModelVersion.objects.get(pk=v2.pk).card["retraining_reason"]
        == "Erasure request 12 removed a contact."
    )
    with pytest.raises(ValidationError):
        model_versions_flag_for_retraining(reason=" ")


def test_the_model_card_says_what_the_model_is_and_how_it_was_judged(region_only: World) -> None:
    version = audited(
        False,
        training_window=(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)),
    )
    version = model_version_activate(
        version=version, by=_access(region_only, "a_owner"), override_reason=REASON
    )
    card = version.card
    assert card["purpose"] == "Predict which contacts engage with a message."
    assert card["training_data"] == {
        "window_start": "2026-01-01T00:00:00+00:00",
        "window_end": "2026-03-31T00:00:00+00:00",
        "rows": 1200,
        "rows_excluded_by_consent_gate": 34,
    }
    assert card["features"] == ["segment", "hour_of_week", "tone"]
    assert card["metrics"] == {"auc": 0.74}
    assert card["audit"]["passed"] is False
    groups = {g["group"]: g for g in card["audit"]["attributes"][0]["groups"]}
    assert groups["south"]["selection_rate"] == pytest.approx(0.25)
    assert groups["south"]["selection_rate_ci"]["low"] < 0.25 < groups["south"]["selection_rate_ci"]["high"]
    assert "Trained on three months of email only." in card["limitations"]
    assert card["people"]["trained_by"] == "system"
    assert card["people"]["activated_by"] == "a-owner@example.com"
    markdown = cards.card_markdown(card)
    assert "# Model card: Engagement prediction v1" in markdown
    assert "| south | 300 | 25.0% [" in markdown
    assert "Activated despite a failed audit by a-owner@example.com" in markdown
    assert cards.card_pdf(card).startswith(b"%PDF")


def test_sensitive_values_come_from_contacts_as_declared(world: World) -> None:
    with tenant_context(world.a):
        rows = [
            {"language": "de", "region": "EU", "attributes": {"gender": "f", "birth_year": 1990}},
            {"language": "en", "region": None, "attributes": {"birth_year": "old"}},
            {"language": "en", "region": "US", "attributes": {"gender": "m", "birth_year": 1950}},
        ]
        values = sensitive_values_for(rows=rows, at=datetime(2026, 6, 1, tzinfo=UTC))
    assert values == {
        "age_band": ["36-55", None, ">65"],
        "gender": ["f", None, "m"],
        "language": ["de", "en", "en"],
        "region": ["EU", None, "US"],
    }
