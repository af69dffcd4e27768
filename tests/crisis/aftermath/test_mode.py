"""Crisis mode through the API and the services: the preview is what gets held (tenant-wide or
chosen channels), the resume review per post (release, reschedule, keep as draft; a post whose
time passed needs a person), the state and history, audit, the incident timeline, permissions,
isolation and bad input."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import tenant_context

from crisis.aftermath_models import CrisisModeSwitch
from crisis.models import TimelineEntry
from personalization import selectors as personalization_selectors
from personalization import services as personalization_services
from personalization.post_models import PostStatus, ScheduledPost
from tenants.models import AuditAction, AuditEvent
from tests.crisis.aftermath.conftest import incident, pass_time, post

MODE = "/api/v1/crisis/mode"


def _status(*posts):
    return [ScheduledPost.objects.get(pk=p.pk).status for p in posts]


def test_tenant_wide_preview_is_exactly_what_switching_on_holds(world, api_for, channels):
    news, status = channels["Newsletter"], channels["Status updates"]
    held = [post(news), post(status, hours=3), post(news, hours=5, steps=("approve",))]
    draft = post(status, steps=())
    admin = api_for("a_admin")
    preview = admin.get(f"{MODE}/preview")
    assert preview.status_code == 200, preview.json()
    assert preview.json()["count"] == 3
    previewed = sorted(p["id"] for p in preview.json()["posts"])
    assert previewed == sorted(p.pk for p in held)

    answer = admin.post(f"{MODE}/on", {"reason": "Outage in the EU region"})
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["held_post_ids"] == previewed
    assert body["state"]["on"] is True
    assert body["state"]["scope"] == "tenant"
    assert body["state"]["reason"] == "Outage in the EU region"
    assert body["state"]["actor_label"] == "a-admin@example.com"
    assert sorted(p["id"] for p in body["held"]) == previewed
    with tenant_context(world.a):
        assert _status(*held) == [PostStatus.PAUSED] * 3
        assert _status(draft) == [PostStatus.DRAFT]
        assert personalization_selectors.crisis_mode_on()  # the tenant-wide flag is set too
        switch = CrisisModeSwitch.objects.get()
        assert switch.change is not None and switch.change.on
    event = AuditEvent.objects.get(action=AuditAction.CRISIS_MODE_ON, tenant=world.a)
    assert event.details["held"] == 3
    assert event.actor == world.users["a_admin"]


def test_chosen_channels_hold_only_their_posts(world, api_for, channels):
    news, status = channels["Newsletter"], channels["Status updates"]
    on_news, on_status = post(news), post(status)
    admin = api_for("a_admin")
    preview = admin.get(f"{MODE}/preview", {"scope": "channels", "channel_ids": str(news.pk)})
    assert [p["id"] for p in preview.json()["posts"]] == [on_news.pk]
    answer = admin.post(
        f"{MODE}/on", {"scope": "channels", "channel_ids": [news.pk], "reason": "Newsletter issue"}
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["held_post_ids"] == [on_news.pk]
    assert answer.json()["state"]["channels"] == [{"id": news.pk, "name": "Newsletter"}]
    with tenant_context(world.a):
        assert _status(on_news, on_status) == [PostStatus.PAUSED, PostStatus.SCHEDULED]
        assert not personalization_selectors.crisis_mode_on()
    # Off frees the channel's posts.
    off = admin.post(f"{MODE}/off", {"reason": "Fixed"})
    assert off.status_code == 201, off.json()
    assert off.json()["state"]["on"] is False
    with tenant_context(world.a):
        assert _status(on_news) == [PostStatus.SCHEDULED]


def test_resume_review_per_post_and_passed_posts_need_a_person(world, api_for, channels):
    news = channels["Newsletter"]
    keep, move, late, approved = (
        post(news),
        post(news, hours=4),
        post(news, hours=1),
        post(news, steps=("approve",)),
    )
    admin = api_for("a_admin")
    assert admin.post(f"{MODE}/on", {"reason": "Breach rumours"}).status_code == 201
    with tenant_context(world.a):
        pass_time(late)
    review = admin.get(MODE).json()["held"]
    assert {p["id"]: p["time_passed"] for p in review} == {
        keep.pk: False,
        move.pk: False,
        late.pk: True,
        approved.pk: False,
    }

    refused = admin.post(f"{MODE}/off", {"reason": "Cleared"})
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == [f"decisions.{late.pk}"]
    with tenant_context(world.a):
        assert _status(keep, late) == [PostStatus.PAUSED, PostStatus.PAUSED]  # nothing half-done
        assert personalization_selectors.crisis_mode_on()

    past = (timezone.now() - timedelta(hours=1)).isoformat()
    bad_time = admin.post(
        f"{MODE}/off",
        {"reason": "Cleared", "decisions": [{"post": late.pk, "action": "reschedule", "scheduled_at": past}]},
    )
    assert list(bad_time.json()["error"]["fields"]) == [f"decisions.{late.pk}"]

    new_time = timezone.now() + timedelta(days=1)
    later = timezone.now() + timedelta(days=2)
    answer = admin.post(
        f"{MODE}/off",
        {
            "reason": "Cleared",
            "decisions": [
                {"post": late.pk, "action": "reschedule", "scheduled_at": new_time.isoformat()},
                {"post": move.pk, "action": "reschedule", "scheduled_at": later.isoformat()},
                {"post": approved.pk, "action": "draft"},
            ],
        },
    )
    assert answer.status_code == 201, answer.json()
    decided = {r["post"]: (r["decision"], r["status"]) for r in answer.json()["review"]}
    assert decided == {
        keep.pk: ("release", PostStatus.SCHEDULED),
        move.pk: ("reschedule", PostStatus.SCHEDULED),
        late.pk: ("reschedule", PostStatus.SCHEDULED),
        approved.pk: ("draft", PostStatus.DRAFT),
    }
    with tenant_context(world.a):
        assert ScheduledPost.objects.get(pk=late.pk).scheduled_at == new_time
        assert ScheduledPost.objects.get(pk=move.pk).scheduled_at == later
        kept = ScheduledPost.objects.get(pk=approved.pk)
        assert kept.approved_by_id is None
        assert kept.transitions.last().reason == "crisis review: kept as a draft"
        assert not personalization_selectors.crisis_mode_on()
    assert AuditEvent.objects.filter(action=AuditAction.CRISIS_MODE_OFF, tenant=world.a).count() == 1


def test_a_passed_post_may_be_kept_as_a_draft(world, api_for, channels):
    late = post(channels["Newsletter"], hours=1)
    admin = api_for("a_admin")
    admin.post(f"{MODE}/on", {"reason": "Outage"})
    with tenant_context(world.a):
        pass_time(late)
    answer = admin.post(
        f"{MODE}/off", {"reason": "Over", "decisions": [{"post": late.pk, "action": "draft"}]}
    )
    assert answer.status_code == 201, answer.json()
    with tenant_context(world.a):
        assert _status(late) == [PostStatus.DRAFT]


def test_reason_naming_an_incident_links_it_and_writes_its_timeline(world, api_for, channels):
    with tenant_context(world.a):
        case = incident()
    post(channels["Newsletter"])
    admin = api_for("a_admin")
    answer = admin.post(f"{MODE}/on", {"reason": f"Incident #{case.pk}: EU outage"})
    assert answer.json()["state"]["incident"] == {"id": case.pk, "title": "EU outage"}
    admin.post(f"{MODE}/off", {"reason": "resolved"})
    with tenant_context(world.a):
        kinds = list(TimelineEntry.objects.filter(incident=case).values_list("kind", flat=True))
    assert kinds == ["posts_paused", "posts_resumed"]


def test_history_includes_switches_made_elsewhere(world, api_for, in_a):
    personalization_services.crisis_mode_set(
        on=True, reason="From the audience API", actor=world.users["a_owner"]
    )
    body = api_for("a_viewer").get(MODE).json()
    assert body["state"]["on"] is True
    assert body["state"]["reason"] == "From the audience API"
    assert body["history"][0]["origin"] == "personalization"
    # Switching off from here frees the tenant-wide pause.
    answer = api_for("a_admin").post(f"{MODE}/off", {"reason": "done"})
    assert answer.status_code == 201, answer.json()
    assert answer.json()["state"]["on"] is False
    origins = [row["origin"] for row in answer.json()["history"]]
    assert origins == ["crisis", "personalization"]


def test_bad_input_is_a_400_naming_the_field(api_for, channels):
    admin = api_for("a_admin")
    cases = [
        ({"reason": "x", "scope": "galaxy"}, "scope"),
        ({"reason": "x", "scope": "channels", "channel_ids": [999999]}, "channel_ids"),
        ({"reason": "x", "scope": "channels"}, "channel_ids"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x", "incident": 999999}, "incident"),
        ({"reason": "x", "channel_ids": ["a"]}, "channel_ids.0"),
    ]
    for body, field in cases:
        answer = admin.post(f"{MODE}/on", body)
        assert answer.status_code == 400, (body, answer.json())
        assert field in answer.json()["error"]["fields"], (body, answer.json())
    assert admin.get(f"{MODE}/preview", {"channel_ids": "1,x"}).status_code == 400
    assert admin.post(f"{MODE}/off", {"reason": "x"}).json()["error"]["fields"] == {
        "on": ["Crisis mode is off."]
    }
    assert admin.post(f"{MODE}/on", {"reason": "first"}).status_code == 201
    again = admin.post(f"{MODE}/on", {"reason": "second"})
    assert "on" in again.json()["error"]["fields"]
    wrong = admin.post(f"{MODE}/off", {"reason": "x", "decisions": [{"post": 999999, "action": "release"}]})
    assert "decisions" in wrong.json()["error"]["fields"]
    twice = admin.post(f"{MODE}/off", {"reason": "x", "decisions": [{"post": 1}, {"post": 1}]})
    assert twice.status_code == 400


def test_permissions_and_isolation(api_for, channels):
    for role in ("a_viewer", "a_analyst", "a_approver"):
        api = api_for(role)
        assert api.get(MODE).status_code == 200
        assert api.get(f"{MODE}/preview").status_code == 200
        assert api.post(f"{MODE}/on", {"reason": "x"}).status_code == 403, role
        assert api.post(f"{MODE}/off", {"reason": "x"}).status_code == 403, role
    read_token = api_for("a_admin", scope="read")
    assert read_token.post(f"{MODE}/on", {"reason": "x"}).status_code == 403
    stranger = api_for("b_owner", tenant=None)
    stranger.client.defaults["HTTP_HOST"] = "tenant-a.localhost"
    assert stranger.get(MODE).status_code == 404
    assert stranger.post(f"{MODE}/on", {"reason": "x"}).status_code == 404
