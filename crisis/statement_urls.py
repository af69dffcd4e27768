"""Routes of statements: the API (included under /api/v1/) and the portal pages."""

from rest_framework.routers import SimpleRouter

from crisis import statement_apis, statement_views

# "/?": both /api/v1/statements/1 (the project's style) and /api/v1/statements/1/ answer.
router = SimpleRouter(trailing_slash=False)
router.trailing_slash = "/?"  # SimpleRouter's argument is a bool; its routes read this pattern
router.register(
    r"incidents/(?P<incident_pk>[0-9]+)/statements",
    statement_apis.IncidentStatementApi,
    basename="incident-statement",
)
router.register("statements", statement_apis.StatementApi, basename="statement")

api_urls = router.urls
portal_urlpatterns = statement_views.portal_urlpatterns
