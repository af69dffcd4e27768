"""Crisis data of one tenant: the risk score's history, the tenant's playbooks, incidents with their
roles, tasks and self-recording timeline, and statements with claims, approvals and publications.

Users live in the public schema, so people are kept as public-schema user ids (a foreign key cannot
cross schemas), with a label where history must stay readable after the user is gone.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from crisis.scenarios import Scenario


class ScenarioChoice(models.TextChoices):
    SERVICE_OUTAGE = Scenario.SERVICE_OUTAGE.value, "Service outage"
    DATA_BREACH = Scenario.DATA_BREACH.value, "Data breach"
    CYBERATTACK = Scenario.CYBERATTACK.value, "Cyberattack"
    PRODUCT_DEFECT = Scenario.PRODUCT_DEFECT.value, "Product defect"
    VULNERABILITY_DISCLOSURE = Scenario.VULNERABILITY_DISCLOSURE.value, "Security vulnerability disclosure"
    EXECUTIVE_MISCONDUCT = Scenario.EXECUTIVE_MISCONDUCT.value, "Executive misconduct"
    LAYOFFS = Scenario.LAYOFFS.value, "Layoffs"
    NATURAL_DISASTER = Scenario.NATURAL_DISASTER.value, "Natural disaster affecting service"


# Risk ---------------------------------------------------------------------------------------------


class RiskTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Every 5 minutes"
    ON_DEMAND = "on_demand", "On demand"


class RiskSnapshot(models.Model):
    """One evaluation of the crisis-risk score for the 5-minute bucket starting at `bucket_start`:
    the score and probabilities, the factor points that add up to it (`base + sum(factors) ==
    score`), the features behind them, and the evidence mentions. Scheduled snapshots are unique per
    bucket (a retried evaluation writes once); on-demand ones are kept beside them."""

    bucket_start = models.DateTimeField()
    computed_at = models.DateTimeField(default=timezone.now)
    trigger = models.CharField(max_length=10, choices=RiskTrigger.choices, default=RiskTrigger.SCHEDULE)
    score = models.FloatField()
    probability_6h = models.FloatField()
    probability_24h = models.FloatField()
    base = models.FloatField()
    factors = models.JSONField(default=dict)  # factor -> score points
    features = models.JSONField(default=dict)
    # [{"mention_id": .., "why": ..}]: the mentions that most drove the factors, strongest first.
    evidence = models.JSONField(default=list, blank=True)
    alert = models.BooleanField(default=False)  # the alert policy raised a crisis alert here
    model_version = models.CharField(max_length=64)
    calibration = models.CharField(max_length=16, default="global")  # "global" or "tenant"
    # The models' raw log-odds (RiskScore.margin_*): the tenant's recalibration is fitted on them.
    margin_6h = models.FloatField(null=True, blank=True)
    margin_24h = models.FloatField(null=True, blank=True)
    # The crisis alert raised here (listening's Alert of the tenant's crisis-risk rule).
    alert_ref = models.ForeignKey(
        "listening.Alert", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-bucket_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket_start"],
                condition=models.Q(trigger="schedule"),
                name="risk_snapshot_scheduled_once",
            )
        ]
        indexes = [models.Index(fields=["-bucket_start", "-id"], name="risk_snapshot_recent")]

    def __str__(self) -> str:
        return f"risk {self.score:.0f} @ {self.bucket_start:%Y-%m-%d %H:%M}"


class RiskState(models.Model):
    """The tenant's one row: the online scorer's state between 5-minute runs, the tenant's own
    calibration (once it has enough declared incidents), and its crisis-mode opt-in."""

    singleton = models.BooleanField(default=True, unique=True)
    stream = models.JSONField(default=dict, blank=True)  # RiskStream.dump()
    last_bucket_start = models.DateTimeField(null=True, blank=True)
    calibration = models.JSONField(default=dict, blank=True)  # {"6h": {...}, "24h": {...}} or {}
    calibration_incidents = models.PositiveIntegerField(default=0)
    # Opt-in: a score at or above this pauses scheduled posts (crisis mode). NULL: off.
    auto_pause_threshold = models.FloatField(null=True, blank=True)
    # An auto-pause episode is running: crisis mode was switched on by the score, and is not
    # switched on again until the score has fallen back below the threshold's release.
    auto_pause_active = models.BooleanField(default=False)
    calibrated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"risk state @ {self.last_bucket_start}"


# Playbooks ----------------------------------------------------------------------------------------


class PlaybookOrigin(models.TextChoices):
    SHIPPED = "shipped", "Shipped with Candor"
    CUSTOM = "custom", "Written by the tenant"


class Playbook(models.Model):
    """A tenant's playbook: a shipped one (copied in, editable) or its own. `definition` holds the
    document validated by `crisis.playbooks.playbook_parse` (steps, owners, deadlines, channels,
    holding statement templates)."""

    key = models.SlugField(max_length=64, unique=True)
    scenario = models.CharField(max_length=32, choices=ScenarioChoice.choices)
    name = models.CharField(max_length=200)
    definition = models.JSONField()
    origin = models.CharField(max_length=8, choices=PlaybookOrigin.choices, default=PlaybookOrigin.CUSTOM)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    updated_by_id = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["scenario", "name"]

    def __str__(self) -> str:
        return self.name


# Incidents ----------------------------------------------------------------------------------------


class Severity(models.IntegerChoices):
    SEV1 = 1, "SEV1 (critical)"
    SEV2 = 2, "SEV2 (major)"
    SEV3 = 3, "SEV3 (minor)"
    SEV4 = 4, "SEV4 (low)"


class IncidentStatus(models.TextChoices):
    DECLARED = "declared", "Declared"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class IncidentSource(models.TextChoices):
    ALERT = "alert", "From an alert"
    RISK = "risk", "From the risk score"
    MANUAL = "manual", "By hand"
    API = "api", "Through the API"


class Incident(models.Model):
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    scenario = models.CharField(max_length=32, choices=ScenarioChoice.choices)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.SEV2)
    status = models.CharField(max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.DECLARED)
    source = models.CharField(max_length=8, choices=IncidentSource.choices, default=IncidentSource.MANUAL)
    owner_id = models.BigIntegerField(null=True, blank=True)
    declared_by_id = models.BigIntegerField(null=True, blank=True)
    alert = models.ForeignKey(
        "listening.Alert", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    risk_snapshot = models.ForeignKey(
        RiskSnapshot, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    playbook = models.ForeignKey(
        Playbook, on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    # The playbook as it was at declaration: later edits of the playbook do not rewrite history.
    playbook_snapshot = models.JSONField(default=dict, blank=True)
    variables = models.JSONField(default=dict, blank=True)  # holding statement template values
    # The report's clock: first anomalous signal, alert, declaration, resolution, closing.
    first_signal_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(null=True, blank=True)
    declared_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Crisis mode as this incident drives it: posts held at declaration (tenant or these channels).
    pauses_posts = models.BooleanField(default=True)
    paused_channel_ids = models.JSONField(default=list, blank=True)  # [] with pauses_posts: all
    # API create with an Idempotency-Key: the same request again answers the first incident.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    request_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-declared_at", "-id"]
        indexes = [models.Index(fields=["status", "-declared_at"], name="incident_open")]

    def __str__(self) -> str:
        return self.title


class IncidentRole(models.Model):
    """Who holds a playbook role (incident commander, comms lead, legal...) in an incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=32)
    user_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "role"], name="incident_role_once")]

    def __str__(self) -> str:
        return f"{self.incident_id}: {self.role} = {self.user_id}"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"


class IncidentTask(models.Model):
    """A playbook step of one incident (or a task added by hand), with its owner and due time."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tasks")
    step_id = models.CharField(max_length=64, blank=True)  # empty: added by hand
    title = models.CharField(max_length=300)
    instructions = models.TextField(blank=True)
    role = models.CharField(max_length=32, blank=True)
    owner_id = models.BigIntegerField(null=True, blank=True)
    channels = models.JSONField(default=list, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "step_id"], condition=~models.Q(step_id=""), name="incident_step_once"
            )
        ]

    def __str__(self) -> str:
        return self.title


class TimelineKind(models.TextChoices):
    DECLARED = "declared", "Incident declared"
    ALERT = "alert", "Alert"
    RISK = "risk", "Risk score changed"
    STATUS = "status", "Status changed"
    SEVERITY = "severity", "Severity changed"
    OWNER = "owner", "Owner or role changed"
    TASK = "task", "Task"
    STATEMENT = "statement", "Statement"
    APPROVAL = "approval", "Approval"
    PUBLISHED = "published", "Statement published"
    POSTS_PAUSED = "posts_paused", "Scheduled posts paused"
    POSTS_RESUMED = "posts_resumed", "Scheduled posts resumed"
    POST_SENT = "post_sent", "Post sent"
    NOTE = "note", "Note"


class TimelineEntry(models.Model):
    """The incident's timeline: it records itself (`crisis.services.timeline_record` is the only
    writer) and is never edited; a correction is a new note."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=TimelineKind.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)  # None: the system
    actor_label = models.CharField(max_length=254, blank=True)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"], name="timeline_incident_at")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.kind} @ {self.at:%H:%M}"


# Statements ---------------------------------------------------------------------------------------


class StatementStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "Awaiting approval"
    APPROVED = "approved", "Approved"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"


class Statement(models.Model):
    """A statement of an incident: drafted (from a playbook template or by hand), its factual claims
    verified, approved by enough approvers before its deadline, then published to channels.
    Any edit of its text makes it a draft again (approvals are of a version)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="statements")
    title = models.CharField(max_length=200)
    body = models.TextField()
    template_id = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=StatementStatus.choices, default=StatementStatus.DRAFT)
    tone_report = models.JSONField(default=dict, blank=True)  # crisis.tone.check.tone_check of `body`
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approver_role = models.CharField(max_length=16, default="approver")  # tenants.models.Role
    approval_due_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    # Who last wrote the text: like its author, they may not approve the version they wrote.
    edited_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["approval_due_at"],
                condition=models.Q(status="in_review", escalated_at__isnull=True),
                name="statement_review_due",
            )
        ]

    def __str__(self) -> str:
        return self.title


class ClaimStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Not yet confirmed"
    CONFIRMED = "confirmed", "Confirmed"
    DISPUTED = "disputed", "Disputed"


class StatementClaim(models.Model):
    """A factual claim the statement makes; every one must be confirmed (by whom, on what basis)
    before the statement goes to approval."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="claims")
    text = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.UNVERIFIED)
    basis = models.TextField(blank=True)  # how it was confirmed (source, system, person asked)
    confirmed_by_id = models.BigIntegerField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:60]


class ApprovalDecision(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Changes requested"


class StatementApproval(models.Model):
    """One approver's decision on one version of a statement."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="approvals")
    version = models.PositiveIntegerField()
    approver_id = models.BigIntegerField()
    decision = models.CharField(max_length=8, choices=ApprovalDecision.choices)
    comment = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "version", "approver_id"], name="statement_approval_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.statement_id} v{self.version}: {self.decision}"


class StatementPublication(models.Model):
    """The statement published to one channel: a post of the personalization publisher (which sends
    it, exactly once, and records its outcome)."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="publications")
    post = models.OneToOneField(
        "personalization.ScheduledPost", on_delete=models.PROTECT, related_name="statement_publication"
    )
    # The channel it went to: once per (statement, channel), so a double click or a retry of the
    # publish request cannot post the statement twice to the same place.
    channel = models.ForeignKey(
        "personalization.PublishingChannel",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="statement_publications",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "channel"], name="statement_channel_once")
        ]

    def __str__(self) -> str:
        return f"{self.statement_id} -> post {self.post_id}"


class StatementSettings(models.Model):
    """The tenant's one row: how statements are approved by default (a submission may ask for more
    approvers, a higher role or a shorter deadline). SEV1 incidents have their own, stricter defaults."""

    singleton = models.BooleanField(default=True, unique=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approvals_required_sev1 = models.PositiveSmallIntegerField(default=2)
    approver_role = models.CharField(max_length=16, default="approver")  # approver, admin or owner
    approval_minutes = models.PositiveIntegerField(default=30)
    approval_minutes_sev1 = models.PositiveIntegerField(default=15)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.approvals_required} approval(s) within {self.approval_minutes} min"


# Crisis mode switches live in their own module; importing them here registers them.
from crisis.aftermath_models import CrisisModeScope, CrisisModeSwitch  # noqa: E402, F401
