"""OpenAPI descriptions of Candor's authenticators (drf-spectacular extensions), and the schema
class every API view uses."""

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import is_list_serializer
from rest_framework import mixins


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


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with lists and pages documented as the views really answer.

    drf-spectacular guesses that every `list` action answers a page of objects and that every
    action declaring `many=True` is paginated. Here a `list` that is not ListModelMixin's (`me`,
    settings, state endpoints) answers what it declares, and a page is documented only where DRF
    paginates: ListModelMixin's `list`, or an action that calls `paginate_queryset`. The
    schemathesis run (tests/security) found the guesses wrong on eight endpoints."""

    def _action_paginates(self) -> bool:
        action = getattr(self.view, "action", None)
        if action == "list" and isinstance(self.view, mixins.ListModelMixin):
            return True
        method = getattr(type(self.view), action or "", None)
        code = getattr(method, "__code__", None)
        return code is not None and "paginate_queryset" in code.co_names

    def _is_list_view(self, serializer: Any = None) -> bool:
        if getattr(self.view, "action", None) == "list" and not isinstance(self.view, mixins.ListModelMixin):
            if serializer is None:
                serializer = self.get_response_serializers()
            return is_list_serializer(serializer)
        return super()._is_list_view(serializer)

    def _get_paginator(self) -> Any:
        return super()._get_paginator() if self._action_paginates() else None
