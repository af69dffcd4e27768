"""Alert pages of the portal: the alert list (why, evidence, actions, and how useful each rule has
been), an alert's page with its deliveries, the rule editor, and the header's bell.

Views are thin, as in `listening.views`: a form checks input, one selector or service works, a
template renders. Everyone in the tenant reads; acting on alerts and editing rules needs EDIT.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from listening import selectors
from listening.alert_forms import AlertRuleForm, EscalateForm
from listening.models import AlertRule, AlertStatus
from listening.services import alert_delivery, alerts
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.views import _form_errors, tenant_page

PAGE_SIZE = 50
QUALITY_DAYS = 28
EDIT_REFUSED = "Acting on alerts and editing rules needs the 'edit' permission (analysts and admins)."


def _require_edit(access: Access) -> None:
    if not access.can(Capability.EDIT):
        raise PermissionDenied(EDIT_REFUSED)


def _back(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else default


@require_GET
@tenant_page()
def alerts_view(request: HttpRequest, access: Access) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in AlertStatus.values:
        status = ""
    rule = request.GET.get("rule", "")
    known = rule.isascii() and rule.isdigit() and len(rule) < 19  # a bad filter shows every rule
    filters = selectors.AlertFilters(status=status, rule_id=int(rule) if known else None)
    page = list(selectors.alert_list(filters=filters, evidence=3)[:PAGE_SIZE])
    now = timezone.now()
    return render(
        request,
        "listening/alerts.html",
        {
            "tab": "alerts",
            "alerts": page,
            "status": status,
            "rule": filters.rule_id,
            "statuses": AlertStatus.choices,
            "quality": alerts.alert_quality(since=now - timedelta(days=QUALITY_DAYS), until=now),
            "quality_days": QUALITY_DAYS,
            "can_edit": access.can(Capability.EDIT),
            "has_rules": AlertRule.objects.exists(),
            "unread": selectors.notification_unread_count(user_id=access.user.pk),
        },
    )


@require_GET
@tenant_page()
def alert_view(request: HttpRequest, access: Access, alert_id: int) -> HttpResponse:
    alert = selectors.alert_get(alert_id=alert_id)
    alerts.notification_read(user_id=access.user.pk, alert_id=alert.pk)
    return render(
        request,
        "listening/alert.html",
        {"tab": "alerts", "alert": alert, "can_edit": access.can(Capability.EDIT)},
    )


ACTIONS = {"acknowledge", "dismiss", "escalate"}


@api_equivalent("alerts_acknowledge_create", "alerts_dismiss_create", "alerts_escalate_create")
@require_POST
@tenant_page(Capability.EDIT)
def alert_action_view(request: HttpRequest, access: Access, alert_id: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404("No such action")
    alert = selectors.alert_get(alert_id=alert_id)
    try:
        if action == "acknowledge":
            alerts.alert_acknowledge(alert=alert, user_id=access.user.pk)
        elif action == "dismiss":
            alerts.alert_dismiss(alert=alert, user_id=access.user.pk)
        else:
            form = EscalateForm(request.POST)
            note = form.cleaned_data["note"] if form.is_valid() else ""
            alerts.alert_escalate(alert=alert, user_id=access.user.pk, note=note)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        done = {"acknowledge": "acknowledged", "dismiss": "dismissed", "escalate": "escalated"}[action]
        messages.success(request, f"Alert '{alert.rule.name}' {done}.")
    return redirect(_back(request, "/listening/alerts/"))


@api_equivalent("alert_deliveries_retry_create")
@require_POST
@tenant_page(Capability.EDIT)
def delivery_retry_view(request: HttpRequest, access: Access, delivery_id: int) -> HttpResponse:
    delivery = selectors.alert_delivery_list().filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404("No such delivery")
    alert_delivery.alert_delivery_retry(delivery=delivery)
    messages.success(request, f"The {delivery.get_channel_display().lower()} delivery is being retried.")
    return redirect("listening-alert", alert_id=delivery.alert_id)


def _rule_form(request: HttpRequest, **kwargs: Any) -> AlertRuleForm:
    return AlertRuleForm(
        request.POST or None, queries=selectors.query_list(), sources=selectors.source_list(), **kwargs
    )


@api_equivalent("alert_rules_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def rules_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = _rule_form(request)
    if request.method == "POST":
        _require_edit(access)
        if form.is_valid():
            try:
                created = alerts.alert_rule_create(**form.changes(creating=True))
            except ValidationError as error:
                _form_errors(form, error)
            else:
                note = ""
                if created.rule.webhook_url:
                    note = f" Its webhook signing secret (shown once): {created.webhook_secret}"
                messages.success(request, f"Rule '{created.rule.name}' was created.{note}")
                return redirect("listening-alert-rules")
    return render(
        request,
        "listening/alert_rules.html",
        {
            "tab": "alert-rules",
            "rules": selectors.alert_rule_list(),
            "form": form,
            "can_edit": access.can(Capability.EDIT),
        },
    )


@api_equivalent("alert_rules_partial_update")
@require_http_methods(["GET", "POST"])
@tenant_page()
def rule_edit_view(request: HttpRequest, access: Access, rule_id: int) -> HttpResponse:
    rule = selectors.alert_rule_get(rule_id=rule_id)
    initial = {
        "name": rule.name,
        "kind": rule.kind,
        "expression": rule.expression,
        "query": rule.query_id,
        "source": rule.source_id,
        "sensitivity": rule.sensitivity,
        "cooldown_minutes": rule.cooldown_minutes,
        "notify_portal": rule.notify_portal,
        "email_to": ", ".join(rule.email_to),
        "is_active": rule.is_active,
    }
    form = _rule_form(request, initial=initial)
    if request.method == "POST":
        _require_edit(access)
        if form.is_valid():
            try:
                rule = alerts.alert_rule_update(rule=rule, **form.changes(creating=False))
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, f"Rule '{rule.name}' was saved.")
                return redirect("listening-alert-rules")
    return render(
        request,
        "listening/alert_rule_edit.html",
        {"tab": "alert-rules", "rule": rule, "form": form, "can_edit": access.can(Capability.EDIT)},
    )


@api_equivalent("alert_rules_destroy")
@require_POST
@tenant_page(Capability.EDIT)
def rule_delete_view(request: HttpRequest, access: Access, rule_id: int) -> HttpResponse:
    rule = selectors.alert_rule_get(rule_id=rule_id)
    alerts.alert_rule_delete(rule=rule)
    messages.success(request, f"Rule '{rule.name}' and its alerts were deleted.")
    return redirect("listening-alert-rules")


@require_GET
@tenant_page()
def bell_view(request: HttpRequest, access: Access) -> HttpResponse:
    """The header's bell (htmx refreshes it every minute)."""
    return render(
        request,
        "listening/_bell.html",
        {"unread": selectors.notification_unread_count(user_id=access.user.pk)},
    )


@api_equivalent("notifications_read_all_create")
@require_POST
@tenant_page()
def notifications_read_view(request: HttpRequest, access: Access) -> HttpResponse:
    alerts.notification_read(user_id=access.user.pk)
    return redirect("listening-alerts")


portal_urlpatterns: list[URLPattern] = [
    path("listening/alerts/", alerts_view, name="listening-alerts"),
    path("listening/alerts/bell/", bell_view, name="listening-alert-bell"),
    path("listening/alerts/read/", notifications_read_view, name="listening-alerts-read"),
    path("listening/alerts/rules/", rules_view, name="listening-alert-rules"),
    path("listening/alerts/rules/<int:rule_id>/", rule_edit_view, name="listening-alert-rule"),
    path(
        "listening/alerts/rules/<int:rule_id>/delete/", rule_delete_view, name="listening-alert-rule-delete"
    ),
    path("listening/alerts/<int:alert_id>/", alert_view, name="listening-alert"),
    path(
        "listening/alerts/<int:alert_id>/<str:action>/",
        alert_action_view,
        name="listening-alert-action",
    ),
    path(
        "listening/alerts/deliveries/<int:delivery_id>/retry/",
        delivery_retry_view,
        name="listening-alert-delivery-retry",
    ),
]
