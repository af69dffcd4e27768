"""Ethics pages of the portal (purposes and notices, consent histories, the ledger check,
data-subject requests, retention) and the contact's own preference page.

Portal views are thin, as in listening: a form checks input, one selector or service does the work.
The preference page needs no account: its signed link is the credential. It shows nothing but the
purposes and the person's own choices, answers an invalid link exactly like a missing page, is
CSRF-protected and rate-limited per client address.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ethics import selectors, services
from ethics.forms import (
    ActivateForm,
    AttestForm,
    CodeForm,
    ConsentForm,
    DsrForm,
    FairnessSettingsForm,
    ModelFilterForm,
    NoticeForm,
    PreferenceForm,
    PurposeForm,
    RetentionForm,
    RetireForm,
)
from ethics.models import ConsentAction, ConsentSource, DsrStatus, ModelStatus, ModelVersion
from ethics.retention import retention_kinds
from personalization import records
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.http import client_info
from tenants.views import _form_errors, _message, tenant_page

PREFERENCE_FORM_ID = "preference-page-v1"


def _require(access: Access, capability: Capability, what: str) -> None:
    if not access.can(capability):
        raise PermissionDenied(f"{what} needs the '{capability.value}' permission.")


def _actor(access: Access) -> str:
    return f"user:{access.user.pk}"


# Overview, purposes, ledger ----------------------------------------------------------------------


@api_equivalent("purposes_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def ethics_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = PurposeForm(request.POST or None)
    if request.method == "POST":
        _require(access, Capability.MANAGE, "Adding a purpose")
        if form.is_valid():
            try:
                purpose = services.purpose_create(actor_id=access.user.pk, **form.cleaned_data)
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, f"Purpose '{purpose.name}' was added with its first notice.")
                return redirect("portal-ethics")
    open_requests = selectors.dsr_list().exclude(status=DsrStatus.COMPLETED)
    return render(
        request,
        "ethics/overview.html",
        {
            "tab": "overview",
            "purposes": selectors.purpose_list(),
            "open_requests": open_requests.count(),
            "overdue": open_requests.filter(due_at__lt=timezone.now()).count(),
            "form": form,
            "can_manage": access.can(Capability.MANAGE),
        },
    )


@api_equivalent("purposes_notices_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def purpose_view(request: HttpRequest, access: Access, purpose_id: int) -> HttpResponse:
    purpose = selectors.purpose_get(purpose_id=purpose_id)
    form = NoticeForm(request.POST or None)
    if request.method == "POST":
        _require(access, Capability.MANAGE, "Publishing a notice")
        if form.is_valid():
            try:
                notice = services.notice_publish(
                    purpose=purpose, text=form.cleaned_data["text"], actor_id=access.user.pk
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, f"Version {notice.version} of the notice is now shown to people.")
                return redirect("ethics-purpose", purpose_id=purpose.pk)
    return render(
        request,
        "ethics/purpose.html",
        {
            "tab": "overview",
            "purpose": purpose,
            "notices": selectors.notice_list(purpose=purpose),
            "form": form,
            "can_manage": access.can(Capability.MANAGE),
        },
    )


@api_equivalent("consent_verify_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def ledger_view(request: HttpRequest, access: Access) -> HttpResponse:
    """The ledger's verifications, newest first; POST asks a worker for a new one."""
    can_edit = access.can(Capability.EDIT)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Verifying the ledger needs edit rights.")
        services.ledger_check_request(actor=access.user)
        messages.success(request, "Verification queued: every hash of the chain is recomputed by a worker.")
        return redirect("ethics-ledger")
    checks = list(selectors.ledger_checks()[:10])
    done = next((c for c in checks if c.finished_at is not None), None)
    pending = next((c for c in checks if c.finished_at is None), None)
    return render(
        request,
        "ethics/ledger.html",
        {"tab": "ledger", "checks": checks, "done": done, "pending": pending, "can_edit": can_edit},
    )


# Contacts' consent --------------------------------------------------------------------------------


@require_GET
@tenant_page()
def contacts_view(request: HttpRequest, access: Access) -> HttpResponse:
    page = Paginator(records.contact_list(), 50).get_page(request.GET.get("page"))
    return render(request, "ethics/contacts.html", {"tab": "contacts", "page": page})


@api_equivalent("contacts_consents_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def contact_consent_view(request: HttpRequest, access: Access, contact_id: int) -> HttpResponse:
    contact = records.contact_get(contact_id=contact_id)
    purposes = list(selectors.purpose_list())
    form = ConsentForm(request.POST or None, purposes=purposes)
    preference_url = ""
    if request.method == "POST":
        _require(access, Capability.EDIT, "Recording consent")
        if form.is_valid():
            client = client_info(request)
            try:
                services.consent_record(
                    contact=contact,
                    purpose=selectors.purpose_by_code(code=form.cleaned_data["purpose"]),
                    action=form.cleaned_data["action"],
                    lawful_basis=form.cleaned_data["lawful_basis"],
                    source=ConsentSource.PORTAL,
                    actor=_actor(access),
                    evidence=services.Evidence(
                        ip_address=client.ip_address,
                        user_agent=client.user_agent,
                        form_id=form.cleaned_data["form_id"],
                    ),
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, "Recorded in the ledger.")
                return redirect("ethics-contact", contact_id=contact.pk)
    if request.GET.get("link") and access.can(Capability.EDIT):
        token = services.preference_token(contact=contact)
        preference_url = request.build_absolute_uri(f"/preferences/{token}/")
    return render(
        request,
        "ethics/contact.html",
        {
            "tab": "contacts",
            "contact": contact,
            "events": selectors.consent_history(contact=contact),
            "current": selectors.consent_current(contact=contact),
            "form": form,
            "can_edit": access.can(Capability.EDIT),
            "preference_url": preference_url,
        },
    )


# Data-subject requests -----------------------------------------------------------------------------


@api_equivalent("dsrs_create")
@require_http_methods(["GET", "POST"])
@tenant_page(Capability.MANAGE)
def dsrs_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = DsrForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contact = records.contact_get(contact_id=data["contact"]) if data.get("contact") else None
        except Http404:
            form.add_error("contact", "No contact with this number.")
        else:
            try:
                created = services.dsr_create(
                    kind=data["kind"],
                    contact=contact,
                    subject_handles=data["subject_handles"],
                    changes=data["changes"],
                    actor=_actor(access),
                    actor_id=access.user.pk,
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(
                    request, f"Request #{created.dsr.pk} was opened. Verify the person's identity next."
                )
                return redirect("ethics-dsr", dsr_id=created.dsr.pk)
    return render(
        request,
        "ethics/dsrs.html",
        {"tab": "dsrs", "requests": selectors.dsr_list()[:200], "form": form, "now": timezone.now()},
    )


@require_GET
@tenant_page(Capability.MANAGE)
def dsr_view(request: HttpRequest, access: Access, dsr_id: int) -> HttpResponse:
    return render(
        request,
        "ethics/dsr.html",
        {
            "tab": "dsrs",
            "dsr": selectors.dsr_get(dsr_id=dsr_id),
            "code_form": CodeForm(),
            "attest_form": AttestForm(),
        },
    )


@api_equivalent("dsrs_send_code_create", "dsrs_verify_code_create", "dsrs_attest_create", "dsrs_run_create")
@require_POST
@tenant_page(Capability.MANAGE)
def dsr_action_view(request: HttpRequest, access: Access, dsr_id: int, step: str) -> HttpResponse:
    """One step of a request: send-code, verify-code, attest or run."""
    dsr = selectors.dsr_get(dsr_id=dsr_id)
    actor = _actor(access)
    try:
        if step == "send-code":
            services.dsr_send_code(dsr=dsr, actor=actor)
            messages.success(request, "A code was emailed to the contact's address on file.")
        elif step == "verify-code":
            form = CodeForm(request.POST)
            if not form.is_valid():
                raise ValidationError("Enter the 8-digit code.")
            services.dsr_verify_code(dsr=dsr, code=form.cleaned_data["code"], actor=actor)
            messages.success(request, "Identity verified.")
        elif step == "attest":
            attest = AttestForm(request.POST)
            if not attest.is_valid():
                raise ValidationError("Say how, and add a note.")
            services.dsr_attest(dsr=dsr, actor=actor, **attest.cleaned_data)
            messages.success(request, "Identity verified by your attestation.")
        elif step == "run":
            services.dsr_run(dsr=dsr, actor=actor)
            messages.success(request, "The request is being carried out.")
        else:
            raise Http404("No such step")
    except ValidationError as error:
        messages.error(request, _message(error))
    return redirect("ethics-dsr", dsr_id=dsr.pk)


@require_GET
@tenant_page(Capability.MANAGE)
def dsr_download_view(request: HttpRequest, access: Access, dsr_id: int) -> FileResponse:
    dsr = selectors.dsr_get(dsr_id=dsr_id)
    if not dsr.export_file:
        raise Http404("This request has no export")
    return FileResponse(
        dsr.export_file.open("rb"),
        as_attachment=True,
        filename=f"personal-data-{dsr.pk}.zip",
        content_type="application/zip",
    )


# Retention ----------------------------------------------------------------------------------------


@api_equivalent("retention_policy_update")
@require_http_methods(["GET", "POST"])
@tenant_page()
def retention_view(request: HttpRequest, access: Access) -> HttpResponse:
    kinds = retention_kinds()
    form = RetentionForm(request.POST or None, kinds=kinds, periods=selectors.retention_policy().periods)
    if request.method == "POST":
        _require(access, Capability.MANAGE, "Changing retention")
        if form.is_valid():
            try:
                services.retention_policy_set(periods=dict(form.cleaned_data), actor_id=access.user.pk)
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, "Retention periods saved. They are enforced every night.")
                return redirect("ethics-retention")
    return render(
        request,
        "ethics/retention.html",
        {
            "tab": "retention",
            "form": form,
            "lines": selectors.retention_dry_run(),
            "policy": selectors.retention_policy(),
            "can_manage": access.can(Capability.MANAGE),
        },
    )


# The preference page (no account) -----------------------------------------------------------------


def _rate_limited(request: HttpRequest) -> bool:
    """A fixed one-minute window per client address (the cache key carries the tenant): enough for
    a person changing their mind, too few to walk the token space."""
    key = f"ethics:preferences:{client_info(request).ip_address}"
    cache.add(key, 0, timeout=60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=60)
        count = 1
    return count > settings.ETHICS_PREFERENCE_RATE_PER_MINUTE


@require_http_methods(["GET", "POST"])
def preferences_view(request: HttpRequest, token: str) -> HttpResponse:
    if _rate_limited(request):
        response = render(
            request,
            "ethics/preferences_invalid.html",
            {"message": "Too many requests from your address. Wait a minute and try again."},
            status=429,
        )
        response["Retry-After"] = "60"
        return response
    contact = services.preference_contact(token=token)
    if contact is None:
        return render(
            request,
            "ethics/preferences_invalid.html",
            {"message": "This link is not valid, or it has expired. Ask the sender for a new one."},
            status=404,
        )
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            client = client_info(request)
            try:
                purpose = selectors.purpose_by_code(code=form.cleaned_data["purpose"])
                shown = form.cleaned_data.get("notice_version")
                services.consent_record(
                    contact=contact,
                    purpose=purpose,
                    notice=selectors.notice_list(purpose=purpose).filter(version=shown).first()
                    if shown
                    else None,
                    action=form.cleaned_data["action"],
                    source=ConsentSource.PREFERENCE_PAGE,
                    actor="subject",
                    evidence=services.Evidence(
                        ip_address=client.ip_address, user_agent=client.user_agent, form_id=PREFERENCE_FORM_ID
                    ),
                )
            except ValidationError as error:
                messages.error(request, _message(error))
            else:
                done = "given" if form.cleaned_data["action"] == ConsentAction.GRANT else "withdrawn"
                messages.success(request, f"Your consent was {done}. Thank you.")
        else:
            messages.error(request, "That choice could not be read. Try again.")
        return redirect("ethics-preferences", token=token)
    current = selectors.consent_current(contact=contact)
    purposes = [
        {"purpose": p, "notice": next(iter(p.notices.all()), None), "granted": p.code in current}
        # Retired purposes still show while the person has a consent to withdraw there.
        for p in selectors.purpose_list().filter(Q(is_active=True) | Q(code__in=list(current)))
    ]
    response = render(request, "ethics/preferences.html", {"purposes": purposes, "token": token})
    # A personal page behind a secret link: never cached. The site-wide same-origin referrer policy
    # keeps the link from leaking to other sites (no-referrer would make forms post `Origin: null`,
    # which Django's CSRF check refuses).
    response["Cache-Control"] = "no-store"
    return response


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


@api_equivalent("models_activate_create")
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


@api_equivalent("models_retire_create")
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


@api_equivalent("fairness_settings_partial_update")
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
    path("ethics/", ethics_view, name="portal-ethics"),
    path("ethics/purposes/<int:purpose_id>/", purpose_view, name="ethics-purpose"),
    path("ethics/ledger/", ledger_view, name="ethics-ledger"),
    path("ethics/contacts/", contacts_view, name="ethics-contacts"),
    path("ethics/contacts/<int:contact_id>/", contact_consent_view, name="ethics-contact"),
    path("ethics/requests/", dsrs_view, name="ethics-dsrs"),
    path("ethics/requests/<int:dsr_id>/", dsr_view, name="ethics-dsr"),
    path("ethics/requests/<int:dsr_id>/download/", dsr_download_view, name="ethics-dsr-download"),
    path("ethics/requests/<int:dsr_id>/<slug:step>/", dsr_action_view, name="ethics-dsr-step"),
    path("ethics/retention/", retention_view, name="ethics-retention"),
    path("ethics/models/", models_view, name="ethics-models"),
    path("ethics/models/<int:version_id>/", model_view, name="ethics-model"),
    path("ethics/models/<int:version_id>/activate/", model_activate_view, name="ethics-model-activate"),
    path("ethics/models/<int:version_id>/retire/", model_retire_view, name="ethics-model-retire"),
    path("ethics/fairness/", fairness_settings_view, name="ethics-fairness"),
    path("preferences/<str:token>/", preferences_view, name="ethics-preferences"),
]
