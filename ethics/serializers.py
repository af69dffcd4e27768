"""API shapes of ethics. Write serializers name exactly what a caller may set."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ethics.models import (
    RECORDABLE_SOURCES,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    DataSubjectRequest,
    DsrKind,
    DsrStep,
    FairnessSettings,
    LawfulBasis,
    LedgerCheck,
    ModelStatus,
    ModelVersion,
    Notice,
    Purpose,
    kind_validator,
)
from personalization.serializers import ContactWriteSerializer


class NoticeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notice
        fields = ["id", "version", "text", "text_sha256", "created_at"]
        read_only_fields = fields


class PurposeSerializer(serializers.ModelSerializer):
    current_notice = serializers.SerializerMethodField()

    class Meta:
        model = Purpose
        fields = ["id", "code", "name", "description", "is_active", "created_at", "current_notice"]
        read_only_fields = fields

    def get_current_notice(self, purpose: Purpose) -> dict[str, Any] | None:
        # Notices are prefetched newest first (selectors.purpose_list).
        notices = list(purpose.notices.all())
        return NoticeSerializer(notices[0]).data if notices else None


class PurposeCreateSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    notice_text = serializers.CharField(max_length=20_000)


class PurposeUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    is_active = serializers.BooleanField(required=False)


class NoticeCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20_000)


class ConsentRecordSerializer(serializers.Serializer):
    purpose = serializers.SlugField(max_length=50, help_text="The purpose's code")
    action = serializers.ChoiceField(choices=ConsentAction.choices)
    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices, default=LawfulBasis.CONSENT)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a DRF field named like a stub attribute
        choices=RECORDABLE_SOURCES, default=ConsentSource.API
    )
    notice_version = serializers.IntegerField(required=False, min_value=1)
    form_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ConsentEventSerializer(serializers.ModelSerializer):
    purpose = serializers.CharField(source="purpose.code")
    notice_version = serializers.IntegerField(source="notice.version", allow_null=True, default=None)
    evidence = serializers.SerializerMethodField()

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "seq",
            "purpose",
            "notice_version",
            "action",
            "lawful_basis",
            "source",
            "actor",
            "occurred_at",
            "evidence",
            "hash",
        ]
        read_only_fields = fields

    def get_evidence(self, event: ConsentEvent) -> dict[str, Any] | None:
        evidence = getattr(event, "evidence", None)
        if evidence is None:
            return None
        return {
            "ip_address": evidence.ip_address,
            "user_agent": evidence.user_agent,
            "form_id": evidence.form_id,
        }


class LedgerCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = LedgerCheck
        fields = [
            "id",
            "status",
            "requested_at",
            "started_at",
            "finished_at",
            "checked",
            "head_hash",
            "broken_seq",
            "broken_event_id",
            "reason",
        ]
        read_only_fields = fields


class DsrStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = DsrStep
        fields = ["at", "actor", "action", "detail"]
        read_only_fields = fields


class DsrSerializer(serializers.ModelSerializer):
    steps = DsrStepSerializer(many=True, read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DataSubjectRequest
        fields = [
            "id",
            "kind",
            "status",
            "contact",
            "subject_handles",
            "changes",
            "received_at",
            "due_at",
            "verification_method",
            "verified_at",
            "result",
            "error",
            "completed_at",
            "download_url",
            "steps",
        ]
        read_only_fields = fields

    def get_download_url(self, dsr: DataSubjectRequest) -> str | None:
        return f"/api/v1/dsrs/{dsr.pk}/download" if dsr.export_file else None


class DsrCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DsrKind.choices)
    contact = serializers.IntegerField(required=False, min_value=1)
    subject_handles = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=20, default=list
    )
    changes = ContactWriteSerializer(required=False, partial=True)
    due_days = serializers.IntegerField(required=False, min_value=1, max_value=90, default=30)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == DsrKind.RECTIFICATION and not attrs.get("changes"):
            raise serializers.ValidationError({"changes": "Rectification needs the corrected values."})
        if attrs["kind"] != DsrKind.RECTIFICATION and attrs.get("changes"):
            raise serializers.ValidationError({"changes": "Only rectification takes changes."})
        return attrs


class DsrCodeSerializer(serializers.Serializer):
    code = serializers.RegexField(r"^\s*[0-9]{8}\s*$", help_text="The 8-digit code the person received")


class DsrAttestSerializer(serializers.Serializer):
    method = serializers.CharField(max_length=100, help_text="How identity was verified, e.g. 'call-back'")
    note = serializers.CharField(max_length=2000)


class RetentionPolicySerializer(serializers.Serializer):
    periods = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=36_500, allow_null=True),
        help_text="kind -> days (null: keep forever). Kinds: see the dry run.",
    )


class RetentionLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a DRF field named like a stub attribute
    days = serializers.IntegerField(allow_null=True)
    cutoff = serializers.DateTimeField(allow_null=True)
    would_remove = serializers.IntegerField()


class PreferenceLinkSerializer(serializers.Serializer):
    send = serializers.BooleanField(default=False, help_text="Also email the link to the contact")


class PreferenceLinkOutSerializer(serializers.Serializer):
    url = serializers.URLField()
    sent = serializers.BooleanField()


MAX_BATCH = 1000


class ConsentBatchItemSerializer(serializers.Serializer):
    contact = serializers.IntegerField(min_value=1)
    purpose = serializers.SlugField(max_length=50)
    action = serializers.ChoiceField(choices=ConsentAction.choices)
    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices, default=LawfulBasis.CONSENT)
    notice_version = serializers.IntegerField(required=False, min_value=1)


class ConsentBatchSerializer(serializers.Serializer):
    events = ConsentBatchItemSerializer(many=True, allow_empty=False)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a DRF field named like a stub attribute
        choices=RECORDABLE_SOURCES, default=ConsentSource.IMPORT
    )
    form_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def validate_events(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_BATCH:
            raise serializers.ValidationError(f"At most {MAX_BATCH} events per batch.")
        return value


class ConsentBatchResultSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()
    first_seq = serializers.IntegerField()
    last_seq = serializers.IntegerField()


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
