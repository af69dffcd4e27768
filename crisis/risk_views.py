"""The risk page of the portal (/crisis/): the score with its band and probabilities, the factor
waterfall from the base to the score, the evidence mentions, the history chart (JS, from the risk
history API) with alert and incident markers, "evaluate now" and the auto-pause setting. Forms work
without JS; every action is also in the API, through the same services."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from crisis import risk_selectors, risk_services
from crisis.ml.risk import MIN_TENANT_INCIDENTS, RiskModel
from crisis.models import RiskSnapshot
from crisis.risk_serializers import evidence_rows, risk_band
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.http import client_info
from tenants.views import tenant_page

FACTOR_LABELS = {
    "volume_level": "Volume level",
    "volume_vs_baseline": "Volume vs its seasonal baseline",
    "sustained_surge": "Sustained surge",
    "acceleration": "Acceleration",
    "negative_share": "Negative share",
    "negativity_change": "Change in negative share",
    "reach_negativity": "Reach-weighted negativity",
    "crisis_language": "Crisis language",
    "topic_novelty": "New topics",
    "press_reach": "Press and high-reach authors",
    "history": "History learned (warm-up)",
}


class RiskSettingsForm(forms.Form):
    auto_pause_threshold = forms.FloatField(
        required=False,
        min_value=1,
        max_value=100,
        label="Pause scheduled posts when the score reaches",
        help_text="Leave empty to keep the automatic pause off. Crisis mode is switched on once per episode, "
        "never off by itself.",
    )


def waterfall(snapshot: RiskSnapshot) -> tuple[list[dict[str, Any]], float]:
    """The factor points as steps from the base to the score, largest effect first, with each bar's
    position in percent of the chart's scale (the highest level reached, rounded up to ten points,
    so a score of 10 is not a sliver on a 0-100 axis); drawn without JS. Returns (steps, scale)."""
    ordered = sorted(snapshot.factors.items(), key=lambda item: -abs(item[1]))
    levels = [snapshot.base]
    for _, points in ordered:
        levels.append(levels[-1] + points)
    scale = min(max(10.0, math.ceil(max(*levels, snapshot.score) / 10.0) * 10.0), 100.0)
    steps = []
    for (name, points), level in zip(ordered, levels, strict=False):
        if abs(points) < 0.05:
            continue
        low, high = sorted((level, level + points))
        steps.append(
            {
                "name": name,
                "label": FACTOR_LABELS.get(name, name.replace("_", " ")),
                "points": points,
                "left": max(low, 0.0) / scale * 100,
                "width": max((high - low) / scale * 100, 0.4),
                "up": points > 0,
            }
        )
    return steps, scale


@require_GET
@tenant_page()
def risk_view(request: HttpRequest, access: Access) -> HttpResponse:
    current = risk_selectors.risk_current()
    state = risk_selectors.risk_state_get()
    context: dict[str, Any] = {
        "tab": "risk",
        "state": state,
        "calibration_in_use": "tenant"
        if state.calibration and state.calibration_incidents >= MIN_TENANT_INCIDENTS
        else "global",
        "min_incidents": MIN_TENANT_INCIDENTS,
        "alert_threshold": RiskModel.load().policy.threshold,
        "can_edit": access.can(Capability.EDIT),
        "can_manage": access.can(Capability.MANAGE),
        "settings_form": RiskSettingsForm(initial={"auto_pause_threshold": state.auto_pause_threshold}),
        "recent": list(risk_selectors.risk_recent_snapshots(limit=12)),
    }
    if current is not None:
        snapshot = current.snapshot
        steps, scale = waterfall(snapshot)
        context.update(
            {
                "snapshot": snapshot,
                "band": risk_band(snapshot.score),
                "steps": steps,
                "scale": scale,
                "base_width": snapshot.base / scale * 100,
                "score_width": snapshot.score / scale * 100,
                "evidence": evidence_rows(snapshot, current.mentions),
                "delta_1h": None if current.score_1h_ago is None else snapshot.score - current.score_1h_ago,
                "delta_24h": None
                if current.score_24h_ago is None
                else snapshot.score - current.score_24h_ago,
            }
        )
    return render(request, "crisis/risk/risk.html", context)


@api_equivalent("risk_evaluate_create")
@require_POST
@tenant_page(Capability.EDIT)
def risk_evaluate_view(request: HttpRequest, access: Access) -> HttpResponse:
    snapshot = risk_services.risk_evaluate_now()
    messages.success(request, f"Evaluated now: risk {snapshot.score:.0f}/100.")
    return redirect("portal-crisis")


@api_equivalent("risk_settings_partial_update")
@require_POST
@tenant_page()
def risk_settings_view(request: HttpRequest, access: Access) -> HttpResponse:
    if not access.can(Capability.MANAGE):
        raise PermissionDenied("Changing the automatic pause needs the 'manage' permission (admins).")
    form = RiskSettingsForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("auto_pause_threshold", []):
            messages.error(request, str(error))
        return redirect("portal-crisis")
    try:
        state = risk_services.risk_settings_update(
            actor=access.user,
            tenant=access.tenant,
            client=client_info(request),
            auto_pause_threshold=form.cleaned_data["auto_pause_threshold"],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        threshold = state.auto_pause_threshold
        messages.success(
            request,
            "Automatic pause is off."
            if threshold is None
            else f"Scheduled posts will be paused when the risk score reaches {threshold:.0f}.",
        )
    return redirect("portal-crisis")
