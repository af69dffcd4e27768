"""Audience pages of the portal: contacts and their import, channels, segments with the model
status, and recommendations. Views are thin: a form checks input, one selector or service works."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ethics.selectors import active_model_version, model_version_list
from personalization import records, selectors, services
from personalization.forms import ImportForm, RecommendForm
from personalization.models import RecommendationKind
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.views import _form_errors, tenant_page


def _require(access: Access, capability: Capability, what: str) -> None:
    if not access.can(capability):
        raise PermissionDenied(f"{what} needs the '{capability.value}' permission.")


@api_equivalent("contacts_import_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def audience_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        _require(access, Capability.EDIT, "Importing contacts")
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > records.IMPORT_MAX_BYTES:
                    raise ValidationError({"file": "The file is larger than 5 MB."})
                records.contact_import_start(
                    content=upload.read(),
                    fmt=form.cleaned_data["format"],
                    name=upload.name or "",
                    actor=f"user:{access.user.pk}",
                    user_id=access.user.pk,
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, "Import queued: its progress and problems show below.")
                return redirect("portal-audience")
    # The latest import, with its progress while it runs and each bad row once it ran.
    job = records.contact_import_list().first()
    page = Paginator(records.contact_list(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "personalization/audience.html",
        {
            "tab": "contacts",
            "page": page,
            "form": form,
            "job": job,
            "channels": selectors.channel_list(),
        },
    )


@require_GET
@tenant_page()
def segments_view(request: HttpRequest, access: Access) -> HttpResponse:
    return render(
        request,
        "personalization/segments.html",
        {
            "tab": "segments",
            "segments": selectors.segment_list(),
            "models": {
                kind: active_model_version(kind=kind)
                for kind in (services.SEGMENTS_KIND, services.ENGAGEMENT_KIND)
            },
            "versions": model_version_list().filter(
                kind__in=[services.SEGMENTS_KIND, services.ENGAGEMENT_KIND]
            )[:6],
            "crisis": selectors.crisis_mode_on(),
        },
    )


@api_equivalent("segments_train_create")
@require_POST
@tenant_page(Capability.EDIT)
def train_view(request: HttpRequest, access: Access) -> HttpResponse:
    services.training_request()
    messages.success(request, "Training queued: segments first, then the engagement model.")
    return redirect("audience-segments")


@api_equivalent("recommendations_variants_create", "recommendations_slots_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def recommendations_view(request: HttpRequest, access: Access) -> HttpResponse:
    channels = selectors.channel_list().filter(is_active=True)
    form = RecommendForm(request.POST or None, channels=channels)
    variants = slots = None
    if request.method == "POST":
        _require(access, Capability.EDIT, "Asking for advice")
        if form.is_valid():
            segments = list(services.segments_for_advice())
            channel = form.cleaned_data["channel"]
            variants = services.variants_advise(
                variants=form.variants(),
                channel=channel,
                hour_of_week=form.hour_of_week(),
                segments=segments,
                actor=access.user,
            )
            slots = services.slots_advise(channel=channel, segments=segments, actor=access.user)
    recent = selectors.recommendation_list().filter(kind=RecommendationKind.VARIANT)[:10]
    return render(
        request,
        "personalization/recommendations.html",
        {
            "tab": "recommendations",
            "form": form,
            "variants": variants,
            "slots": slots,
            "recent": recent,
            "crisis": selectors.crisis_mode_on(),
            "has_channels": channels.exists(),
        },
    )


portal_urlpatterns: list[URLPattern] = [
    path("audience/", audience_view, name="portal-audience"),
    path("audience/segments/", segments_view, name="audience-segments"),
    path("audience/segments/train/", train_view, name="audience-train"),
    path("audience/recommendations/", recommendations_view, name="audience-recommendations"),
]
