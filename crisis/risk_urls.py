"""Routes of the risk score: its API (under /api/v1/) and its portal page (/crisis/)."""

from django.urls import path

from crisis import risk_apis, risk_views

api_urls = [
    path("risk/current", risk_apis.RiskApi.as_view({"get": "current"}), name="risk-current"),
    path("risk/history", risk_apis.RiskApi.as_view({"get": "history"}), name="risk-history"),
    path("risk/evaluate", risk_apis.RiskApi.as_view({"post": "evaluate"}), name="risk-evaluate"),
    path(
        "risk/settings",
        risk_apis.RiskApi.as_view({"get": "settings_get", "patch": "settings_update"}),
        name="risk-settings",
    ),
]

portal_urlpatterns = [
    path("crisis/", risk_views.risk_view, name="portal-crisis"),
    path("crisis/risk/evaluate/", risk_views.risk_evaluate_view, name="crisis-risk-evaluate"),
    path("crisis/risk/settings/", risk_views.risk_settings_view, name="crisis-risk-settings"),
]
