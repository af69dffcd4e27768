"""The scheduled-posts API through real HTTP: CRUD and transitions with their permissions, the
calendar, pause and resume with previews at each scope (incl. the "time has passed" path), sends,
campaigns with a seeded holdout and the uplift report, 400s, isolation, pinned query counts."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from personalization import publishing
from personalization.ml.uplift import uplift_estimate
from personalization.post_models import CampaignGroup, CampaignMember, ScheduledPost
from tests.personalization.posts.conftest import consenting


def later(hours: float = 2) -> str:
    return (timezone.now() + timedelta(hours=hours)).isoformat()


@pytest.fixture
def editor(api_for):
    return api_for("a_admin")


@pytest.fixture
def channel(editor):
    response = editor.post(
        "/api/v1/publishing-channels", {"name": "Newsletter", "kind": "email", "consent_purpose": "outreach"}
    )
    assert response.status_code == 201, response.json()
    return response.json()


def draft(api, channel, **extra):
    body = {"channel": channel["id"], "text": "Maintenance on Sunday", "scheduled_at": later(), **extra}
    response = api.post("/api/v1/posts", body)
    assert response.status_code == 201, response.json()
    return response.json()


def scheduled(api, channel, **extra):
    post = draft(api, channel, **extra)
    assert api.post(f"/api/v1/posts/{post['id']}/approve", {"reason": "checked"}).status_code == 200
    answer = api.post(f"/api/v1/posts/{post['id']}/schedule", {})
    assert answer.status_code == 200, answer.json()
    return answer.json()


def test_a_post_goes_from_draft_to_scheduled_with_its_history(editor, channel):
    post = scheduled(editor, channel, tone="empathetic", call_to_action="Read more", variant="B")
    assert post["status"] == "scheduled" and post["tone"] == "empathetic" and post["variant"] == "B"
    history = [(t["from_status"], t["to_status"], t["actor_label"]) for t in post["transitions"]]
    assert history == [
        ("", "draft", "a-admin@example.com"),
        ("draft", "approved", "a-admin@example.com"),
        ("approved", "scheduled", "a-admin@example.com"),
    ]
    assert post["transitions"][1]["reason"] == "checked"


def test_approval_needs_the_approve_capability(api_for, editor, channel):
    post = draft(editor, channel)
    analyst, approver, viewer = api_for("a_analyst"), api_for("a_approver"), api_for("a_viewer")
    assert analyst.post(f"/api/v1/posts/{post['id']}/approve", {}).status_code == 403
    assert viewer.post("/api/v1/posts", {"channel": channel["id"], "text": "x"}).status_code == 403
    assert analyst.post("/api/v1/posts", {"channel": channel["id"], "text": "x"}).status_code == 201
    answer = approver.post(f"/api/v1/posts/{post['id']}/approve", {})
    assert answer.status_code == 200 and answer.json()["status"] == "approved"
    assert answer.json()["approved_by_id"] is not None
    # Approving twice is a clear 400, not a silent no-op.
    again = approver.post(f"/api/v1/posts/{post['id']}/approve", {})
    assert again.status_code == 400 and "status" in again.json()["error"]["fields"]


def test_editing_an_approved_post_needs_approval_again(editor, channel):
    post = scheduled(editor, channel)
    edited = editor.patch(f"/api/v1/posts/{post['id']}", {"text": "Maintenance moved to Monday"})
    assert edited.status_code == 200 and edited.json()["status"] == "draft"
    assert edited.json()["transitions"][-1]["reason"].startswith("content edited")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "hi", "targeting": {"shoe_size": "44"}}, "targeting"),
        ({"text": "hi", "targeting": ["en"]}, "targeting"),
        ({"text": "hi", "scheduled_at": "tomorrow-ish"}, "scheduled_at"),
        ({"text": "hi", "media_type": "hologram"}, "media_type"),
        ({"text": "hi", "channel": 999999}, "channel"),
    ],
)
def test_bad_posts_are_refused_with_the_field(editor, channel, body, field):
    response = editor.post("/api/v1/posts", {"channel": channel["id"], **body})
    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.json()


def test_bad_channels_and_schedules_are_refused(editor, channel):
    bad = editor.post(
        "/api/v1/publishing-channels", {"name": "x", "kind": "webhook", "url": "http://127.0.0.1/h"}
    )
    assert bad.status_code == 400 and "url" in bad.json()["error"]["fields"]
    no_token = editor.post(
        "/api/v1/publishing-channels", {"name": "m", "kind": "mastodon", "url": "https://mastodon.example"}
    )
    assert no_token.status_code == 400 and "access_token" in no_token.json()["error"]["fields"]
    no_purpose = editor.post("/api/v1/publishing-channels", {"name": "e", "kind": "email"})
    assert "consent_purpose" in no_purpose.json()["error"]["fields"]
    post = draft(editor, channel, scheduled_at=(timezone.now() - timedelta(minutes=5)).isoformat())
    editor.post(f"/api/v1/posts/{post['id']}/approve", {})
    past = editor.post(f"/api/v1/posts/{post['id']}/schedule", {})
    assert past.status_code == 400 and "scheduled_at" in past.json()["error"]["fields"]
    assert editor.get("/api/v1/posts?status=nonsense").status_code == 400
    assert editor.get("/api/v1/posts/calendar?view=year").status_code == 400


def test_a_post_from_a_recommended_slot_keeps_the_slot(editor, channel):
    slot = {"start": later(24), "score": 0.31, "low": 0.22, "high": 0.4, "reasons": ["hour: +0.08"]}
    response = editor.post(
        "/api/v1/posts/from-slot", {"channel": channel["id"], "text": "Tips", "slot": slot}
    )
    assert response.status_code == 201, response.json()
    post = response.json()
    assert post["is_recommended"] and post["recommendation"]["reasons"] == ["hour: +0.08"]
    assert post["scheduled_at"] is not None
    passed = editor.post(
        "/api/v1/posts/from-slot",
        {"channel": channel["id"], "text": "Tips", "slot": {"start": "2020-01-01T09:00:00Z"}},
    )
    assert passed.status_code == 400 and "slot.start" in passed.json()["error"]["fields"]


def test_calendar_groups_a_week_by_day(editor, channel):
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    inside = timezone.make_aware(
        timezone.datetime.combine(monday + timedelta(days=2), timezone.datetime.min.time())
    )
    draft(editor, channel, scheduled_at=(inside + timedelta(hours=9)).isoformat())
    draft(editor, channel, scheduled_at=(inside + timedelta(days=14)).isoformat())
    week = editor.get(f"/api/v1/posts/calendar?view=week&date={today.isoformat()}").json()
    assert list(week["days"]) == [(monday + timedelta(days=2)).isoformat()]
    month = editor.get(f"/api/v1/posts/calendar?view=month&date={(monday + timedelta(days=2)).isoformat()}")
    assert month.status_code == 200


def test_pause_and_resume_a_post_with_preview(editor, api_for, channel):
    post = scheduled(editor, channel)
    preview = editor.get(f"/api/v1/posts/{post['id']}/preview?action=pause").json()
    assert preview["count"] == 1 and preview["posts"][0]["id"] == post["id"]
    assert editor.post(f"/api/v1/posts/{post['id']}/pause", {}).status_code == 400  # a reason is required
    held = editor.post(f"/api/v1/posts/{post['id']}/pause", {"reason": "wrong tone"}).json()
    assert held["posts"][0]["status"] == "paused" and held["posts"][0]["pause_reason"] == "wrong tone"
    assert api_for("a_analyst").post(f"/api/v1/posts/{post['id']}/resume", {}).status_code == 403
    resumed = editor.post(f"/api/v1/posts/{post['id']}/resume", {"reason": "fixed"}).json()
    assert resumed["posts"][0]["status"] == "scheduled"


def test_a_resumed_post_whose_time_passed_waits_for_a_person(editor, channel, world):
    post = scheduled(editor, channel)
    editor.post(f"/api/v1/posts/{post['id']}/pause", {"reason": "hold"})
    with tenant_context(world.a):
        ScheduledPost.objects.filter(pk=post["id"]).update(scheduled_at=timezone.now() - timedelta(minutes=1))
        assert publishing.posts_publish_due() == 0  # held: nothing goes out
    resumed = editor.post(f"/api/v1/posts/{post['id']}/resume", {}).json()
    assert resumed["posts"][0]["status"] == "needs_reschedule"
    with tenant_context(world.a):
        assert publishing.posts_publish_due() == 0  # still nothing, until a person picks a time
    again = editor.post(f"/api/v1/posts/{post['id']}/schedule", {"scheduled_at": later(1)})
    assert again.status_code == 200 and again.json()["status"] == "scheduled"


def test_channel_pause_holds_its_posts_and_those_scheduled_later(editor, channel, world):
    other = editor.post(
        "/api/v1/publishing-channels", {"name": "Press list", "kind": "email", "consent_purpose": "outreach"}
    ).json()
    mine, theirs = scheduled(editor, channel), scheduled(editor, other)
    preview = editor.get(f"/api/v1/publishing-channels/{channel['id']}/preview?action=pause").json()
    assert [p["id"] for p in preview["posts"]] == [mine["id"]]
    editor.post(f"/api/v1/publishing-channels/{channel['id']}/pause", {"reason": "account compromised"})
    later_post = scheduled(editor, channel)
    assert later_post["status"] == "paused" and later_post["pause_scope"] == "channel"
    assert editor.get(f"/api/v1/posts/{theirs['id']}").json()["status"] == "scheduled"
    listed = editor.get(f"/api/v1/publishing-channels/{channel['id']}").json()
    assert listed["is_paused"] and listed["pause_reason"] == "account compromised"
    # A post's own resume does not free what the channel holds... the channel's resume does.
    freed = editor.post(f"/api/v1/publishing-channels/{channel['id']}/resume", {}).json()
    assert sorted(p["id"] for p in freed["posts"]) == sorted([mine["id"], later_post["id"]])
    assert {p["status"] for p in freed["posts"]} == {"scheduled"}


def test_tenant_pause_is_what_crisis_mode_drives(editor, api_for, channel):
    a, b = scheduled(editor, channel), scheduled(editor, channel)
    approved_only = draft(editor, channel)
    editor.post(f"/api/v1/posts/{approved_only['id']}/approve", {})
    preview = editor.get("/api/v1/posts/preview-all?action=pause").json()
    assert preview["count"] == 3
    assert api_for("a_analyst").post("/api/v1/posts/pause-all", {"reason": "x"}).status_code == 403
    held = editor.post("/api/v1/posts/pause-all", {"reason": "Incident #12 declared"}).json()
    assert held["count"] == 3 and {p["pause_reason"] for p in held["posts"]} == {"Incident #12 declared"}
    # A post held by its own pause stays held when the tenant resumes.
    editor.post(f"/api/v1/posts/{a['id']}/resume", {})
    editor.post(f"/api/v1/posts/{a['id']}/pause", {"reason": "own reason"})
    freed = editor.get("/api/v1/posts/preview-all?action=resume").json()
    assert sorted(p["id"] for p in freed["posts"]) == sorted([b["id"], approved_only["id"]])
    editor.post("/api/v1/posts/resume-all", {})
    assert editor.get(f"/api/v1/posts/{a['id']}").json()["status"] == "paused"
    assert editor.get(f"/api/v1/posts/{approved_only['id']}").json()["status"] == "approved"


def test_sends_per_post_show_status_and_attempts(editor, channel, world):
    with tenant_context(world.a):
        consenting("ada@example.org")
        consenting("bo@example.org")
    post = scheduled(editor, channel)
    with tenant_context(world.a):
        ScheduledPost.objects.filter(pk=post["id"]).update(scheduled_at=timezone.now())
        publishing.posts_publish_due()
    sends = editor.get(f"/api/v1/posts/{post['id']}/sends").json()["results"]
    assert len(sends) == 2 and {s["status"] for s in sends} == {"pending"} and sends[0]["attempts"] == 0
    assert editor.delete(f"/api/v1/posts/{post['id']}").status_code == 400  # sending: kept


def test_other_tenants_posts_answer_404(editor, api_for, channel, world):
    post = draft(editor, channel)
    other = api_for("b_owner", tenant=world.b)
    for path in (f"/api/v1/posts/{post['id']}", f"/api/v1/posts/{post['id']}/sends"):
        assert other.get(path).status_code == 404
    assert other.post(f"/api/v1/posts/{post['id']}/approve", {}).status_code == 404
    assert other.get(f"/api/v1/publishing-channels/{channel['id']}").status_code == 404
    made = other.post("/api/v1/posts", {"channel": channel["id"], "text": "x"})
    assert made.status_code == 400 and "channel" in made.json()["error"]["fields"]


def test_list_query_counts_are_pinned(editor, channel, django_assert_max_num_queries):
    for _ in range(3):
        scheduled(editor, channel)
    with django_assert_max_num_queries(10):
        assert len(editor.get("/api/v1/posts").json()["results"]) == 3
    for _ in range(3):
        scheduled(editor, channel)
    with django_assert_max_num_queries(10):
        assert len(editor.get("/api/v1/posts").json()["results"]) == 6
    with django_assert_max_num_queries(10):
        editor.get("/api/v1/posts/calendar?view=month")
    with django_assert_max_num_queries(10):
        editor.get("/api/v1/publishing-channels")


def test_campaign_holdout_is_seeded_recorded_and_never_written_to(editor, channel, world, mailoutbox):
    with tenant_context(world.a):
        contacts = [consenting(f"p{i}@example.org") for i in range(40)]
    body = {"name": "Winter", "consent_purpose": "outreach", "holdout_fraction": 0.25, "seed": 11}
    campaign = editor.post("/api/v1/campaigns", body).json()
    assert campaign["seed"] == 11 and campaign["treated_n"] + campaign["holdout_n"] == 40
    ids = sorted(c.pk for c in contacts)
    expected = {i for i, d in zip(ids, np.random.default_rng(11).random(40), strict=True) if d < 0.25}
    with tenant_context(world.a):
        holdout = set(
            CampaignMember.objects.filter(
                campaign_id=campaign["id"], group=CampaignGroup.HOLDOUT
            ).values_list("contact_id", flat=True)
        )
    assert holdout == expected and campaign["holdout_n"] == len(expected)
    post = scheduled(editor, channel, campaign=campaign["id"])
    with tenant_context(world.a):
        ScheduledPost.objects.filter(pk=post["id"]).update(scheduled_at=timezone.now())
        publishing.posts_publish_due()
        for send_id in ScheduledPost.objects.get(pk=post["id"]).sends.values_list("pk", flat=True):
            publishing.post_send_attempt(send_id=send_id)
    reached = {m.to[0] for m in mailoutbox}
    assert len(reached) == 40 - len(expected)
    assert not reached & {c.email for c in contacts if c.pk in expected}
    bad = editor.post("/api/v1/campaigns", {**body, "name": "B", "holdout_fraction": 0.9})
    assert bad.status_code == 400 and "holdout_fraction" in bad.json()["error"]["fields"]


def test_uplift_report_arithmetic(editor, channel, world):
    with tenant_context(world.a):
        contacts = [consenting(f"u{i}@example.org") for i in range(30)]
    campaign = editor.post(
        "/api/v1/campaigns",
        {"name": "Spring", "consent_purpose": "outreach", "holdout_fraction": 0.3, "seed": 5},
    ).json()
    counts = {c.pk: (i % 4) for i, c in enumerate(contacts)}
    entries = [{"contact_id": pk, "count": n} for pk, n in counts.items() if n]
    assert editor.post(
        f"/api/v1/campaigns/{campaign['id']}/engagements", {"engagements": entries}
    ).json() == {"counted": len(entries)}
    with tenant_context(world.a):
        groups = dict(
            CampaignMember.objects.filter(campaign_id=campaign["id"]).values_list("contact_id", "group")
        )
    treated = [counts[pk] for pk, g in groups.items() if g == "treated"]
    holdout = [counts[pk] for pk, g in groups.items() if g == "holdout"]
    expected = uplift_estimate(treated=treated, holdout=holdout)
    report = editor.get(f"/api/v1/campaigns/{campaign['id']}/uplift").json()
    got = report["treated_vs_holdout"]
    assert got["difference"] == pytest.approx(np.mean(treated) - np.mean(holdout))
    assert got["low"] == pytest.approx(expected.low) and got["high"] == pytest.approx(expected.high)
    assert got["treated_n"] == len(treated) and got["holdout_n"] == len(holdout)
    # No sends yet: the recommended comparison says why it is missing instead of inventing a number.
    assert report["recommended_vs_not"] is None and "not enough contacts" in report["notes"][0]
    assert editor.get(f"/api/v1/campaigns/{campaign['id']}/uplift?method=magic").status_code == 400
    boot = editor.get(f"/api/v1/campaigns/{campaign['id']}/uplift?method=bootstrap").json()
    assert boot["treated_vs_holdout"]["method"] == "bootstrap"
    bad = editor.post(
        f"/api/v1/campaigns/{campaign['id']}/engagements", {"engagements": [{"contact_id": -1}]}
    )
    assert bad.status_code == 400


def test_uplift_compares_contacts_reached_at_recommended_slots_with_those_reached_by_hand(
    editor, channel, world
):
    with tenant_context(world.a):
        contacts = [consenting(f"r{i}@example.org", language="en" if i % 2 else "de") for i in range(12)]
    campaign = editor.post(
        "/api/v1/campaigns",
        {"name": "Slots", "consent_purpose": "outreach", "holdout_fraction": 0.01, "seed": 3},
    ).json()
    slot = {"start": later(3), "score": 0.4}
    recommended = editor.post(
        "/api/v1/posts/from-slot",
        {
            "channel": channel["id"],
            "text": "At the slot",
            "slot": slot,
            "campaign": campaign["id"],
            "targeting": {"language": "en"},
        },
    ).json()
    by_hand = draft(editor, channel, campaign=campaign["id"], targeting={"language": "de"})
    for post in (recommended, by_hand):
        editor.post(f"/api/v1/posts/{post['id']}/approve", {})
        editor.post(f"/api/v1/posts/{post['id']}/schedule", {})
    with tenant_context(world.a):
        ScheduledPost.objects.filter(pk__in=[recommended["id"], by_hand["id"]]).update(
            scheduled_at=timezone.now()
        )
        publishing.posts_publish_due()
        for post in ScheduledPost.objects.filter(pk__in=[recommended["id"], by_hand["id"]]):
            for send_id in post.sends.values_list("pk", flat=True):
                publishing.post_send_attempt(send_id=send_id)
        groups = dict(
            CampaignMember.objects.filter(campaign_id=campaign["id"]).values_list("contact_id", "group")
        )
    english = {c.pk for c in contacts if c.language == "en"}
    engaged = [{"contact_id": c.pk, "count": 3 if c.pk in english else 1} for c in contacts]
    editor.post(f"/api/v1/campaigns/{campaign['id']}/engagements", {"engagements": engaged})
    report = editor.get(f"/api/v1/campaigns/{campaign['id']}/uplift").json()["recommended_vs_not"]
    treated_en = [pk for pk in english if groups[pk] == "treated"]
    treated_de = [c.pk for c in contacts if c.pk not in english and groups[c.pk] == "treated"]
    assert report["treated_n"] == len(treated_en) and report["holdout_n"] == len(treated_de)
    assert report["difference"] == pytest.approx(2.0) and report["treated_mean"] == pytest.approx(3.0)


def test_edits_cannot_slip_past_approval_or_into_the_past(editor, channel):
    post = scheduled(editor, channel)
    editor.post(f"/api/v1/posts/{post['id']}/pause", {"reason": "hold"})
    edited = editor.patch(f"/api/v1/posts/{post['id']}", {"text": "Rewritten while held"}).json()
    assert edited["status"] == "paused"
    assert editor.post(f"/api/v1/posts/{post['id']}/resume", {}).json()["posts"][0]["status"] == "draft"
    other = scheduled(editor, channel)
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    moved = editor.patch(f"/api/v1/posts/{other['id']}", {"scheduled_at": past})
    assert moved.status_code == 400 and "scheduled_at" in moved.json()["error"]["fields"]


def test_a_post_with_nobody_to_reach_fails_visibly(editor, channel, world):
    post = scheduled(editor, channel)  # no consenting contact exists
    with tenant_context(world.a):
        ScheduledPost.objects.filter(pk=post["id"]).update(scheduled_at=timezone.now())
        publishing.posts_publish_due()
    answer = editor.get(f"/api/v1/posts/{post['id']}").json()
    assert answer["status"] == "failed" and answer["transitions"][-1]["reason"].startswith("no recipient")


def test_new_content_on_a_post_waiting_for_a_new_time_or_moved_needs_approval_again(
    api_for, editor, channel, world
):
    """A needs-reschedule post edited by an analyst (EDIT, not APPROVE) cannot be rescheduled under
    the old approval; moving an approved post to another channel is a change of content too."""
    post = scheduled(editor, channel)
    editor.post(f"/api/v1/posts/{post['id']}/pause", {"reason": "hold"})
    with tenant_context(world.a):
        ScheduledPost.objects.filter(pk=post["id"]).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    assert (
        editor.post(f"/api/v1/posts/{post['id']}/resume", {}).json()["posts"][0]["status"]
        == "needs_reschedule"
    )
    analyst = api_for("a_analyst")
    edited = analyst.patch(f"/api/v1/posts/{post['id']}", {"text": "Unapproved words"}).json()
    assert edited["status"] == "draft" and edited["approved_by_id"] is None
    refused = analyst.post(f"/api/v1/posts/{post['id']}/schedule", {"scheduled_at": later(1)})
    assert refused.status_code == 400
    other = editor.post(
        "/api/v1/publishing-channels", {"name": "Partners", "kind": "email", "consent_purpose": "outreach"}
    ).json()
    approved = scheduled(editor, channel)
    moved = editor.patch(f"/api/v1/posts/{approved['id']}", {"channel": other["id"]}).json()
    assert moved["status"] == "draft" and moved["approved_by_id"] is None


def test_connectors_are_registered_by_admins_and_a_post_that_reached_someone_is_kept(
    api_for, editor, channel, world
):
    body = {"name": "Hook", "kind": "email", "consent_purpose": "outreach"}
    assert api_for("a_analyst").post("/api/v1/publishing-channels", body).status_code == 403
    post = scheduled(editor, channel)
    consenting("ada@example.org")
    consenting("bo@example.org")
    with tenant_context(world.a):
        ScheduledPost.objects.filter(pk=post["id"]).update(scheduled_at=timezone.now())
        publishing.posts_publish_due()
        first = ScheduledPost.objects.get(pk=post["id"]).sends.order_by("id").first()
        publishing.post_send_attempt(send_id=first.pk)  # one of two delivered, then held mid-send
    held = editor.post(f"/api/v1/posts/{post['id']}/pause", {"reason": "hold"})
    assert held.json()["posts"][0]["status"] == "paused"
    refused = editor.delete(f"/api/v1/posts/{post['id']}")
    assert refused.status_code == 400
    with tenant_context(world.a):
        assert ScheduledPost.objects.get(pk=post["id"]).sends.count() == 2
