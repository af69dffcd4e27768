"""Public-schema models: who the client companies are, who may reach them, and what happened."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.utils import get_creation_fakes_migrations, schema_exists

from tenants.cloning import clone_schema

slug_validator = RegexValidator(
    r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$",
    "Use 3-40 lowercase letters, digits or hyphens, starting with a letter.",
)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    ANALYST = "analyst", "Analyst"
    APPROVER = "approver", "Approver"
    VIEWER = "viewer", "Viewer"


class Agency(models.Model):  # type: ignore[django-manager-missing]  # TenantMixin is untyped
    """A communications agency that runs several client tenants."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=40, unique=True, validators=[slug_validator])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tenant(TenantMixin):
    """A client company, with its own PostgreSQL schema."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=40, unique=True, validators=[slug_validator])
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="tenants"
    )
    # The public tenant and the migrated template that new tenants are cloned from are not clients.
    is_client = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    auto_create_schema = True
    auto_drop_schema = True

    def create_schema(
        self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1
    ) -> bool:
        """Clone the migrated template (tenants.cloning) instead of django-tenants' clone function,
        which loses the dimensions of pgvector columns. The template itself, and installations
        that switched cloning off, are built by running the migrations."""
        template = settings.TENANT_BASE_SCHEMA
        if (
            not sync_schema
            or not get_creation_fakes_migrations()
            or self.schema_name == template
            or not schema_exists(template)
        ):
            return bool(super().create_schema(check_if_exists, sync_schema, verbosity))
        if check_if_exists and schema_exists(self.schema_name):
            return False
        clone_schema(template, self.schema_name)
        return True

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Domain(DomainMixin):
    pass


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_user_tenant_unique")
        ]
        ordering = ["user__email"]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.tenant_id} as {self.role}"


class AgencyMembership(models.Model):
    """Agency staff: their role applies in every client tenant of the agency."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="agency_memberships")
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "agency"], name="agency_membership_unique")]
        ordering = ["user__email"]

    def __str__(self) -> str:
        return f"{self.user_id} in agency {self.agency_id} as {self.role}"


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"


class ApiToken(models.Model):
    """A bearer token that acts for its user, narrowed to named tenants and a scope.

    Only a SHA-256 digest of the secret is stored: the token is 190 random bits, so a slow hash adds
    nothing. The public `prefix` finds the row; the digest is compared in constant time.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    tenants = models.ManyToManyField(Tenant, related_name="api_tokens", blank=True)
    # An agency token may also use the agency endpoints (list and create client tenants).
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.READ)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
    SIGN_OUT = "sign_out", "Signed out"
    PASSWORD_RESET_REQUESTED = "password_reset_requested", "Password reset requested"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    TOKEN_CREATED = "token_created", "API token created"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    MEMBER_ADDED = "member_added", "Member added"
    ROLE_CHANGED = "role_changed", "Role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    TENANT_CREATED = "tenant_created", "Tenant created"
    MODEL_ACTIVATED = "model_activated", "Model version activated"
    MODEL_AUDIT_OVERRIDDEN = "model_audit_overridden", "Failed bias audit overridden"
    MODEL_RETIRED = "model_retired", "Model version retired"
    CRISIS_MODE_ON = "crisis_mode_on", "Crisis mode switched on"
    CRISIS_MODE_OFF = "crisis_mode_off", "Crisis mode switched off"
    AGENCY_PAUSE = "agency_pause", "Agency paused several clients"
    AGENCY_RESUME = "agency_resume", "Agency resumed several clients"
    INCIDENT_DECLARED = "incident_declared", "Incident declared"
    INCIDENT_STATUS = "incident_status", "Incident resolved, closed or reopened"
    PLAYBOOK_CHANGED = "playbook_changed", "Playbook created or changed"
    POST_SENDS_RETRIED = "post_sends_retried", "Failed post sends retried"


class AuditEvent(models.Model):
    """Append-only record of security-relevant actions, kept in the public schema.

    Labels are copied at write time so the record stays readable after a user or tenant is gone.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=254, blank=True)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=254, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_recent"),
            models.Index(fields=["agency", "-created_at"], name="audit_agency_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target}"


class ClientRiskSummary(models.Model):
    """One row per client tenant, kept in the public schema so an agency's portfolio of hundreds of
    clients is one query: the latest risk and its trend, open incidents and crisis mode. Written
    by `crisis.portfolio_services` when a snapshot, incident or crisis-mode switch commits, and
    recomputed from the schemas by `portfolio_rebuild`."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="risk_summary")
    score = models.FloatField(null=True, blank=True)
    score_1h_ago = models.FloatField(null=True, blank=True)
    score_24h_ago = models.FloatField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    sparkline = models.JSONField(default=list, blank=True)  # hourly max score over the last 24 h
    open_incidents = models.PositiveIntegerField(default=0)
    worst_severity = models.PositiveSmallIntegerField(null=True, blank=True)  # 1 = SEV1
    oldest_open_at = models.DateTimeField(null=True, blank=True)
    crisis_mode = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["-score"], name="risk_summary_score")]

    def __str__(self) -> str:
        return f"{self.tenant_id}: risk {self.score}"
