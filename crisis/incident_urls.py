"""Routes of incidents and playbooks: the API (under /api/v1/) and the portal pages."""

from rest_framework.routers import SimpleRouter

from crisis import incident_apis
from crisis.incident_views import portal_urlpatterns

router = SimpleRouter(trailing_slash=False)
# Before "incidents": /incidents/tasks/<id> is a task, not an incident's action.
router.register("incidents/tasks", incident_apis.IncidentTaskApi, basename="incident-task")
router.register("incidents", incident_apis.IncidentApi, basename="incident")
router.register("playbooks", incident_apis.PlaybookApi, basename="playbook")

api_urls = router.urls

__all__ = ["api_urls", "portal_urlpatterns"]
