"""Portal page of scheduled posts: the calendar (week or month, optionally one channel), each post's
status, and the tenant-wide pause with a preview of what it holds or frees (approvers)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from personalization import post_selectors, post_services, publishing
from personalization.post_models import PauseScope, PublishingState
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.http import client_info
from tenants.views import tenant_page

TENANT = post_services.PauseTarget(scope=PauseScope.TENANT)


def _window(view: str, day: date) -> tuple[date, date]:
    """The Mondays-first weeks covering the week or the month of `day`: [first, last)."""
    if view == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        start, end = day, day + timedelta(days=1)
    first = start - timedelta(days=start.weekday())
    last = end + timedelta(days=(7 - end.weekday()) % 7)
    return first, last


def _day(raw: str | None) -> date:
    try:
        return date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        return timezone.localdate()


@require_GET
@tenant_page()
def calendar_view(request: HttpRequest, access: Access) -> HttpResponse:
    view = "month" if request.GET.get("view") == "month" else "week"
    day = _day(request.GET.get("date"))
    channel_raw = request.GET.get("channel", "")
    channel_id = int(channel_raw) if channel_raw.isdigit() else None
    first, last = _window(view, day)
    zone = timezone.get_current_timezone()
    posts = post_selectors.scheduled_post_list(
        start=datetime.combine(first, time.min, tzinfo=zone),
        end=datetime.combine(last, time.min, tzinfo=zone),
        channel_id=channel_id,
    )[:2000]
    by_day: dict[date, list[Any]] = {}
    for post in posts:
        by_day.setdefault(timezone.localtime(post.scheduled_at).date(), []).append(post)
    weeks = []
    cursor = first
    while cursor < last:
        weeks.append(
            [(cursor + timedelta(days=i), by_day.get(cursor + timedelta(days=i), [])) for i in range(7)]
        )
        cursor += timedelta(days=7)
    state = PublishingState.objects.filter(singleton=True).first()
    paused = bool(state and state.is_paused)
    preview = (post_services.posts_resume_preview if paused else post_services.posts_pause_preview)(
        target=TENANT
    )
    step = timedelta(days=28 if view == "month" else 7)
    return render(
        request,
        "personalization/calendar.html",
        {
            "tab": "calendar",
            "view": view,
            "day": day,
            "today": timezone.localdate(),
            "previous": (day - step).isoformat()
            if view == "week"
            else (first - timedelta(days=1)).isoformat(),
            "next": (day + step).isoformat() if view == "week" else (last + timedelta(days=1)).isoformat(),
            "weeks": weeks,
            "month": day.month,
            "channels": post_selectors.publishing_channel_list(),
            "channel_id": channel_id,
            "state": state,
            "paused": paused,
            "preview": list(preview[:50]),
            "preview_count": preview.count(),
            "can_approve": access.can(Capability.APPROVE),
            "can_edit": access.can(Capability.EDIT),
        },
    )


@api_equivalent("posts_pause_all_create", "posts_resume_all_create")
@require_POST
@tenant_page()
def calendar_pause_view(request: HttpRequest, access: Access, action: str) -> HttpResponse:
    if not access.can(Capability.APPROVE):
        raise PermissionDenied("Pausing or resuming all posts needs the 'approve' permission.")
    actor = post_services.Actor.of(access.user)
    reason = request.POST.get("reason", "")
    try:
        if action == "pause":
            held = post_services.posts_pause(target=TENANT, reason=reason, actor=actor)
            messages.success(request, f"Publishing paused: {len(held)} posts held.")
        else:
            freed = post_services.posts_resume(target=TENANT, actor=actor, reason=reason)
            late = sum(1 for post in freed if post.status == "needs_reschedule")
            messages.success(
                request, f"Publishing resumed: {len(freed)} posts freed, {late} of them need a new time."
            )
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    return _back_to_calendar(request)


def _back_to_calendar(request: HttpRequest) -> HttpResponse:
    """Back to the week or month the person was looking at (both values re-validated by the page)."""
    view = "month" if request.POST.get("view") == "month" else "week"
    return redirect(
        f"{reverse('audience-calendar')}?view={view}&date={_day(request.POST.get('date')).isoformat()}"
    )


@api_equivalent("posts_retry_create")
@require_POST
@tenant_page(Capability.EDIT)
def calendar_retry_view(request: HttpRequest, access: Access, post_id: int) -> HttpResponse:
    post = post_selectors.scheduled_post_list().filter(pk=post_id).first()
    if post is None:
        raise Http404("No such post")
    try:
        sends = publishing.post_sends_retry(post=post, user=access.user, client=client_info(request))
        messages.success(request, f"{len(sends)} failed sends queued again.")
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    return _back_to_calendar(request)


portal_urlpatterns: list[URLPattern] = [
    path("audience/calendar/posts/<int:post_id>/retry/", calendar_retry_view, name="audience-calendar-retry"),
    path("audience/calendar/", calendar_view, name="audience-calendar"),
    path(
        "audience/calendar/pause/", calendar_pause_view, {"action": "pause"}, name="audience-calendar-pause"
    ),
    path(
        "audience/calendar/resume/",
        calendar_pause_view,
        {"action": "resume"},
        name="audience-calendar-resume",
    ),
]
