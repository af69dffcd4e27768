from django.urls import path
from rest_framework.routers import SimpleRouter

from listening import alert_apis, apis, apis_metrics

router = SimpleRouter(trailing_slash=False)
router.register("sources", apis.SourceApi, basename="source")
router.register("uploads", apis.UploadApi, basename="upload")
router.register("queries", apis.QueryApi, basename="query")
router.register("mentions", apis.MentionApi, basename="mention")
router.register("alert-rules", alert_apis.AlertRuleApi, basename="alert-rule")
router.register("alerts", alert_apis.AlertApi, basename="alert")
router.register("alert-deliveries", alert_apis.AlertDeliveryApi, basename="alert-delivery")
router.register("notifications", alert_apis.NotificationApi, basename="notification")
router.register("metrics", apis_metrics.MetricsApi, basename="metrics")
router.register("topics", apis.TopicApi, basename="topic")
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
