"""Tenant-schema models of ethics: processing purposes and their versioned notices, the consent
ledger, data-subject requests and retention.

The ledger is split so erasure keeps the proof without the person: `ConsentEvent` rows (append-only
in the database, hash-chained) name the contact only by a keyed pseudonym and the evidence only by a
salted digest; the contact link and the raw evidence live in `ConsentEvidence` and `ConsentInterval`,
which erasure deletes. Every hash still verifies afterwards.
"""

from __future__ import annotations

import itertools
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.crypto import EncryptedTextField


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTERESTS = "vital_interests", "Vital interests"
    PUBLIC_TASK = "public_task", "Public task"


class ConsentAction(models.TextChoices):
    GRANT = "grant", "Granted"
    WITHDRAW = "withdraw", "Withdrawn"


class ConsentSource(models.TextChoices):
    PORTAL = "portal", "Portal"
    API = "api", "API"
    IMPORT = "import", "Import"
    PREFERENCE_PAGE = "preference_page", "Preference page"


# What API callers may name as a source: the preference page and the portal record their own.
RECORDABLE_SOURCES = [(ConsentSource.API.value, "API"), (ConsentSource.IMPORT.value, "Import")]


class Purpose(models.Model):
    """Why personal data is processed. `code` is what code and the ledger name; it never changes."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Notice(models.Model):
    """The text a person is shown when asked for a purpose. A new text is a new version; old
    versions stay, so every consent event names exactly the text that was shown (RELIABILITY 32)."""

    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="notices")
    version = models.PositiveIntegerField()
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_id = models.BigIntegerField(null=True, blank=True)  # a public-schema user id

    class Meta:
        ordering = ["purpose_id", "-version"]
        constraints = [models.UniqueConstraint(fields=["purpose", "version"], name="notice_version_unique")]

    def __str__(self) -> str:
        return f"{self.purpose_id} v{self.version}"


class LedgerKey(models.Model):
    """The tenant's secret for the ledger's keyed pseudonyms (HMAC-SHA256 of a contact's uuid).
    One row per schema, made on first use, so no two tenants (nor the template) share it."""

    secret = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"ledger key of {self.created_at:%Y-%m-%d}"


class ConsentEvent(models.Model):
    """One grant or withdrawal. Append-only at the database level (migration 0002's triggers refuse
    UPDATE, DELETE and TRUNCATE) and chained: `hash = sha256(prev_hash || canonical JSON)`, appended
    one at a time under an advisory lock so the chain cannot fork."""

    seq = models.PositiveBigIntegerField(unique=True)
    pseudonym = models.CharField(max_length=64, db_index=True)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    notice = models.ForeignKey(Notice, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=8, choices=ConsentAction.choices)
    lawful_basis = models.CharField(max_length=24, choices=LawfulBasis.choices)
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    actor = models.CharField(max_length=100)  # "user:<id>", "token:<prefix>", "subject", "system"
    occurred_at = models.DateTimeField()
    evidence_digest = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.purpose_id}"


class ConsentEvidence(models.Model):
    """The erasable half of an event: who it was about and the raw evidence. The event keeps only
    sha256(salt || evidence), so once this row is gone the digest proves nothing about anyone."""

    event = models.OneToOneField(ConsentEvent, on_delete=models.PROTECT, related_name="evidence")
    contact = models.ForeignKey("personalization.Contact", on_delete=models.CASCADE, related_name="+")
    salt = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    form_id = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"evidence of #{self.event_id}"


class ConsentInterval(models.Model):
    """Current state, derived from the ledger in the same transaction as each append: a contact has
    permission for a purpose from `granted_from` until `granted_until` (open while current). "Who
    may be reached for P at time T" is one indexed range query, never a replay."""

    contact = models.ForeignKey("personalization.Contact", on_delete=models.CASCADE, related_name="+")
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="+")
    lawful_basis = models.CharField(max_length=24, choices=LawfulBasis.choices)
    granted_from = models.DateTimeField()
    granted_until = models.DateTimeField(null=True, blank=True)
    grant_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    withdraw_event = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "purpose"],
                condition=Q(granted_until__isnull=True),
                name="consent_interval_one_open",
            )
        ]
        indexes = [
            models.Index(fields=["purpose", "granted_from", "granted_until"], name="consent_interval_at"),
            models.Index(fields=["contact", "purpose"], name="consent_interval_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}:{self.purpose_id} {self.granted_from}..{self.granted_until}"


class DsrKind(models.TextChoices):
    ACCESS = "access", "Access and export"
    RECTIFICATION = "rectification", "Rectification"
    ERASURE = "erasure", "Erasure"
    RESTRICTION = "restriction", "Restriction"


class DsrStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    VERIFYING = "verifying", "Waiting for the identity code"
    VERIFIED = "verified", "Identity verified"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class VerificationMethod(models.TextChoices):
    EMAIL_CODE = "email_code", "Code emailed to the contact's address"
    ATTESTATION = "attestation", "Attested by an admin"


def dsr_export_path(instance: DataSubjectRequest, filename: str) -> str:
    # Tenant-aware storage puts this under the tenant's schema: `<schema>/dsr/<file>`.
    return f"dsr/{filename}"


class DataSubjectRequest(models.Model):
    """A person's request about their data (GDPR Art. 15-18, 20). The contact link is cleared when
    an erasure completes; the request and its steps remain as the record that it was honoured."""

    kind = models.CharField(max_length=16, choices=DsrKind.choices)
    status = models.CharField(max_length=16, choices=DsrStatus.choices, default=DsrStatus.RECEIVED)
    contact = models.ForeignKey(
        "personalization.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Mention authors are rarely contacts (RELIABILITY 35): a request may name handles instead of,
    # or besides, a contact. Cleared when an erasure completes.
    subject_handles = models.JSONField(default=list, blank=True)
    changes = models.JSONField(default=dict, blank=True)  # rectification: field -> new value
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    verification_method = models.CharField(max_length=16, choices=VerificationMethod.choices, blank=True)
    verification_note = models.TextField(blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    code_digest = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    export_file = models.FileField(upload_to=dsr_export_path, max_length=200, blank=True)
    error = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # RELIABILITY 31: the same key with the same body replays the first answer.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    request_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "due_at"], name="dsr_open_due")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class DsrStep(models.Model):
    """The audit trail of a request: every step, who took it, when. Holds no personal data."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="steps")
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=100)
    action = models.CharField(max_length=32)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.action}"


class LedgerCheckStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    INTACT = "intact", "Intact"
    BROKEN = "broken", "Broken"
    FAILED = "failed", "Could not run"


class LedgerCheck(models.Model):
    """One verification of the consent ledger's hash chain, run by a worker (a ledger of millions of
    events takes minutes, too long for a request): nightly for every tenant, and on request."""

    status = models.CharField(
        max_length=8, choices=LedgerCheckStatus.choices, default=LedgerCheckStatus.QUEUED
    )
    requested_by_id = models.BigIntegerField(null=True, blank=True)  # None: the nightly run
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)
    broken_seq = models.PositiveBigIntegerField(null=True, blank=True)
    broken_event_id = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # At most one check waiting: asking again while one waits joins it instead of queueing more.
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="queued"),
                name="ledger_check_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"ledger check {self.pk}: {self.status}"


class RetentionPolicy(models.Model):
    """How long each kind of data is kept, in days (`periods`: kind -> days; a kind left out is
    kept). Kinds are those registered in `ethics.retention`. One row per tenant."""

    periods = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_id = models.BigIntegerField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_result = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"retention {self.periods}"


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
