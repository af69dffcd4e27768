"""The crisis mode page (/crisis/mode/): the state, what is held by channel, switching on with a
preview, the resume review of each held post, and the history. Forms work without JavaScript;
every action is also in the API (crisis.mode_apis), through the same services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from crisis import mode_selectors, mode_services
from crisis.aftermath_models import CrisisModeScope
from personalization.post_selectors import publishing_channel_list
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.http import client_info
from tenants.views import tenant_page


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isascii() and v.isdigit() and len(v) <= 18]


def _page(
    request: HttpRequest,
    access: Access,
    *,
    errors: dict[int, list[str]] | None = None,
    values: dict[int, dict[str, str]] | None = None,
    failed: bool = False,
    **extra: Any,
) -> HttpResponse:
    state = mode_selectors.crisis_mode_state()
    held = mode_selectors.crisis_mode_held(state=state)
    now = timezone.now()
    errors, values = errors or {}, values or {}
    review = []
    for post in held:
        passed = mode_selectors.post_time_passed(post=post, now=now)
        chosen = values.get(post.pk, {})
        review.append(
            {
                "post": post,
                "passed": passed,
                "action": chosen.get("action")
                or (mode_services.RESCHEDULE if passed else mode_services.RELEASE),
                "at": chosen.get("at", ""),
                "errors": errors.get(post.pk, []),
            }
        )
    context = {
        "tab": "mode",
        "state": state,
        "held": held,
        "held_groups": mode_selectors.held_by_channel(posts=held),
        "review": review,
        "history": mode_selectors.crisis_mode_history(),
        "channels": list(publishing_channel_list()),
        "can_manage": access.can(Capability.MANAGE),
        **extra,
    }
    return render(request, "crisis/aftermath/mode.html", context, status=400 if failed else 200)


@require_GET
@tenant_page()
def mode_view(request: HttpRequest, access: Access) -> HttpResponse:
    """With `?preview=1`: what switching on at the chosen scope would hold, and the form to do it."""
    preview = None
    if request.GET.get("preview"):
        scope = request.GET.get("scope", CrisisModeScope.TENANT)
        scope = scope if scope in CrisisModeScope.values else CrisisModeScope.TENANT
        try:
            chosen = mode_selectors.channels_by_ids(channel_ids=_ids(request.GET.getlist("channel")))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            chosen = []
        if scope == CrisisModeScope.CHANNELS and not chosen:
            messages.error(request, "Choose at least one channel to hold.")
        else:
            preview = {
                "scope": scope,
                "channels": chosen if scope == CrisisModeScope.CHANNELS else [],
                "posts": mode_selectors.crisis_mode_preview(scope=scope, channels=chosen),
            }
    return _page(request, access, preview=preview)


@api_equivalent("crisis_mode_on_create")
@require_POST
@tenant_page(Capability.MANAGE)
def mode_on_view(request: HttpRequest, access: Access) -> HttpResponse:
    scope = request.POST.get("scope", CrisisModeScope.TENANT)
    try:
        switch = mode_services.crisis_mode_engage(
            access=access,
            reason=request.POST.get("reason", ""),
            scope=scope,
            channel_ids=_ids(request.POST.getlist("channel")),
            client=client_info(request),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Crisis mode is on: {len(switch.held_post_ids)} posts held.")
    return redirect("crisis-mode")


def _when(raw: str) -> datetime | None:
    """A datetime-local field (no zone): the workspace's time zone."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@api_equivalent("crisis_mode_off_create")
@require_POST
@tenant_page(Capability.MANAGE)
def mode_off_view(request: HttpRequest, access: Access) -> HttpResponse:
    decisions: dict[int, mode_services.Decision] = {}
    values: dict[int, dict[str, str]] = {}
    for key in request.POST:
        action = request.POST.get(key, "")
        if not key.startswith("decision-") or not (key[9:].isascii() and key[9:].isdigit()) or len(key) > 27:
            continue
        post_id = int(key[9:])
        raw = request.POST.get(f"at-{post_id}", "")
        values[post_id] = {"action": action, "at": raw}
        decisions[post_id] = mode_services.Decision(action=action, scheduled_at=_when(raw) if raw else None)
    try:
        switch = mode_services.crisis_mode_release(
            access=access,
            reason=request.POST.get("reason", ""),
            decisions=decisions,
            client=client_info(request),
        )
    except ValidationError as error:
        errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        by_post = {int(k.split(".")[1]): v for k, v in errors.items() if k.startswith("decisions.")}
        general = [m for k, v in errors.items() if not k.startswith("decisions.") for m in v]
        for message in general:
            messages.error(request, message)
        if by_post:
            messages.error(request, "Some held posts need another decision: see below.")
        return _page(
            request, access, errors=by_post, values=values, failed=True, reason=request.POST.get("reason", "")
        )
    counts = {a: sum(1 for r in switch.review if r["decision"] == a) for a in mode_services.DECISIONS}
    messages.success(
        request,
        f"Crisis mode is off: {counts['release']} released, {counts['reschedule']} rescheduled, "
        f"{counts['draft']} kept as drafts.",
    )
    return redirect("crisis-mode")


portal_urlpatterns: list[URLPattern] = [
    path("crisis/mode/", mode_view, name="crisis-mode"),
    path("crisis/mode/on/", mode_on_view, name="crisis-mode-on"),
    path("crisis/mode/off/", mode_off_view, name="crisis-mode-off"),
]
