"""The statement flow through its services: drafting from a template (missing variables named),
the tone check stored on every save, claims gating submission, approval permissions and counting
per version, rejection and edits starting a new version, deadlines escalated once on a frozen
clock, publishing one post per channel exactly once and past crisis mode, and the timeline."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from crisis import statement_services as services
from crisis.models import (
    Severity,
    Statement,
    StatementPublication,
    StatementSettings,
    StatementStatus,
    TimelineEntry,
    TimelineKind,
)
from crisis.statement_tasks import notify_statement_escalated
from personalization import post_services, publishing
from personalization.post_models import PauseScope, PostStatus, ScheduledPost
from tests.crisis.statements.conftest import JETBLUE_LIKE, UNITED_LIKE, make_incident

pytestmark = pytest.mark.embedder


def draft(incident, access, body=JETBLUE_LIKE, who="a_analyst"):
    return services.statement_draft(
        incident=incident, access=access(who), title="Holding statement", body=body
    )


def ready(incident, access, who="a_analyst", claims=("Sign-in fails since 09:40 UTC",)):
    """A draft whose claims are all confirmed, submitted for approval."""
    statement = draft(incident, access, who=who)
    for text in claims:
        claim = services.claim_add(statement=statement, access=access(who), text=text)
        services.claim_verify(claim=claim, access=access(who), status="confirmed", basis="status dashboard")
    return services.statement_submit(statement=statement, access=access(who))


def kinds(incident):
    return list(TimelineEntry.objects.filter(incident=incident).values_list("kind", flat=True))


# Drafting and tone -------------------------------------------------------------------------------


def test_a_template_is_rendered_with_the_incidents_variables_and_the_missing_one_is_named(incident, access):
    with pytest.raises(ValidationError) as error:
        services.statement_draft(
            incident=incident, access=access("a_analyst"), template_id="holding-statement"
        )
    assert list(error.value.message_dict) == ["variables"]
    (message,) = error.value.message_dict["variables"]
    assert message.startswith("{next_update} has no value: when the next update will be posted")

    statement = services.statement_draft(
        incident=incident,
        access=access("a_analyst"),
        template_id="holding-statement",
        variables={"next_update": "10:30 UTC"},
    )
    assert statement.title == "First holding statement" and statement.template_id == "holding-statement"
    assert statement.body.startswith("Since 09:40 UTC, many of you cannot sign in or reach your dashboards")
    assert "next update at 10:30 UTC on https://status.acme.example" in statement.body
    incident.refresh_from_db()
    assert incident.variables["next_update"] == "10:30 UTC"  # kept for the next statement
    assert statement.tone_report["flags"] == [] and statement.tone_report["verdict"] == "ready"
    assert kinds(incident) == [TimelineKind.STATEMENT]


def test_an_unknown_template_or_no_playbook_is_a_400_on_template_id(incident, access):
    with pytest.raises(ValidationError) as error:
        services.statement_draft(incident=incident, access=access("a_analyst"), template_id="nope")
    assert "has no template 'nope'" in error.value.message_dict["template_id"][0]
    bare = make_incident(playbook_snapshot={})
    with pytest.raises(ValidationError) as error:
        services.statement_draft(incident=bare, access=access("a_analyst"), template_id="holding-statement")
    assert "no playbook" in error.value.message_dict["template_id"][0]


def test_a_united_2017_like_draft_is_flagged_and_a_jetblue_like_one_is_not(incident, access):
    united = draft(incident, access, body=UNITED_LIKE)
    report = united.tone_report
    rules = {flag["rule"] for flag in report["flags"]}
    assert "customer-refused" in rules and report["verdict"] == "not_ready"
    assert {"apology", "next_update"} <= {item["element"] for item in report["missing"]}
    flagged = next(f for f in report["flags"] if f["rule"] == "customer-refused")
    assert UNITED_LIKE[flagged["start"] : flagged["end"]] == flagged["text"]

    good = draft(incident, access, body=JETBLUE_LIKE)
    assert good.tone_report["flags"] == [] and good.tone_report["missing"] == []

    # The check advises: the flagged draft still goes forward, and its submission says so.
    submitted = services.statement_submit(statement=united, access=access("a_analyst"))
    assert submitted.status == StatementStatus.IN_REVIEW
    entry = TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.APPROVAL).last()
    assert "the tone check flags" in entry.text


def test_every_save_reruns_the_tone_check(incident, access):
    statement = draft(incident, access, body=UNITED_LIKE)
    assert statement.tone_report["flags"]
    statement = services.statement_update(statement=statement, access=access("a_analyst"), body=JETBLUE_LIKE)
    assert statement.tone_report["flags"] == []
    assert (
        Statement.objects.get(pk=statement.pk).tone_report["readiness"] == statement.tone_report["readiness"]
    )


# Claims ----------------------------------------------------------------------------------------------


def test_claims_gate_submission_and_need_a_basis(incident, access):
    statement = draft(incident, access)
    claim = services.claim_add(statement=statement, access=access("a_analyst"), text="Since 09:40 UTC")
    with pytest.raises(ValidationError) as error:
        services.statement_submit(statement=statement, access=access("a_analyst"))
    assert "1 claim(s) not confirmed" in error.value.message_dict["claims"][0]
    with pytest.raises(ValidationError) as error:
        services.claim_verify(claim=claim, access=access("a_analyst"), status="confirmed", basis=" ")
    assert "basis" in error.value.message_dict
    services.claim_verify(claim=claim, access=access("a_analyst"), status="disputed", basis="logs say 09:52")
    with pytest.raises(ValidationError):
        services.statement_submit(statement=statement, access=access("a_analyst"))
    claim = services.claim_verify(
        claim=claim, access=access("a_admin"), status="confirmed", basis="pager log"
    )
    assert claim.confirmed_by_id == access("a_admin").user.pk and claim.confirmed_at is not None
    assert services.statement_submit(statement=statement, access=access("a_analyst")).status == "in_review"


def test_claims_are_suggested_from_sentences_with_numbers_times_and_causes():
    body = (
        "We are sorry. Since 09:40 UTC about 12% of sign-ins fail. The outage was caused by a faulty "
        "certificate rotation. We will keep you posted."
    )
    assert services.claims_suggest(body=body) == [
        "Since 09:40 UTC about 12% of sign-ins fail.",
        "The outage was caused by a faulty certificate rotation.",
    ]
    assert services.claims_suggest(body=body, known=["since 09:40 UTC about 12% of sign-ins fail."]) == [
        "The outage was caused by a faulty certificate rotation."
    ]


def test_a_claim_disputed_during_review_sends_it_back_to_draft(incident, access):
    statement = ready(incident, access)
    claim = statement.claims.get()
    services.claim_verify(claim=claim, access=access("a_analyst"), status="disputed", basis="it began 09:52")
    statement.refresh_from_db()
    assert statement.status == StatementStatus.DRAFT and statement.version == 2


# Approval --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["a_viewer", "a_analyst"])
def test_viewers_and_analysts_cannot_approve(incident, access, who):
    statement = ready(incident, access, who="a_admin")
    with pytest.raises(PermissionDenied):
        services.statement_decide(statement=statement, access=access(who), decision="approved")
    assert not statement.approvals.exists()


def test_the_author_cannot_approve_their_own_statement_and_an_approver_can(incident, access):
    statement = ready(incident, access, who="a_admin")
    with pytest.raises(PermissionDenied, match="someone else"):
        services.statement_decide(statement=statement, access=access("a_admin"), decision="approved")
    approved = services.statement_decide(
        statement=statement, access=access("a_approver"), decision="approved", comment="Facts match."
    )
    assert approved.status == StatementStatus.APPROVED and approved.approved_at is not None
    assert kinds(incident)[-2:] == [TimelineKind.APPROVAL, TimelineKind.APPROVAL]


def test_an_editor_of_the_text_cannot_approve_that_version(incident, access):
    statement = ready(incident, access)
    statement = services.statement_update(
        statement=statement, access=access("a_approver"), body=JETBLUE_LIKE + " Thank you."
    )
    services.statement_submit(statement=statement, access=access("a_analyst"))
    with pytest.raises(PermissionDenied):
        services.statement_decide(statement=statement, access=access("a_approver"), decision="approved")


def test_each_approver_counts_once_per_version_and_sev1_needs_two(tenant, access):
    incident = make_incident(severity=Severity.SEV1)
    statement = ready(incident, access)
    assert statement.approvals_required == 2
    assert statement.approval_due_at - statement.submitted_at == timedelta(minutes=15)
    statement = services.statement_decide(
        statement=statement, access=access("a_approver"), decision="approved"
    )
    assert statement.status == StatementStatus.IN_REVIEW
    with pytest.raises(ValidationError, match="already"):
        services.statement_decide(statement=statement, access=access("a_approver"), decision="approved")
    statement = services.statement_decide(statement=statement, access=access("a_owner"), decision="approved")
    assert statement.status == StatementStatus.APPROVED


def test_the_approver_role_limits_who_may_approve(incident, access):
    statement = draft(incident, access)
    statement = services.statement_submit(
        statement=statement, access=access("a_analyst"), approver_role="admin"
    )
    with pytest.raises(PermissionDenied, match="admin role"):
        services.statement_decide(statement=statement, access=access("a_approver"), decision="approved")
    assert services.statement_decide(
        statement=statement, access=access("a_owner"), decision="approved"
    ).status == (StatementStatus.APPROVED)


def test_one_rejection_resets_to_draft_with_its_comment_and_old_approvals_stop_counting(tenant, access):
    incident = make_incident(severity=Severity.SEV1)
    statement = ready(incident, access)
    services.statement_decide(statement=statement, access=access("a_approver"), decision="approved")
    with pytest.raises(ValidationError):
        services.statement_decide(
            statement=statement, access=access("a_owner"), decision="rejected"
        )  # no comment
    statement = services.statement_decide(
        statement=statement,
        access=access("a_owner"),
        decision="rejected",
        comment="Name the affected regions.",
    )
    assert statement.status == StatementStatus.DRAFT and statement.version == 2
    assert (
        "Name the affected regions." in TimelineEntry.objects.filter(kind=TimelineKind.APPROVAL).last().text
    )
    services.statement_submit(statement=statement, access=access("a_analyst"))
    statement = services.statement_decide(
        statement=statement, access=access("a_approver"), decision="approved"
    )
    assert statement.status == StatementStatus.IN_REVIEW  # v1's approval no longer counts: 1 of 2
    assert statement.approvals.count() == 3


def test_editing_an_approved_statement_makes_a_new_draft_version(incident, access):
    statement = ready(incident, access)
    statement = services.statement_decide(
        statement=statement, access=access("a_approver"), decision="approved"
    )
    statement = services.statement_update(statement=statement, access=access("a_analyst"), title="Renamed")
    assert statement.status == StatementStatus.APPROVED  # the title is not the text
    statement = services.statement_update(
        statement=statement, access=access("a_analyst"), body=JETBLUE_LIKE + " We are sorry."
    )
    assert statement.status == StatementStatus.DRAFT and statement.version == 2
    assert statement.approved_at is None and statement.approvals.filter(version=1).count() == 1
    with pytest.raises(ValidationError):
        services.statement_publish(statement=statement, access=access("a_admin"), channel_ids=[1])


def test_submitting_needs_enough_possible_approvers_besides_the_authors(incident, access):
    statement = draft(incident, access)
    with pytest.raises(ValidationError) as error:
        services.statement_submit(statement=statement, access=access("a_analyst"), approvals_required=5)
    assert "fewer than 5 people" in error.value.message_dict["approvals_required"][0]


def test_the_tenant_setting_sets_the_defaults(incident, access):
    services.statement_settings_update(access=access("a_admin"), approvals_required=2, approval_minutes=45)
    statement = ready(incident, access)
    assert statement.approvals_required == 2
    assert statement.approval_due_at - statement.submitted_at == timedelta(minutes=45)
    with pytest.raises(ValidationError):
        services.statement_settings_update(access=access("a_admin"), approver_role="analyst")
    assert StatementSettings.objects.get().approver_role == "approver"


# Deadlines ------------------------------------------------------------------------------------------


def test_an_overdue_statement_is_escalated_once_on_a_frozen_clock(
    incident, access, django_capture_on_commit_callbacks, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    statement = ready(incident, access)
    due = statement.approval_due_at
    assert services.statements_escalate_overdue(now=due - timedelta(seconds=1)) == []
    frozen = due + timedelta(minutes=1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.statements_escalate_overdue(now=frozen) == [statement.pk]
        assert services.statements_escalate_overdue(now=frozen) == []
        assert services.statements_escalate_overdue(now=frozen + timedelta(hours=1)) == []
    assert len(callbacks) == 1
    statement.refresh_from_db()
    assert statement.escalated_at == frozen
    entries = TimelineEntry.objects.filter(incident=incident, data__escalated=True)
    assert entries.count() == 1 and "escalated to the workspace's admins and owners" in entries.get().text

    # Tenant A's admin and owner, and the admin of its agency.
    assert notify_statement_escalated.run(statement.pk) == 3
    (message,) = mail.outbox
    assert set(message.to) == {"a-admin@example.com", "a-owner@example.com", "ag-admin@example.com"}
    assert f"/crisis/statements/{statement.pk}/" in message.body


def test_a_new_version_can_be_escalated_again(incident, access):
    statement = ready(incident, access)
    services.statements_escalate_overdue(now=statement.approval_due_at + timedelta(minutes=1))
    statement = services.statement_update(
        statement=statement, access=access("a_analyst"), body=JETBLUE_LIKE + " Sorry."
    )
    statement = services.statement_submit(statement=statement, access=access("a_analyst"))
    assert statement.escalated_at is None
    assert services.statements_escalate_overdue(now=statement.approval_due_at + timedelta(minutes=1)) == [
        statement.pk
    ]


# Publishing ----------------------------------------------------------------------------------------


def _channels(receiver):
    hook = post_services.publishing_channel_create(
        name="Status page", kind="webhook", url=receiver.url("/hook"), webhook_secret="s" * 20
    )
    news = post_services.publishing_channel_create(name="Customers", kind="email", consent_purpose="outreach")
    return hook, news


def approved(incident, access):
    statement = ready(incident, access)
    return services.statement_decide(statement=statement, access=access("a_approver"), decision="approved")


def test_publishing_makes_one_post_per_channel_exactly_once(incident, access, receiver):
    hook, news = _channels(receiver)
    statement = approved(incident, access)
    with pytest.raises(PermissionDenied):
        services.statement_publish(statement=statement, access=access("a_analyst"), channel_ids=[hook.pk])
    made = services.statement_publish(
        statement=statement, access=access("a_admin"), channel_ids=[hook.pk, news.pk, hook.pk]
    )
    assert len(made) == 2
    again = services.statement_publish(
        statement=statement, access=access("a_admin"), channel_ids=[hook.pk, news.pk]
    )
    assert again == []  # a double click or a retried request
    assert StatementPublication.objects.filter(statement=statement).count() == 2
    posts = ScheduledPost.objects.filter(statement_publication__statement=statement)
    assert posts.count() == 2 and set(posts.values_list("status", flat=True)) == {PostStatus.SCHEDULED}
    email_post = posts.get(channel=news)
    assert email_post.text.startswith("Holding statement\n\n")
    statement.refresh_from_db()
    assert statement.status == StatementStatus.PUBLISHED and statement.published_at is not None
    entry = TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.PUBLISHED).get()
    assert "Status page (status page)" in entry.text and "Customers" in entry.text


def test_unknown_channels_or_none_are_400(incident, access):
    statement = approved(incident, access)
    with pytest.raises(ValidationError) as error:
        services.statement_publish(statement=statement, access=access("a_admin"), channel_ids=[])
    assert "channels" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.statement_publish(statement=statement, access=access("a_admin"), channel_ids=[987654])
    assert "987654" in error.value.message_dict["channels"][0]


def test_crisis_mode_holds_marketing_posts_but_not_the_statement(incident, access, receiver):
    hook, news = _channels(receiver)
    actor = post_services.Actor(None, "test")
    marketing = post_services.scheduled_post_create(
        channel=news,
        text="Our December webinar",
        actor=actor,
        scheduled_at=timezone.now() + timedelta(hours=2),
    )
    post_services.scheduled_post_approve(post=marketing, actor=actor)
    post_services.scheduled_post_schedule(post=marketing, actor=actor)
    target = post_services.PauseTarget(scope=PauseScope.TENANT)
    held = post_services.posts_pause(target=target, reason="Incident: EU outage", actor=actor)
    assert [post.pk for post in held] == [marketing.pk]

    statement = approved(incident, access)
    (publication,) = services.statement_publish(
        statement=statement, access=access("a_admin"), channel_ids=[hook.pk]
    )
    publication.post.refresh_from_db()
    assert publication.post.status == PostStatus.SCHEDULED  # not held by the tenant pause
    # A later pause (a channel's, or the tenant's again) does not hold it either.
    assert post_services.posts_pause_preview(target=target).count() == 0
    channel_pause = post_services.PauseTarget(scope=PauseScope.CHANNEL, channel=hook)
    assert post_services.posts_pause(target=channel_pause, reason="hold", actor=actor) == []
    marketing.refresh_from_db()
    assert marketing.status == PostStatus.PAUSED

    # It goes out when due, and its outcome is on the incident's timeline.
    ScheduledPost.objects.filter(pk=publication.post_id).update(
        scheduled_at=timezone.now() - timedelta(seconds=1)
    )
    assert publishing.posts_publish_due() == 1
    (send,) = publication.post.sends.all()
    assert publishing.post_send_attempt(send_id=send.pk).status == "delivered"
    assert json.loads(receiver.seen[-1].body)["post"]["text"] == statement.body
    entry = TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.POST_SENT).get()
    assert entry.text.startswith("Statement \u201cHolding statement\u201d sent on Status page")
    assert entry.data["post_id"] == publication.post_id


def test_an_overdue_sweep_and_edits_leave_other_incidents_alone(incident, access):
    other = make_incident()
    statement = ready(incident, access)
    services.statements_escalate_overdue(now=statement.approval_due_at + timedelta(minutes=5))
    assert not TimelineEntry.objects.filter(incident=other).exists()
