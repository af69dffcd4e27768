"""Agency pages on the public host: the portfolio (every client's risk, trend, open incidents and
crisis mode, riskiest first) and crisis mode across several clients (choose, preview, pause or
resume with a reason, see each client's outcome). Staff of the agency only; viewers see, admins
act."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_http_methods

from crisis import agency_services, portfolio_selectors
from tenants.access import Capability
from tenants.api_parity import api_equivalent
from tenants.http import client_info
from tenants.views import _agency_access, _public_login_url


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isascii() and v.isdigit() and len(v) <= 18]


@require_GET
def portfolio_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return HttpResponseRedirect(_public_login_url(request.get_full_path()))
    agency, access = _agency_access(request, agency_id)
    rows = []
    for tenant in portfolio_selectors.portfolio_list(access=access):
        row = portfolio_selectors.portfolio_row(tenant)
        row["spark"] = portfolio_selectors.sparkline_points(row["sparkline"])
        rows.append(row)
    return render(
        request,
        "crisis/aftermath/portfolio.html",
        {
            "agency": agency,
            "agency_access": access,
            "rows": rows,
            "can_manage": access.can(Capability.MANAGE),
        },
    )


@api_equivalent("agencies_crisis_mode_pause_create", "agencies_crisis_mode_resume_create")
@require_http_methods(["GET", "POST"])
def agency_mode_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return HttpResponseRedirect(_public_login_url(request.get_full_path()))
    agency, access = _agency_access(request, agency_id)
    context: dict[str, Any] = {
        "agency": agency,
        "agency_access": access,
        "can_manage": access.can(Capability.MANAGE),
    }
    status = 200
    chosen = _ids(
        request.POST.getlist("tenant") if request.method == "POST" else request.GET.getlist("tenant")
    )
    try:
        if request.method == "POST":
            if not access.can(Capability.MANAGE):
                raise PermissionDenied("Pausing clients needs the agency admin role.")
            act = (
                agency_services.agency_pause
                if request.POST.get("action") == "pause"
                else agency_services.agency_resume
            )
            context["outcomes"] = act(
                access=access,
                tenant_ids=chosen,
                reason=request.POST.get("reason", ""),
                client=client_info(request),
            )
            context["done"] = "paused" if request.POST.get("action") == "pause" else "resumed"
        elif request.GET.get("preview"):
            context["preview"] = agency_services.agency_pause_preview(access=access, tenant_ids=chosen)
    except ValidationError as error:
        context["error"] = " ".join(error.messages)
        status = 400
    context["rows"] = [
        portfolio_selectors.portfolio_row(t) for t in portfolio_selectors.portfolio_list(access=access)
    ]
    context["chosen"] = set(chosen)
    context["reason"] = request.POST.get("reason", "")
    return render(request, "crisis/aftermath/agency_mode.html", context, status=status)


public_portal_urlpatterns: list[URLPattern] = [
    path("agency/<int:agency_id>/portfolio/", portfolio_view, name="agency-portfolio"),
    path("agency/<int:agency_id>/crisis-mode/", agency_mode_view, name="agency-crisis-mode"),
]
