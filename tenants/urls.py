"""API routes of the tenants app: one list for tenant hosts, one for the public host."""

from rest_framework.routers import SimpleRouter

from tenants import apis

tenant_router = SimpleRouter(trailing_slash=False)
tenant_router.register("me", apis.TenantMeApi, basename="me")
tenant_router.register("members", apis.MemberApi, basename="member")
tenant_router.register("tokens", apis.TokenApi, basename="token")
tenant_router.register("audit-events", apis.AuditEventApi, basename="audit-event")
tenant_router.register("demo/outage", apis.DemoOutageApi, basename="demo-outage")

public_router = SimpleRouter(trailing_slash=False)
public_router.register("me", apis.PublicMeApi, basename="account-me")
public_router.register(r"agencies/(?P<agency_pk>\d+)/tenants", apis.AgencyTenantApi, basename="agency-tenant")
public_router.register(r"agencies/(?P<agency_pk>\d+)/tokens", apis.AgencyTokenApi, basename="agency-token")
public_router.register(
    r"agencies/(?P<agency_pk>\d+)/audit-events", apis.AgencyAuditEventApi, basename="agency-audit-event"
)

tenant_api_urls = tenant_router.urls
public_api_urls = public_router.urls
