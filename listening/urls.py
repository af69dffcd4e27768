from django.urls import path
from rest_framework.routers import SimpleRouter

from listening import apis

router = SimpleRouter(trailing_slash=False)
router.register("sources", apis.SourceApi, basename="source")
router.register("uploads", apis.UploadApi, basename="upload")
router.register("queries", apis.QueryApi, basename="query")
router.register("mentions", apis.MentionApi, basename="mention")
router.register("inbox", apis.InboxApi, basename="inbox")

api_urls = [
    path(
        "inbox/settings",
        apis.InboxSettingsApi.as_view({"get": "list", "patch": "partial_update_settings"}),
        name="inbox-settings",
    ),
    *router.urls,
    path("hooks/sources/<int:source_id>", apis.WebhookView.as_view(), name="listening-webhook"),
]
