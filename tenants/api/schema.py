"""OpenAPI descriptions of Candor's authenticators (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`cnd_...`) created in Settings > API tokens.",
        }


class PortalSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.PortalSessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The portal's session; unsafe methods also need the X-CSRFToken header.",
        }
