"""The calendar page through the test client: who may see it, who may pause, bad query strings."""

from __future__ import annotations

from django.test import Client
from django_tenants.utils import tenant_context

from personalization.post_models import PublishingState


def portal(world, user_key: str) -> Client:
    client = Client(HTTP_HOST=world.host(world.a))
    client.force_login(world.users[user_key])
    return client


def test_viewers_see_the_calendar_but_cannot_pause(world):
    viewer = portal(world, "a_viewer")
    page = viewer.get("/audience/calendar/?view=month&date=not-a-date&channel=abc")
    assert page.status_code == 200 and b"Post calendar" in page.content and b"Pause all" not in page.content
    assert viewer.post("/audience/calendar/pause/", {"reason": "x"}).status_code == 403
    with tenant_context(world.a):
        assert not PublishingState.objects.filter(is_paused=True).exists()


def test_an_approver_pauses_with_a_reason_and_strangers_get_404(world):
    admin = portal(world, "a_admin")
    refused = admin.post("/audience/calendar/pause/", {"reason": " "}, follow=True)
    assert b"Say why" in refused.content
    done = admin.post(
        "/audience/calendar/pause/", {"reason": "Incident", "view": "month", "date": "2026-12-09"}
    )
    assert done.status_code == 302 and done["Location"].endswith("?view=month&date=2026-12-09")
    with tenant_context(world.a):
        assert PublishingState.objects.get().pause_reason == "Incident"
    stranger = Client(HTTP_HOST=world.host(world.a))
    stranger.force_login(world.users["b_owner"])
    assert stranger.get("/audience/calendar/").status_code == 404
