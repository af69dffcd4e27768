"""Statement jobs: the every-minute sweep of approval deadlines (beat fan-out, one per tenant) and
the escalation email to the workspace's admins and owners. Thin: the work is in the services."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection

from crisis.models import Statement
from crisis.statement_selectors import statement_approvers
from crisis.statement_services import statements_escalate_overdue
from tenants.models import Role
from tenants.services import tenant_url
from tenants.tasking import tenant_task


@tenant_task()
def escalate_overdue_statements() -> int:
    """Every minute per tenant: statements in review past their deadline, escalated once."""
    return len(statements_escalate_overdue())


@tenant_task(autoretry_for=(OSError,), max_retries=6, retry_backoff=True)
def notify_statement_escalated(statement_id: int) -> int:
    """Email the workspace's admins and owners that a statement waits past its deadline. A mail
    server that fails is retried (OSError) with back-off. Returns how many were written to."""
    statement = Statement.objects.select_related("incident").filter(pk=statement_id).first()
    if statement is None:
        return 0
    tenant = connection.tenant  # type: ignore[attr-defined]
    recipients = [user.email for user in statement_approvers(tenant=tenant, approver_role=Role.ADMIN)]
    if not recipients:
        return 0
    link = tenant_url(tenant, f"/crisis/statements/{statement.pk}/")
    due = statement.approval_due_at.isoformat() if statement.approval_due_at else "?"
    body = (
        f"The statement \u201c{statement.title}\u201d of the incident \u201c{statement.incident.title}\u201d "
        f"needs {statement.approvals_required} approval(s) of the {statement.approver_role} role and was due "
        f"at {due}. It is still waiting.\n\nReview it: {link}\n"
    )
    send_mail(
        f"[{tenant.name}] Statement awaiting approval past its deadline: {statement.title}"[:200],
        body,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
    return len(recipients)
