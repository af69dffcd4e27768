"""Portal pages of the shell: sign-in, tenant switcher, agency home, members, tokens, audit log.

Pages reach tenant data the way the API does: through `Access` and the selectors. A tenant the
user cannot reach answers 404; a capability they lack answers 403.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants import identity, selectors, services
from tenants.access import Access, Capability, access_for, agency_access_for
from tenants.api.errors import json_error
from tenants.api_parity import api_equivalent
from tenants.demo import replay
from tenants.forms import (
    MemberAddForm,
    MemberRoleForm,
    PasswordResetRequestForm,
    SignInForm,
    TenantCreateForm,
    TokenCreateForm,
)
from tenants.http import client_info
from tenants.models import Agency, Tenant
from tenants.onboarding import onboarding_steps

SIGNOUT_SALT = "candor.signout"


def _public_login_url(next_url: str = "") -> str:
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    return f"{settings.CANDOR_PUBLIC_URL}/login/{query}"


def _form_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
    else:
        form.add_error(None, error.messages)


def tenant_page(capability: Capability = Capability.VIEW) -> Callable[..., Any]:
    """A tenant portal page: sends strangers to sign in, hides the tenant from non-members (404) and
    refuses members without `capability` (403). The view receives the caller's Access."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            tenant = request.tenant  # type: ignore[attr-defined]
            if not request.user.is_authenticated:
                return HttpResponseRedirect(
                    _public_login_url(f"/go/{tenant.slug}/?{urlencode({'next': request.get_full_path()})}")
                )
            access = access_for(user=request.user, tenant=tenant)
            if access is None:
                raise Http404("No such workspace")
            if not access.can(capability):
                raise PermissionDenied(f"This page needs the '{capability.value}' permission.")
            request.portal_access = access  # type: ignore[attr-defined]
            return view(request, access, *args, **kwargs)

        return wrapper

    return decorator


# Public host -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sign_in_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url or "portal-home")
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = identity.sign_in(request=request, **form.cleaned_data)
        except identity.SignInLocked:
            form.add_error(None, "Too many failed sign-ins. Wait a few minutes, or reset your password.")
        else:
            if user is not None:
                return redirect(next_url or "portal-home")
            form.add_error(None, "That email and password do not match an account.")
    return render(request, "portal/sign_in.html", {"form": form, "next": next_url}, status=200)


@require_http_methods(["GET", "POST"])
def sign_out_view(request: HttpRequest) -> HttpResponse:
    """POST signs out of this host. A GET with a signed token comes from a tenant host's sign-out
    and ends the public session too, so one click signs out everywhere."""
    if request.method == "POST":
        identity.sign_out(request=request)
        return redirect("portal-login")
    try:
        user_id = signing.loads(request.GET.get("token", ""), salt=SIGNOUT_SALT, max_age=60)
    except signing.BadSignature:
        return redirect("portal-home")
    if request.user.is_authenticated and request.user.pk == user_id:
        identity.sign_out(request=request)
    messages.info(request, "You are signed out.")
    return redirect("portal-login")


@require_GET
def home_view(request: HttpRequest) -> HttpResponse:
    """The tenant switcher: every workspace the user reaches, grouped by agency."""
    if not request.user.is_authenticated:
        return redirect("portal-login")
    tenants = list(selectors.tenant_list_for_user(user=request.user))
    agencies = list(selectors.agency_list_for_user(user=request.user))
    return render(request, "portal/switcher.html", {"tenants": tenants, "agencies": agencies})


@require_GET
def go_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Switch to a workspace: a one-use, one-minute link that signs the user in on its host."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(_public_login_url(request.get_full_path()))
    tenant = selectors.tenant_list_for_user(user=request.user).filter(slug=slug).first()
    if tenant is None:
        raise Http404("No such workspace")
    return HttpResponseRedirect(
        identity.handoff_url(
            user=request.user,
            tenant=tenant,
            next_path=request.GET.get("next", "/"),
        )
    )


def _agency_access(request: HttpRequest, agency_id: int) -> tuple[Agency, Any]:
    if not request.user.is_authenticated:
        raise Http404("No such agency")
    access = agency_access_for(user=request.user, agency_id=agency_id)
    if access is None:
        raise Http404("No such agency")
    return Agency.objects.get(pk=agency_id), access


@api_equivalent("agencies_tenants_create")
@require_http_methods(["GET", "POST"])
def agency_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    """An agency's home: its clients, a form to add one (agency admins), and its audit log."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(_public_login_url(request.get_full_path()))
    agency, access = _agency_access(request, agency_id)
    form = TenantCreateForm(request.POST or None)
    if request.method == "POST":
        if not access.can(Capability.MANAGE):
            raise PermissionDenied("Adding clients needs the agency admin role.")
        if form.is_valid():
            try:
                tenant = services.tenant_create_for_agency(
                    access=access, client=client_info(request), **form.cleaned_data
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, f"{tenant.name} is ready at {services.tenant_url(tenant)}")
                return redirect("portal-agency", agency_id=agency.pk)
    tenants = selectors.tenant_list_for_agency(access=access)
    events = (
        selectors.audit_event_list_for_agency(access=access)[:25] if access.can(Capability.MANAGE) else []
    )
    return render(
        request,
        "portal/agency.html",
        {
            "agency": agency,
            "agency_access": access,
            "tenants": tenants,
            "form": form,
            "events": events,
            "can_manage": access.can(Capability.MANAGE),
        },
    )


@require_http_methods(["GET", "POST"])
def password_reset_view(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.password_reset_send(email=form.cleaned_data["email"], client=client_info(request))
        return render(request, "registration/password_reset_done.html")
    return render(request, "registration/password_reset_form.html", {"form": form})


# Tenant host -------------------------------------------------------------------------------------


@require_GET
def handoff_view(request: HttpRequest) -> HttpResponse:
    tenant: Tenant = request.tenant  # type: ignore[attr-defined]
    user = identity.handoff_redeem(request=request, token=request.GET.get("token", ""), tenant=tenant)
    if user is None:
        return HttpResponseRedirect(_public_login_url(f"/go/{tenant.slug}/"))
    next_path = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(next_path, allowed_hosts={request.get_host()}):
        next_path = "/"
    return HttpResponseRedirect(next_path)


@require_GET
def tenant_login_view(request: HttpRequest) -> HttpResponse:
    tenant: Tenant = request.tenant  # type: ignore[attr-defined]
    return HttpResponseRedirect(_public_login_url(f"/go/{tenant.slug}/"))


@require_POST
def tenant_sign_out_view(request: HttpRequest) -> HttpResponse:
    user_id = request.user.pk if request.user.is_authenticated else None
    identity.sign_out(request=request)
    if user_id is None:
        return HttpResponseRedirect(_public_login_url())
    token = signing.dumps(user_id, salt=SIGNOUT_SALT)
    return HttpResponseRedirect(f"{settings.CANDOR_PUBLIC_URL}/logout/?{urlencode({'token': token})}")


# Every section on the overview; those in WITH_PAGES have pages of their own (listening.views,
# personalization.views, ethics.views, crisis.risk_views), the others still show their empty state
# with first steps.
WITH_PAGES = ("listening", "audience", "ethics", "crisis")
SECTIONS = {
    "listening": {
        "title": "Listening",
        "lead": "Mentions of your brand, products and competitors from social networks, news and feeds.",
    },
    "crisis": {
        "title": "Crisis",
        "lead": "An early-warning risk score, playbooks, incidents and approved statements.",
        "steps": [
            "Review the playbooks for outages, breaches and product failures.",
            "Choose who approves holding statements.",
            "When risk climbs, declare an incident and follow the playbook.",
        ],
    },
    "audience": {
        "title": "Audience",
        "lead": "Contacts, segments learned from engagement, and when and how to reach each of them.",
    },
    "ethics": {
        "title": "Ethics",
        "lead": "Consent per contact and purpose, data-subject requests, bias audits and model cards.",
    },
}


@require_GET
@tenant_page()
def overview_view(request: HttpRequest, access: Access) -> HttpResponse:
    steps = onboarding_steps(access)
    demo = access.can(Capability.MANAGE) and replay.replay_available(access.tenant.slug)
    return render(
        request,
        "portal/overview.html",
        {
            "sections": SECTIONS,
            "steps": steps,
            "steps_done": sum(step.done for step in steps),
            "demo": demo,
            "demo_running": replay.replay_running(),
            "demo_progress": replay.replay_progress(access.tenant.slug) if demo else [],
        },
    )


@api_equivalent("demo_outage_create")
@require_POST
@tenant_page(Capability.MANAGE)
def demo_outage_view(request: HttpRequest, access: Access) -> HttpResponse:
    """Replay the demo's outage (demo tenants only) at the chosen pace: the dashboard shows it arrive."""
    try:
        speed = float(request.POST.get("speed") or replay.DEFAULT_SPEED)
        started = replay.replay_start(slug=access.tenant.slug, speed=speed)
    except ValueError:
        messages.error(request, "Choose the replay's pace from the list.")
        return redirect("portal-overview")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("portal-overview")
    seconds = (started.ends_at - started.started_at).total_seconds()
    pace = f"{seconds / 60:.0f} minutes" if seconds >= 90 else f"{seconds:.0f} seconds"
    messages.success(request, f"The outage replay started: two hours of the story in {pace}.")
    return redirect("listening-dashboard")


@require_GET
@tenant_page()
def section_view(request: HttpRequest, access: Access, section: str) -> HttpResponse:
    return render(request, "portal/section.html", {"section": SECTIONS[section], "section_key": section})


@api_equivalent("members_create")
@require_http_methods(["GET", "POST"])
@tenant_page(Capability.MANAGE)
def members_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = MemberAddForm(request.POST or None, can_own=access.can(Capability.OWN))
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.member_add(access=access, client=client_info(request), **form.cleaned_data)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(
                request, f"{membership.user.email} was added as {membership.get_role_display()}."
            )
            return redirect("portal-members")
    return render(
        request,
        "portal/members.html",
        {
            "members": selectors.membership_list(access=access),
            "form": form,
            "role_form": MemberRoleForm(),
            "can_own": access.can(Capability.OWN),
        },
    )


@api_equivalent("members_partial_update")
@require_POST
@tenant_page(Capability.MANAGE)
def member_role_view(request: HttpRequest, access: Access, membership_id: int) -> HttpResponse:
    membership = selectors.membership_get(access=access, membership_id=membership_id)
    form = MemberRoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors.get("role", ["Choose a role."])[0])
        membership = services.member_change_role(
            access=access, membership=membership, role=form.cleaned_data["role"], client=client_info(request)
        )
        messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, _message(error))
    return redirect("portal-members")


@api_equivalent("members_destroy")
@require_POST
@tenant_page(Capability.MANAGE)
def member_remove_view(request: HttpRequest, access: Access, membership_id: int) -> HttpResponse:
    membership = selectors.membership_get(access=access, membership_id=membership_id)
    try:
        services.member_remove(access=access, membership=membership, client=client_info(request))
        messages.success(request, f"{membership.user.email} was removed.")
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, _message(error))
    return redirect("portal-members")


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or "Not allowed."


NEW_TOKEN_SESSION_KEY = "portal:new-token"  # noqa: S105 - a session key name


@api_equivalent("tokens_create")
@require_http_methods(["GET", "POST"])
@tenant_page(Capability.MANAGE)
def tokens_view(request: HttpRequest, access: Access) -> HttpResponse:
    """Create (POST, then redirect, so a reload cannot mint a second token) and list tokens. The new
    secret rides in the session to the next page view, which removes it: it is shown once."""
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _, raw = services.token_create(
                user=access.user, tenants=[access.tenant], client=client_info(request), **form.cleaned_data
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            request.session[NEW_TOKEN_SESSION_KEY] = raw
            return redirect("portal-tokens")
    return render(
        request,
        "portal/tokens.html",
        {
            "tokens": selectors.token_list(access=access),
            "form": form,
            "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
        },
    )


@api_equivalent("tokens_destroy")
@require_POST
@tenant_page(Capability.MANAGE)
def token_revoke_view(request: HttpRequest, access: Access, token_id: int) -> HttpResponse:
    token = selectors.token_get(access=access, token_id=token_id)
    services.token_revoke(access=access, token=token, client=client_info(request))
    messages.success(request, f"Token '{token.name}' was revoked. Calls with it now answer 401.")
    return redirect("portal-tokens")


@require_GET
@tenant_page(Capability.MANAGE)
def audit_view(request: HttpRequest, access: Access) -> HttpResponse:
    return render(request, "portal/audit.html", {"events": selectors.audit_event_list(access=access)[:200]})


# Errors ------------------------------------------------------------------------------------------


def _error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error(status, code, message)
    return render(request, "portal/error.html", {"status": status, "message": message}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "not_found", "This page does not exist, or you cannot see it.")


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "permission_denied", str(exception) if exception else "Not allowed.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, "bad_request", "The request could not be understood.")


# Seconds a client is asked to wait when the database is unreachable (a restart or failover).
UNAVAILABLE_RETRY_AFTER_S = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """Django calls this inside the `except` of the failed request, so the error is at hand. A
    database that cannot be reached (restart, failover) is a 503 the client may retry, rendered
    without touching the database (no session, no user, no context processors): the portal page
    of `_error` would fail the same way."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = json_error(
                503, "unavailable", "The service is briefly unavailable; try again shortly."
            )
        else:
            response = HttpResponse(render_to_string("portal/unavailable.html"), status=503)
        response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_S)
        return response
    return _error(request, 500, "server_error", "Something went wrong on our side. It has been logged.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(request, 403, "csrf_failed", "Your session form expired. Reload the page and try again.")


public_urlpatterns: list[URLPattern] = [
    path("", home_view, name="portal-home"),
    path("login/", sign_in_view, name="portal-login"),
    path("logout/", sign_out_view, name="portal-logout"),
    path("go/<slug:slug>/", go_view, name="portal-go"),
    path("agency/<int:agency_id>/", agency_view, name="portal-agency"),
    path("password-reset/", password_reset_view, name="password_reset"),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(success_url=reverse_lazy("password_reset_complete")),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]

tenant_urlpatterns: list[URLPattern] = [
    path("", overview_view, name="portal-overview"),
    path("login/", tenant_login_view, name="portal-login"),
    path("logout/", tenant_sign_out_view, name="portal-logout"),
    path("auth/handoff/", handoff_view, name="portal-handoff"),
    *[
        path(f"{key}/", section_view, {"section": key}, name=f"portal-{key}")
        for key in SECTIONS
        if key not in WITH_PAGES
    ],
    path("demo/outage/", demo_outage_view, name="portal-demo-outage"),
    path("settings/members/", members_view, name="portal-members"),
    path("settings/members/<int:membership_id>/role/", member_role_view, name="portal-member-role"),
    path("settings/members/<int:membership_id>/remove/", member_remove_view, name="portal-member-remove"),
    path("settings/tokens/", tokens_view, name="portal-tokens"),
    path("settings/tokens/<int:token_id>/revoke/", token_revoke_view, name="portal-token-revoke"),
    path("settings/audit/", audit_view, name="portal-audit"),
]
