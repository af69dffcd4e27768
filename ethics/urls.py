from django.urls import path
from rest_framework.routers import SimpleRouter

from ethics import apis

router = SimpleRouter(trailing_slash=False)
router.register("models", apis.ModelVersionApi, basename="model-version")

api_urls = [
    *router.urls,
    path(
        "fairness-settings",
        apis.FairnessSettingsApi.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="fairness-settings",
    ),
]
