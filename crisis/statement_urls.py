"""Routes of statements: the API (included under /api/v1/) and the portal pages."""

from rest_framework.routers import SimpleRouter

from crisis import statement_apis, statement_views

router = SimpleRouter(trailing_slash=False)
router.register(
    r"incidents/(?P<incident_pk>[0-9]+)/statements",
    statement_apis.IncidentStatementApi,
    basename="incident-statement",
)
router.register("statements", statement_apis.StatementApi, basename="statement")

api_urls = router.urls
portal_urlpatterns = statement_views.portal_urlpatterns
