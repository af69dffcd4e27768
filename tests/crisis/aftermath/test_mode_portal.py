"""The crisis mode page, as a person uses it without JavaScript: the preview, switching on, the
resume review with its per-post errors, and who may do what."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import tenant_context

from personalization.post_models import PostStatus, ScheduledPost
from tests.crisis.aftermath.conftest import pass_time, post

PAGE = "/crisis/mode/"


def test_preview_switch_on_and_review_through_the_page(world, api_for, channels):
    news, status = channels["Newsletter"], channels["Status updates"]
    first, second, other = post(news, text="Product news"), post(news, hours=3), post(status)
    admin = api_for("a_admin")
    page = admin.get(PAGE)
    assert page.status_code == 200
    assert b"Crisis mode is off" in page.content

    preview = admin.get(PAGE, {"preview": "1", "scope": "channels", "channel": [str(news.pk)]})
    assert preview.status_code == 200
    assert b"Would hold 2 posts on Newsletter" in preview.content
    assert b"Product news" in preview.content

    answer = admin.client.post(
        PAGE + "on/", {"scope": "channels", "channel": [str(news.pk)], "reason": "Outage"}, follow=True
    )
    assert b"Crisis mode is on: 2 posts held." in answer.content, answer.content.decode()[-3000:]
    with tenant_context(world.a):
        assert ScheduledPost.objects.get(pk=other.pk).status == PostStatus.SCHEDULED
        pass_time(first)
    page = admin.get(PAGE)
    assert b"Crisis mode is on" in page.content
    assert b"time passed" in page.content
    assert page.content.count(b'data-testid="review-row"') == 2

    refused = admin.client.post(PAGE + "off/", {"reason": "Fixed", f"decision-{first.pk}": "release"})
    assert refused.status_code == 400
    assert b"passed while it was held" in refused.content

    local = timezone.localtime(timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    done = admin.client.post(
        PAGE + "off/",
        {
            "reason": "Fixed",
            f"decision-{first.pk}": "reschedule",
            f"at-{first.pk}": local.strftime("%Y-%m-%dT%H:%M"),
            f"decision-{second.pk}": "draft",
        },
    )
    assert done.status_code == 302, [line for line in done.content.decode().splitlines() if "error" in line]
    with tenant_context(world.a):
        moved = ScheduledPost.objects.get(pk=first.pk)
        assert (moved.status, moved.scheduled_at) == (PostStatus.SCHEDULED, local)
        assert ScheduledPost.objects.get(pk=second.pk).status == PostStatus.DRAFT
    history = admin.get(PAGE)
    assert history.content.count(b"<td>Outage") + history.content.count(b"<td>Fixed") == 2


def test_viewers_see_the_page_but_cannot_switch(api_for, channels):
    viewer = api_for("a_viewer")
    page = viewer.get(PAGE)
    assert page.status_code == 200
    assert b"Switch on" not in page.content
    assert viewer.client.post(PAGE + "on/", {"reason": "x"}).status_code == 403
    assert viewer.client.post(PAGE + "off/", {"reason": "x"}).status_code == 403


def test_bad_form_input_is_never_a_500(api_for, channels):
    admin = api_for("a_admin")
    assert (
        admin.get(PAGE, {"preview": "1", "scope": "channels", "channel": ["²", "999999"]}).status_code == 200
    )
    assert admin.client.post(PAGE + "on/", {"scope": "nope", "reason": "x"}).status_code == 302
    assert admin.client.post(PAGE + "on/", {"reason": ""}).status_code == 302
    assert admin.client.post(PAGE + "on/", {"reason": "on"}).status_code == 302
    odd = admin.client.post(
        PAGE + "off/", {"reason": "x", "decision-²": "release", "decision-999": "fly", "at-999": "soon"}
    )
    assert odd.status_code == 400
