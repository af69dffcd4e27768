from __future__ import annotations

import itertools
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Model registry and bias audits ------------------------------------------------------------------


class ModelKind(models.TextChoices):
    """The kinds Candor trains today. The field takes any slug, so a new model kind needs no
    migration; these give the known ones their labels and purposes."""

    SEGMENTATION = "segmentation", "Audience segmentation"
    ENGAGEMENT = "engagement", "Engagement prediction"
    TIMING = "timing", "Send-time recommendation"
    CRISIS_RISK = "crisis_risk", "Crisis risk"


class ModelStatus(models.TextChoices):
    TRAINED = "trained", "Trained, not audited"
    AUDITED = "audited", "Audit passed"
    REJECTED = "rejected", "Audit failed"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


kind_validator = RegexValidator(r"^[a-z][a-z0-9_]{1,31}$", "A kind is a lowercase slug: letters, digits, _.")


def artifact_path(instance: ModelVersion, filename: str) -> str:
    # Tenant-aware storage puts this under the tenant's schema: `<schema>/models/<kind>/<version>/`.
    return f"models/{instance.kind}/{instance.version}/{filename}"


class ModelVersion(models.Model):
    """One trained version of one kind of model in this tenant, with its audit and its card.

    The artifact is bytes the ML code serialised itself (LightGBM's model text, numpy arrays as
    .npz): never a pickle, which would run code when loaded. At most one version per kind is
    active, enforced by a partial unique index; activation swaps it in one transaction.
    """

    kind = models.CharField(max_length=32, validators=[kind_validator])
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.TRAINED)
    artifact = models.FileField(upload_to=artifact_path, max_length=300)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_bytes = models.PositiveBigIntegerField()
    purpose = models.TextField(blank=True)
    algorithm = models.CharField(max_length=100, blank=True)
    training_window_start = models.DateTimeField(null=True, blank=True)
    training_window_end = models.DateTimeField(null=True, blank=True)
    # Rows after the consent gate, and how many the gate held back.
    training_rows = models.PositiveIntegerField(default=0)
    training_rows_excluded = models.PositiveIntegerField(default=0)
    features = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    limitations = models.JSONField(default=list, blank=True)
    # Public user ids (as text) or "system"; labels are copied so the card reads after a user leaves.
    trained_by = models.CharField(max_length=64)
    trained_by_label = models.CharField(max_length=254, blank=True)
    audit_report = models.JSONField(null=True, blank=True)
    audit_passed = models.BooleanField(null=True)
    audited_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.CharField(max_length=64, blank=True)
    activated_by_label = models.CharField(max_length=254, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    override_reason = models.TextField(blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    needs_retraining = models.BooleanField(default=False)
    retraining_reason = models.TextField(blank=True)
    card = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="ethics_model_version_unique"),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(status="active"), name="ethics_model_one_active_per_kind"
            ),
        ]
        indexes = [models.Index(fields=["kind", "status"], name="ethics_model_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version} ({self.status})"

    @property
    def kind_label(self) -> str:
        return dict(ModelKind.choices).get(self.kind, self.kind.replace("_", " ").capitalize())


class AttributeSource(models.TextChoices):
    CONTACT_FIELD = "field", "A field of the contact"
    CONTACT_ATTRIBUTE = "attribute", "A key of the contact's attributes"
    BIRTH_YEAR = "birth_year", "Age band from a birth year (an attribute key)"


ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def validate_sensitive_attributes(value: object) -> None:
    """A list of {"name", "source", "key"}: names unique slugs, sources known, keys given."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Declare at least one sensitive attribute, as a list.")
    names: set[str] = set()
    for index, spec in enumerate(value):
        where = f"Attribute {index + 1}"
        if not isinstance(spec, dict) or set(spec) != {"name", "source", "key"}:
            raise ValidationError(f"{where}: give exactly name, source and key.")
        if not isinstance(spec["name"], str) or not ATTRIBUTE_NAME.match(spec["name"]):
            raise ValidationError(f"{where}: the name must be a lowercase slug.")
        if spec["name"] in names:
            raise ValidationError(f"{where}: '{spec['name']}' is declared twice.")
        names.add(spec["name"])
        if spec["source"] not in AttributeSource.values:
            raise ValidationError(f"{where}: source must be one of {', '.join(AttributeSource.values)}.")
        if not isinstance(spec["key"], str) or not ATTRIBUTE_NAME.match(spec["key"]):
            raise ValidationError(f"{where}: the key must be a lowercase slug.")


def validate_age_band_bounds(value: object) -> None:
    ok = (
        isinstance(value, list)
        and 1 <= len(value) <= 10
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 130 for v in value)
        and all(a < b for a, b in itertools.pairwise(value))
    )
    if not ok:
        raise ValidationError("Age band bounds are 1 to 10 increasing whole ages, e.g. [25, 35, 55, 65].")


def default_sensitive_attributes() -> list[dict[str, str]]:
    return [
        {"name": "age_band", "source": AttributeSource.BIRTH_YEAR, "key": "birth_year"},
        {"name": "gender", "source": AttributeSource.CONTACT_ATTRIBUTE, "key": "gender"},
        {"name": "language", "source": AttributeSource.CONTACT_FIELD, "key": "language"},
        {"name": "region", "source": AttributeSource.CONTACT_FIELD, "key": "region"},
    ]


def default_age_band_bounds() -> list[int]:
    return [25, 35, 55, 65]


class FairnessSettings(models.Model):
    """The tenant's bias-audit settings: one row per tenant schema (pk 1)."""

    sensitive_attributes = models.JSONField(
        default=default_sensitive_attributes, validators=[validate_sensitive_attributes]
    )
    age_band_bounds = models.JSONField(default=default_age_band_bounds, validators=[validate_age_band_bounds])
    min_dp_ratio = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    max_eo_difference = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    min_group_size = models.PositiveIntegerField(default=30, validators=[MinValueValidator(2)])
    max_ci_width = models.FloatField(
        default=0.4, validators=[MinValueValidator(0.01), MaxValueValidator(1.0)]
    )
    bootstrap_resamples = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(100), MaxValueValidator(10_000)]
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name_plural = "fairness settings"

    def __str__(self) -> str:
        return "Fairness settings"
