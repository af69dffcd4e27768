"""API shapes of the model registry and fairness settings. Write serializers name exactly what a
caller may set; everything else of a version is written by the training code through services."""

from __future__ import annotations

from rest_framework import serializers

from ethics.models import FairnessSettings, ModelStatus, ModelVersion, kind_validator


class ModelVersionSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(read_only=True)
    audit_failures = serializers.SerializerMethodField()
    audit_warnings = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "kind",
            "kind_label",
            "version",
            "status",
            "algorithm",
            "purpose",
            "artifact_sha256",
            "artifact_bytes",
            "training_window_start",
            "training_window_end",
            "training_rows",
            "training_rows_excluded",
            "features",
            "metrics",
            "trained_by",
            "audit_passed",
            "audited_at",
            "audit_failures",
            "audit_warnings",
            "activated_by",
            "activated_at",
            "override_reason",
            "retired_at",
            "needs_retraining",
            "retraining_reason",
            "created_at",
        ]
        read_only_fields = fields

    def get_audit_failures(self, version: ModelVersion) -> list[str]:
        return list((version.audit_report or {}).get("failures", []))

    def get_audit_warnings(self, version: ModelVersion) -> list[str]:
        return list((version.audit_report or {}).get("warnings", []))


class ModelVersionFilterSerializer(serializers.Serializer):
    kind = serializers.CharField(required=False, max_length=32, validators=[kind_validator])
    status = serializers.ChoiceField(required=False, choices=ModelStatus.choices)


class ActivateSerializer(serializers.Serializer):
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Needed, at least 20 characters, only when the version failed its bias audit.",
    )


class RetireSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the version is taken out of service.")


class ExportSerializer(serializers.Serializer):
    # Not `format`: DRF reads that query parameter to choose its renderer.
    to = serializers.ChoiceField(choices=["json", "markdown", "pdf", "csv"], required=False, default="json")


class SensitiveAttributeSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[a-z][a-z0-9_]{0,31}$", help_text="The attribute's name in audits.")
    # The metaclass takes declared fields off the class, so this does not shadow Field.source.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["field", "attribute", "birth_year"],
        help_text="field: a contact field; attribute: a key of its attributes; birth_year: an age band.",
    )
    key = serializers.RegexField(r"^[a-z][a-z0-9_]{0,31}$", help_text="The field or attribute key.")


class FairnessSettingsSerializer(serializers.ModelSerializer):
    sensitive_attributes = SensitiveAttributeSerializer(many=True, required=False, allow_empty=False)
    age_band_bounds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=129),
        required=False,
        min_length=1,
        max_length=10,
    )

    class Meta:
        model = FairnessSettings
        fields = [
            "sensitive_attributes",
            "age_band_bounds",
            "min_dp_ratio",
            "max_eo_difference",
            "min_group_size",
            "max_ci_width",
            "bootstrap_resamples",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
