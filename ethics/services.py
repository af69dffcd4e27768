"""Writes of the model registry and bias audits: register a trained version, audit it, activate it
(or override a failed audit with a written, audited reason), flag versions for retraining, and
change the tenant's fairness settings.

The training code of personalization and crisis calls these from its Celery tasks:

    version = model_version_register(kind="engagement", artifact=booster.model_to_string().encode(),
                                     trained_by="system", features=[...], metrics={...}, ...)
    version = model_version_audit(version=version, scores=held_out_scores, top_fraction=0.2,
                                  y_true=engaged_top_fifth, sensitive=sensitive_values_for(rows=...))
    model_version_activate(version=version, by=None)  # refused when the audit failed

and serves whatever `selectors.active_model_version(kind=...)` returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from ethics import cards, fairness
from ethics.models import AttributeSource, FairnessSettings, ModelStatus, ModelVersion, kind_validator
from ethics.selectors import fairness_settings_get
from tenants.access import Access, Capability
from tenants.http import ClientInfo
from tenants.models import AuditAction, User
from tenants.services import audit_record

SYSTEM = "system"
MIN_OVERRIDE_REASON = 20
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024
ACTIVATABLE = (ModelStatus.AUDITED, ModelStatus.REJECTED, ModelStatus.RETIRED)


def _actor(user: User | None) -> tuple[str, str]:
    return (str(user.pk), user.email) if user is not None else (SYSTEM, SYSTEM)


def _card_refresh(version: ModelVersion) -> None:
    version.card = cards.card_build(version)
    version.save(update_fields=["card"])


def _lock_kind(kind: str) -> None:
    """Serialise writers of one kind in this schema (version numbers, the active swap)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            [f"{connection.schema_name}:ethics.model:{kind}"],  # type: ignore[attr-defined]
        )


def model_version_register(
    *,
    kind: str,
    artifact: bytes,
    trained_by: User | None,
    artifact_name: str = "model.bin",
    purpose: str = "",
    algorithm: str = "",
    training_window: tuple[datetime, datetime] | None = None,
    training_rows: int = 0,
    training_rows_excluded: int = 0,
    features: Sequence[str] = (),
    metrics: Mapping[str, float] | None = None,
    limitations: Sequence[str] = (),
) -> ModelVersion:
    """Store a trained version (status `trained`) with the next version number of its kind. The
    artifact is bytes the ML code serialised itself; it lands in the tenant's storage under
    `<schema>/models/<kind>/<version>/`. `trained_by` None means the system trained it."""
    kind_validator(kind)
    if not artifact:
        raise ValidationError({"artifact": ["The artifact is empty."]})
    if len(artifact) > MAX_ARTIFACT_BYTES:
        raise ValidationError({"artifact": [f"The artifact is larger than {MAX_ARTIFACT_BYTES} bytes."]})
    if training_window is not None:
        start, end = training_window
        if timezone.is_naive(start) or timezone.is_naive(end):
            raise ValidationError({"training_window": ["Give timezone-aware datetimes."]})
        if start > end:
            raise ValidationError({"training_window": ["The window starts after it ends."]})
    bad_metrics = [name for name, value in (metrics or {}).items() if not isinstance(value, int | float)]
    if bad_metrics:
        raise ValidationError({"metrics": [f"Metrics must be numbers: {', '.join(bad_metrics)}."]})
    actor, label = _actor(trained_by)
    with transaction.atomic():
        _lock_kind(kind)
        last = ModelVersion.objects.filter(kind=kind).aggregate(last=Max("version"))["last"] or 0
        version = ModelVersion(
            kind=kind,
            version=last + 1,
            artifact_sha256=hashlib.sha256(artifact).hexdigest(),
            artifact_bytes=len(artifact),
            purpose=purpose,
            algorithm=algorithm,
            training_window_start=training_window[0] if training_window else None,
            training_window_end=training_window[1] if training_window else None,
            training_rows=training_rows,
            training_rows_excluded=training_rows_excluded,
            features=list(features),
            metrics=dict(metrics or {}),
            limitations=list(limitations),
            trained_by=actor,
            trained_by_label=label,
        )
        version.artifact.save(artifact_name, ContentFile(artifact), save=False)
        version.save()
        _card_refresh(version)
    return version


def thresholds_for(settings: FairnessSettings) -> fairness.Thresholds:
    return fairness.Thresholds(
        min_dp_ratio=settings.min_dp_ratio,
        max_eo_difference=settings.max_eo_difference,
        min_group_size=settings.min_group_size,
        max_ci_width=settings.max_ci_width,
        resamples=settings.bootstrap_resamples,
    )


def sensitive_values_for(
    *, rows: Iterable[Mapping[str, Any]], at: datetime | None = None
) -> dict[str, list[Any]]:
    """The declared sensitive attributes of each row, for `model_version_audit`. A row is a contact
    as a mapping: its fields, and its free-form attributes under "attributes". Birth years become
    age bands (the tenant's bounds) at `at` (now by default); unknown values stay None."""
    settings = fairness_settings_get()
    year = (at or timezone.now()).year
    out: dict[str, list[Any]] = {spec["name"]: [] for spec in settings.sensitive_attributes}
    for row in rows:
        attributes = row.get("attributes") or {}
        for spec in settings.sensitive_attributes:
            if spec["source"] == AttributeSource.CONTACT_FIELD:
                value = row.get(spec["key"])
            else:
                value = attributes.get(spec["key"])
            if spec["source"] == AttributeSource.BIRTH_YEAR:
                born = value if isinstance(value, int) and 1900 <= value <= year else None
                value = fairness.age_band(year - born, settings.age_band_bounds) if born else None
            out[spec["name"]].append(value)
    return out


def model_version_audit(
    *,
    version: ModelVersion,
    sensitive: Mapping[str, Sequence[Any]],
    y_pred: Sequence[int] | None = None,
    scores: Sequence[float] | None = None,
    threshold: float | None = None,
    top_fraction: float | None = None,
    y_true: Sequence[int] | None = None,
) -> ModelVersion:
    """Audit a version's held-out decisions against the tenant's settings: `y_pred` (0/1), or
    `scores` with a `threshold` or a `top_fraction` (for regression models: the rows they would
    target). `sensitive` must give every attribute the tenant declares (None where unknown).
    A pass makes the version `audited`, a failure `rejected`."""
    if version.status == ModelStatus.ACTIVE:
        raise ValidationError("An active version cannot be audited again: activate another one first.")
    settings = fairness_settings_get()
    declared = [spec["name"] for spec in settings.sensitive_attributes]
    missing = [name for name in declared if name not in sensitive]
    extra = [name for name in sensitive if name not in declared]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"declared but not given: {', '.join(missing)}")
        if extra:
            problems.append(f"given but not declared: {', '.join(extra)}")
        raise ValidationError({"sensitive": [f"Sensitive attributes {'; '.join(problems)}."]})
    decisions: Sequence[int] | np.ndarray
    try:
        if y_pred is not None:
            if scores is not None:
                raise fairness.FairnessInputError("Give y_pred or scores, not both.")
            decisions = y_pred
            rule = "binary decision"
        elif scores is not None:
            decisions = fairness.decisions_from_scores(scores, threshold=threshold, top_fraction=top_fraction)
            rule = f"score >= {threshold}" if threshold is not None else f"top {top_fraction:.0%} of scores"
        else:
            raise fairness.FairnessInputError("Give y_pred, or scores with a threshold or a top_fraction.")
        report = fairness.audit(
            y_pred=decisions,
            y_true=y_true,
            sensitive={name: sensitive[name] for name in declared},
            thresholds=thresholds_for(settings),
            decision_rule=rule,
        )
    except fairness.FairnessInputError as error:
        raise ValidationError(str(error)) from error
    with transaction.atomic():
        version.audit_report = report.to_dict()
        version.audit_passed = report.passed
        version.audited_at = timezone.now()
        version.status = ModelStatus.AUDITED if report.passed else ModelStatus.REJECTED
        version.save(update_fields=["audit_report", "audit_passed", "audited_at", "status"])
        _card_refresh(version)
    return version


def model_version_activate(
    *,
    version: ModelVersion,
    by: Access | None,
    override_reason: str | None = None,
    client: ClientInfo | None = None,
) -> ModelVersion:
    """Make `version` the one active version of its kind, retiring the previous one in the same
    transaction (RELIABILITY 40). A version must be audited first; one that failed its audit needs
    an admin (MANAGE) and a written reason, recorded in the tenant's audit log. `by` None is the
    system (automatic activation after training), which can never override."""
    if by is not None and not by.can(Capability.MANAGE):
        raise PermissionDenied("Activating a model needs the 'manage' permission (admins and owners).")
    reason = (override_reason or "").strip()
    with transaction.atomic():
        _lock_kind(version.kind)
        version.refresh_from_db()
        if version.status == ModelStatus.ACTIVE:
            raise ValidationError("This version is already active.")
        if version.status not in ACTIVATABLE or version.audit_passed is None:
            raise ValidationError("This version has not been audited: it cannot be activated.")
        overridden = version.audit_passed is False
        if overridden:
            if by is None:
                raise ValidationError("This version failed its bias audit: only an admin can override it.")
            if len(reason) < MIN_OVERRIDE_REASON:
                raise ValidationError(
                    {
                        "override_reason": [
                            "This version failed its bias audit. To activate it anyway, write why "
                            f"(at least {MIN_OVERRIDE_REASON} characters); the reason is audited."
                        ]
                    }
                )
        now = timezone.now()
        previous = list(ModelVersion.objects.filter(kind=version.kind, status=ModelStatus.ACTIVE))
        for old in previous:
            old.status = ModelStatus.RETIRED
            old.retired_at = now
            old.save(update_fields=["status", "retired_at"])
            _card_refresh(old)
        actor, label = _actor(by.user if by is not None else None)
        version.status = ModelStatus.ACTIVE
        version.activated_by, version.activated_by_label = actor, label
        version.activated_at = now
        version.retired_at = None
        version.override_reason = reason if overridden else ""
        version.save(
            update_fields=[
                "status",
                "activated_by",
                "activated_by_label",
                "activated_at",
                "retired_at",
                "override_reason",
            ]
        )
        _card_refresh(version)
        details: dict[str, object] = {
            "model_version_id": version.pk,
            "kind": version.kind,
            "version": version.version,
            "audit_passed": version.audit_passed,
            "retired": [old.version for old in previous],
        }
        if overridden:
            details["override_reason"] = reason
            details["failures"] = (version.audit_report or {}).get("failures", [])
        audit_record(
            action=AuditAction.MODEL_AUDIT_OVERRIDDEN if overridden else AuditAction.MODEL_ACTIVATED,
            actor=by.user if by is not None else None,
            actor_label="" if by is not None else SYSTEM,
            tenant=connection.tenant,  # type: ignore[attr-defined]
            target=f"{version.kind} v{version.version}",
            client=client,
            details=details,
        )
    return version


def model_version_retire(
    *, version: ModelVersion, by: Access, reason: str, client: ClientInfo | None = None
) -> ModelVersion:
    """Take the active version out of service without a successor (a kill switch, e.g. when harm is
    found in production): the apps then fall back to their no-model answers. Needs MANAGE and a
    reason, recorded in the tenant's audit log."""
    if not by.can(Capability.MANAGE):
        raise PermissionDenied("Retiring a model needs the 'manage' permission (admins and owners).")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why this version is taken out of service."]})
    with transaction.atomic():
        _lock_kind(version.kind)
        version.refresh_from_db()
        if version.status != ModelStatus.ACTIVE:
            raise ValidationError("Only the active version can be retired.")
        version.status = ModelStatus.RETIRED
        version.retired_at = timezone.now()
        version.save(update_fields=["status", "retired_at"])
        _card_refresh(version)
        audit_record(
            action=AuditAction.MODEL_RETIRED,
            actor=by.user,
            tenant=connection.tenant,  # type: ignore[attr-defined]
            target=f"{version.kind} v{version.version}",
            client=client,
            details={"model_version_id": version.pk, "reason": reason.strip()},
        )
    return version


def model_versions_flag_for_retraining(*, reason: str, kinds: Sequence[str] | None = None) -> int:
    """Mark every version still in use or usable (not retired) as needing retraining, e.g. after an
    erasure removed people from their training data. Returns how many were flagged."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the models need retraining."]})
    with transaction.atomic():
        versions = ModelVersion.objects.exclude(status=ModelStatus.RETIRED)
        if kinds is not None:
            versions = versions.filter(kind__in=kinds)
        flagged = list(versions.select_for_update())
        for version in flagged:
            version.needs_retraining = True
            version.retraining_reason = reason.strip()
            version.save(update_fields=["needs_retraining", "retraining_reason"])
            _card_refresh(version)
    return len(flagged)


SETTINGS_FIELDS = (
    "sensitive_attributes",
    "age_band_bounds",
    "min_dp_ratio",
    "max_eo_difference",
    "min_group_size",
    "max_ci_width",
    "bootstrap_resamples",
)


def fairness_settings_update(*, access: Access, **changes: Any) -> FairnessSettings:
    """Change the tenant's bias-audit settings (MANAGE). Unknown fields are refused."""
    if not access.can(Capability.MANAGE):
        raise PermissionDenied("Changing fairness settings needs the 'manage' permission.")
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError({name: ["Not a fairness setting."] for name in unknown})
    with transaction.atomic():
        settings = fairness_settings_get()
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.updated_by = str(access.user.pk)
        settings.full_clean()
        settings.save()
    return settings
