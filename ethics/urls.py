from django.urls import path
from rest_framework.routers import SimpleRouter

from ethics import apis

router = SimpleRouter(trailing_slash=False)
router.register("purposes", apis.PurposeApi, basename="purpose")
router.register("contacts", apis.ContactConsentApi, basename="contact-consent")
router.register("consent/verify", apis.ConsentVerifyApi, basename="consent-verify")
router.register("consent/events", apis.ConsentBatchApi, basename="consent-events")
router.register("dsrs", apis.DsrApi, basename="dsr")
router.register("retention", apis.RetentionApi, basename="retention")
router.register("models", apis.ModelVersionApi, basename="model-version")

api_urls = [
    *router.urls,
    path(
        "fairness-settings",
        apis.FairnessSettingsApi.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="fairness-settings",
    ),
]
