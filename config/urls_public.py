"""The public host: sign-in, the tenant switcher, agency areas, and the agency API."""

from django.urls import include, path

from config.urls_common import urlpatterns as common
from crisis import aftermath_urls
from tenants import views
from tenants.urls import public_api_urls

urlpatterns = [
    *common,
    path("api/v1/", include([*public_api_urls, *aftermath_urls.public_api_urls])),
    *aftermath_urls.public_portal_urls,
    *views.public_urlpatterns,
]

handler404 = "tenants.views.not_found"
handler403 = "tenants.views.forbidden"
handler400 = "tenants.views.bad_request"
handler500 = "tenants.views.server_error"
