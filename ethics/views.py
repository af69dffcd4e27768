"""Ethics pages of the portal for models: the registry, a version's bias audit (with charts), its
model card and the activate/override form, and the tenant's fairness settings.

Everyone in the tenant reads; activating a version and changing settings need MANAGE, as in the
API. The audit chart draws from the stored report, rendered into the page as JSON.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ethics import selectors, services
from ethics.forms import ActivateForm, FairnessSettingsForm, ModelFilterForm, RetireForm
from ethics.models import ModelStatus, ModelVersion
from tenants.access import Access, Capability
from tenants.http import client_info
from tenants.views import _form_errors, tenant_page

MANAGE_REFUSED = "Activating models and changing fairness settings needs the 'manage' permission (admins)."


def _chart_data(version: ModelVersion) -> list[dict[str, object]]:
    """Per attribute: groups with rate and interval, and the four-fifths line (0.8 of the highest
    judged group's rate), as the chart script reads them."""
    report = version.audit_report
    if report is None:
        return []
    ratio = report["thresholds"]["min_dp_ratio"]
    charts = []
    for attribute in report["attributes"]:
        judged = [g["selection_rate"] for g in attribute["groups"] if not g["too_small"]]
        charts.append(
            {
                "attribute": attribute["attribute"],
                "line": ratio * max(judged) if len(judged) >= 2 else None,
                "groups": [
                    {
                        "group": g["group"],
                        "rate": g["selection_rate"],
                        "low": g["selection_rate_ci"]["low"],
                        "high": g["selection_rate_ci"]["high"],
                        "judged": not g["too_small"],
                        "count": g["count"],
                    }
                    for g in attribute["groups"]
                ],
            }
        )
    return charts


@require_GET
@tenant_page()
def models_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = ModelFilterForm(request.GET or None)
    status = form.cleaned_data["status"] if form.is_valid() else ""
    versions = selectors.model_version_list(status=status or None).defer("card")
    return render(
        request,
        "ethics/models.html",
        {"tab": "models", "form": form, "versions": versions, "can_manage": access.can(Capability.MANAGE)},
    )


@require_GET
@tenant_page()
def model_view(request: HttpRequest, access: Access, version_id: int) -> HttpResponse:
    version = selectors.model_version_get(version_id=version_id)
    return _model_page(request, access, version, ActivateForm())


def _model_page(
    request: HttpRequest,
    access: Access,
    version: ModelVersion,
    form: ActivateForm,
    retire_form: RetireForm | None = None,
) -> HttpResponse:
    active = selectors.active_model_version(kind=version.kind)
    return render(
        request,
        "ethics/model.html",
        {
            "tab": "models",
            "version": version,
            "card": version.card,
            "charts": _chart_data(version),
            "active": active,
            "form": form,
            "retire_form": retire_form or RetireForm(),
            "can_manage": access.can(Capability.MANAGE),
            "can_activate": version.status
            in (ModelStatus.AUDITED, ModelStatus.REJECTED, ModelStatus.RETIRED),
        },
    )


@require_POST
@tenant_page()
def model_activate_view(request: HttpRequest, access: Access, version_id: int) -> HttpResponse:
    if not access.can(Capability.MANAGE):
        raise PermissionDenied(MANAGE_REFUSED)
    version = selectors.model_version_get(version_id=version_id)
    form = ActivateForm(request.POST)
    if form.is_valid():
        try:
            services.model_version_activate(
                version=version,
                by=access,
                override_reason=form.cleaned_data["override_reason"],
                client=client_info(request),
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"{version.kind_label} v{version.version} is now active.")
            return redirect("ethics-model", version_id=version.pk)
    version.refresh_from_db()
    return _model_page(request, access, version, form)


@require_POST
@tenant_page()
def model_retire_view(request: HttpRequest, access: Access, version_id: int) -> HttpResponse:
    if not access.can(Capability.MANAGE):
        raise PermissionDenied(MANAGE_REFUSED)
    version = selectors.model_version_get(version_id=version_id)
    form = RetireForm(request.POST)
    if form.is_valid():
        try:
            services.model_version_retire(
                version=version, by=access, reason=form.cleaned_data["reason"], client=client_info(request)
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(
                request, f"{version.kind_label} v{version.version} is retired; none is active now."
            )
            return redirect("ethics-model", version_id=version.pk)
    return _model_page(request, access, version, ActivateForm(), form)


@require_http_methods(["GET", "POST"])
@tenant_page()
def fairness_settings_view(request: HttpRequest, access: Access) -> HttpResponse:
    current = selectors.fairness_settings_get()
    form = FairnessSettingsForm(request.POST or None, instance=current)
    if request.method == "POST":
        if not access.can(Capability.MANAGE):
            raise PermissionDenied(MANAGE_REFUSED)
        if form.is_valid():
            try:
                services.fairness_settings_update(access=access, **form.changes())
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, "Fairness settings saved. They apply to the next audits.")
                return redirect("ethics-fairness")
    return render(
        request,
        "ethics/fairness.html",
        {"tab": "fairness", "form": form, "can_manage": access.can(Capability.MANAGE)},
    )


portal_urlpatterns: list[URLPattern] = [
    path("ethics/models/", models_view, name="ethics-models"),
    path("ethics/models/<int:version_id>/", model_view, name="ethics-model"),
    path("ethics/models/<int:version_id>/activate/", model_activate_view, name="ethics-model-activate"),
    path("ethics/models/<int:version_id>/retire/", model_retire_view, name="ethics-model-retire"),
    path("ethics/fairness/", fairness_settings_view, name="ethics-fairness"),
]
